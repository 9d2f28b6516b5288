"""A listener asking for for-you again with nothing new is answered with the list already ranked for them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tastemaker.api import Workspace
from tastemaker.engine.precomputed import PARQUET, PRECOMPUTED_DIR
from tastemaker.engine.snapshot import Sources
from tastemaker.engine.state import ListeningState
from tastemaker.simulate import World, WorldConfig, write_world


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("kept")
    write_world(World(WorldConfig(seed=3, n_users=40, n_tracks=300, days=5, events_per_user=40)), root / "world",
                "parquet")
    ws = Workspace.create(root / "ws")
    ws.import_(root / "world", "table")
    ws.train("popularity")
    ws.train("als", factors=8)
    return ws


def _service(ws: Workspace, explore: float = 0.0):  # noqa: ANN202
    state = ListeningState.load(ws.store)
    sources = Sources(ws.models_dir, "als", "popularity", ws.path / PRECOMPUTED_DIR / PARQUET, explore=explore)
    return sources.build(ws.store, state).recommendations, state


def test_an_unchanged_listener_gets_the_kept_list_and_a_new_play_ranks_again(workspace: Workspace) -> None:
    service, state = _service(workspace)
    user = state.user_ids()[0]
    first = service.recommend(user, "for-you", 10)
    assert first.level == "model" and len(first.items) == 10
    assert service.recommend(user, "for-you", 10) is first  # nothing new: not ranked again
    assert service.recommend(user, "for-you", 5) is not first  # another length is another answer
    top = first.items[0]["item_id"]
    newest = workspace.store.events().filter(pl.col("user_id") == user).sort("ts").tail(1).collect()
    state.add(newest.with_columns(pl.lit(top).alias("item_id"), pl.col("ts") + timedelta(minutes=5),
                                  pl.lit("play").alias("type"), pl.lit(200_000).cast(newest["ms_played"].dtype)
                                  .alias("ms_played")))
    again = service.recommend(user, "for-you", 10)
    assert again is not first and top not in [i["item_id"] for i in again.items]
    assert service.recommend(user, "discover-weekly", 10) is not service.recommend(user, "discover-weekly", 10)


def test_explored_lists_are_never_kept(workspace: Workspace) -> None:
    service, state = _service(workspace, explore=0.5)
    user = state.user_ids()[0]
    assert service.recommend(user, "for-you", 10) is not service.recommend(user, "for-you", 10)
