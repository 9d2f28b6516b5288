"""StoreFollower: two servers' listening states over one store stay equal to a scan of it, whoever writes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tastemaker.engine.follow import AppliedIds, StoreFollower
from tastemaker.engine.ingest import ingest_events
from tastemaker.features.interactions import interactions
from tastemaker.store import open_store


def _play(user: str, item: str, minute: int) -> dict[str, object]:
    return {"user_id": user, "item_id": item, "type": "play", "ms_played": 200_000,
            "ts": f"2024-05-01T10:{minute:02d}:00Z", "artist_id": f"a-{item}"}


def _agrees(follower: StoreFollower, store: object, users: list[str]) -> None:
    """Each listener's held weights equal what a fresh scan of the store computes."""
    follower.catch_up()
    events = store.events().filter(pl.col("type") != "impression").collect()
    for user in users:
        held = follower.state.get(user).history.sort("item_id")
        fresh = interactions(events.filter(pl.col("user_id") == user).lazy()).sort("item_id")
        assert held["item_id"].to_list() == fresh["item_id"].to_list(), user
        assert held["weight"].to_list() == pytest.approx(fresh["weight"].to_list()), user


def test_another_writers_events_reach_the_state_once_and_forgets_are_applied(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    ingest_events(store, [_play("u1", "t1", 0), _play("u2", "t1", 1), _play("u2", "t2", 2)], "r0")
    state_a, a = StoreFollower.load(open_store(tmp_path / "store"))
    state_b, b = StoreFollower.load(open_store(tmp_path / "store"))
    assert b.catch_up() == 0  # nothing new: one stat of the manifest

    writer = open_store(tmp_path / "store")  # another process (import, another worker)
    ingest_events(writer, [_play("u1", "t3", 3), _play("u3", "t1", 4)], "r1")
    ingest_events(writer, [_play("u1", "t3", 3), _play("u1", "t4", 5)], "r2")  # a re-send and one new
    assert b.catch_up() == 3
    assert sorted(state_b.get("u1").heard["item_id"].to_list()) == ["t1", "t3", "t4"]
    _agrees(b, writer, ["u1", "u2", "u3"])

    writer.append({"events": pl.DataFrame({"row_id": [99], "user_id": ["u2"], "item_id": ["t9"],
                                           "type": ["impression"]})})
    assert b.catch_up() == 0  # impressions are not listening
    assert "t9" not in state_b.get("u2").heard["item_id"].to_list()

    writer.forget_user("u2")  # rewrites segments holding u2's rows: the others' rows come back under new names
    b.catch_up()
    assert state_b.get("u2").history.is_empty() and "u2" not in state_b.user_ids()
    _agrees(b, writer, ["u1", "u3"])  # nobody else's listening counted twice

    a.catch_up()  # a follower that slept through all of it ends in the same place
    for user in ("u1", "u2", "u3"):
        assert state_a.get(user).history.sort("item_id").equals(state_b.get(user).history.sort("item_id"))


def test_applied_ids_merge_without_losing_any() -> None:
    ids = AppliedIds(pl.Series([5, 1, 3]).to_numpy())
    ids.add(pl.Series([2, 3]).to_numpy())
    assert ids.missing(pl.Series([1, 2, 3, 4, 5, 6]).to_numpy()).tolist() == [False, False, False, True, False,
                                                                               True]
    assert len(ids) == 4  # {1, 3, 5} and {2, 3}


def test_applied_ids_stay_a_set_across_many_merges(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import tastemaker.engine.follow as follow

    monkeypatch.setattr(follow, "MERGE_AT", 50)  # merge into the base every few batches
    rng = np.random.default_rng(4)
    start = rng.integers(-1_000, 1_000, 300)
    ids, truth = AppliedIds(start), set(start.tolist())
    for _ in range(40):
        batch = rng.integers(-1_500, 1_500, int(rng.integers(1, 40)))
        ids.add(batch)
        truth.update(batch.tolist())
    probe = np.arange(-1_600, 1_600)
    assert ids.missing(probe).tolist() == [p not in truth for p in probe.tolist()]
    assert len(ids) == len(truth)
    base = ids._base
    assert (np.diff(base) > 0).all()  # still sorted, no repeats
