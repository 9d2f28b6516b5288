"""The Python API's edges: ``import tastemaker`` stays light, and a caller's mistake says what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tastemaker


def test_import_tastemaker_loads_no_numeric_library_until_the_api_is_used() -> None:
    code = ("import os, sys, tastemaker\n"
            "assert not {'numpy', 'polars', 'tastemaker.api'} & set(sys.modules), sorted(sys.modules)\n"
            "assert os.environ['OPENBLAS_NUM_THREADS']\n"
            "assert tastemaker.Workspace.__module__ == 'tastemaker.api' and callable(tastemaker.evaluate_split)\n"
            "assert 'polars' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    with pytest.raises(AttributeError, match="no attribute 'Workspaces'"):
        tastemaker.Workspaces  # noqa: B018


def test_caller_mistakes_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Workspace.create"):
        tastemaker.Workspace.open(tmp_path / "nowhere")
    ws = tastemaker.Workspace.create(tmp_path / "fresh")
    assert (tmp_path / "fresh" / "models").is_dir() and ws.stats()["events"] == 0
    assert tastemaker.Workspace.open(tmp_path / "fresh").path == ws.path
    assert ws.models().is_empty() and "version" in ws.models().columns
    with pytest.raises(ValueError, match="no listens yet"):
        ws.train("popularity")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        ws.train("nope")
    with pytest.raises(ValueError, match="factors"):
        ws.train("als", factor=8)
    with pytest.raises(ValueError, match="ranker takes no parameters"):
        ws.train("ranker", k=3)
    with pytest.raises(ValueError, match="tastemaker train als"):
        ws.recommend("me", model="als")
    with pytest.raises(ValueError, match="unknown format"):
        ws.import_(tmp_path, "no-such-format")
