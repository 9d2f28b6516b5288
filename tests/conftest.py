"""Shared fixtures: a fresh store per test, and the shared real data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tastemaker.store import open_store

SHARED_DATA = Path(os.environ.get("TASTEMAKER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty embedded store in a temporary folder."""
    return open_store(tmp_path / "store")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: skipped with a reason when absent, but never when CI=true."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the shared data is missing at {SHARED_DATA}")
        pytest.skip(f"shared data not found at {SHARED_DATA} (set TASTEMAKER_SHARED_DATA)")
    return SHARED_DATA
