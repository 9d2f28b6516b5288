"""A hot swap frees the model set it replaces: nothing of it is frozen out of the collector's reach."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from tastemaker.api import Workspace
from tastemaker.engine.precomputed import PARQUET, PRECOMPUTED_DIR
from tastemaker.engine.snapshot import Sources
from tastemaker.engine.state import ListeningState
from tastemaker.serving.impressions import ImpressionLog
from tastemaker.serving.metrics import Metrics
from tastemaker.serving.reload import Reloader
from tastemaker.serving.runtime import Runtime
from tastemaker.simulate import World, WorldConfig, write_world


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    world = tmp_path / "world"
    write_world(World(WorldConfig(seed=3, n_users=40, n_tracks=300, days=5, events_per_user=40)), world, "parquet")
    ws = Workspace.create(tmp_path / "ws")
    ws.import_(world, "table")
    ws.train("popularity")
    ws.train("als", factors=8)
    return ws


def test_every_swap_lets_the_replaced_models_go(workspace: Workspace) -> None:
    sources = Sources(workspace.models_dir, "als", "popularity", workspace.path / PRECOMPUTED_DIR / PARQUET,
                      ranker=None)
    store = workspace.store
    metrics = Metrics()
    runtime = Runtime(store, metrics, ImpressionLog(store, metrics), sources.build(store, ListeningState.load(store)))
    reloader = Reloader(runtime, store, sources)
    gone = []
    try:
        for _ in range(3):
            old = weakref.ref(runtime.snapshot.models.personal.model)
            workspace.train("als", factors=8)
            assert reloader.check().changed
            gone.append(old() is None)
    finally:
        gc.unfreeze()
    assert all(gone)  # each replaced model was collected, not frozen in the permanent generation
