"""tastemaker: a self-hostable personalization engine for music and audio streaming."""

import os

# implicit's ALS runs its own threads and warns when OpenBLAS adds more; a request's small matrix products
# are fastest on one thread too (a threaded BLAS made one for-you answer 10x slower in bench/serving.py).
# Set before numpy loads OpenBLAS; an explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
