"""Fixtures of the serving tests: a trained workspace built once per session, and real server processes."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest
from serving_support import Start, serve, tm


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated world, imported, with popularity, ALS and the ranker trained and every listener's Discover Weekly
    written to ``batch/`` (outside the place the server looks for it): never served itself, tests copy it.

    Built once per test run: under pytest-xdist the workers share it (the first builds it under a lock).
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the parent is this run's, shared
    ws, built = root / "serve-trained" / "ws", root / "serve-trained" / "built"
    with open(root / "serve-trained.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(ws, ignore_errors=True)  # what a worker that failed half-way left
            for args in (("generate", "--users", "150", "--tracks", "2000", "--days", "20", "--json"),
                         ("import", "table", str(ws / "world"), "--json"), ("train", "popularity"),
                         ("train", "als"), ("train", "ranker"),
                         ("playlist", "discover-weekly", "--all", "--model", "als", "--out", str(ws / "batch"))):
                done = tm(ws, *args)
                assert done.returncode == 0, (args, done.stderr)
            built.touch()
    return ws


@pytest.fixture
def start(request: pytest.FixtureRequest) -> Start:
    """Start `tastemaker serve` on a workspace (extra CLI options allowed) and wait until /readyz
    answers; stopped by a finalizer."""
    return lambda ws, *options: serve(ws, request, *options)
