"""tastemaker: a self-hostable personalization engine for music and audio streaming."""

import os
from typing import TYPE_CHECKING

# implicit's ALS runs its own threads and warns when OpenBLAS adds more; a request's small matrix products
# are fastest on one thread too (a threaded BLAS made one for-you answer 10x slower in bench/serving.py).
# Set before numpy loads OpenBLAS; an explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

__all__ = ["Workspace", "evaluate_split"]

if TYPE_CHECKING:
    from tastemaker.api import Workspace, evaluate_split


def __getattr__(name: str) -> object:
    """``tastemaker.Workspace`` and ``tastemaker.evaluate_split``, imported on first use so that ``import
    tastemaker`` (and every command) stays fast and the setting above comes before numpy."""
    if name in __all__:
        from tastemaker import api

        return getattr(api, name)
    raise AttributeError(f"module 'tastemaker' has no attribute {name!r}")
