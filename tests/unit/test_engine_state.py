"""ListeningState: each listener's heard set and history equal what a scan of their events gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tastemaker.engine.state import ListeningState
from tastemaker.features.interactions import interactions

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _events(rows: list[tuple[str, str, str, int, int]]) -> pl.DataFrame:
    """``(user, item, type, day, ms_played)`` rows as events-table columns."""
    return pl.DataFrame(
        {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "type": [r[2] for r in rows],
         "ts": [T0 + timedelta(days=r[3]) for r in rows], "ms_played": [r[4] for r in rows],
         "artist_id": [f"a{r[1]}" for r in rows], "skipped": [None] * len(rows), "count": [None] * len(rows),
         "country": ["SE"] * len(rows)},
        schema_overrides={"ts": pl.Datetime("us", "UTC"), "skipped": pl.Boolean, "count": pl.Int64,
                          "ms_played": pl.Int64})


def _expected(events: pl.DataFrame, user: str) -> tuple[list[str], pl.DataFrame]:
    mine = events.filter((pl.col("user_id") == user) & (pl.col("type") != "impression"))
    history = interactions(mine.lazy()).drop("user_id").sort("item_id")
    return sorted(mine["item_id"].unique().to_list()), history


def _check(state: ListeningState, events: pl.DataFrame, user: str) -> None:
    heard, history = _expected(events, user)
    held = state.get(user)
    assert sorted(held.heard["item_id"].to_list()) == heard
    got = held.history.drop("user_id").sort("item_id").select(history.columns)
    assert got.drop("recency").equals(history.drop("recency"))
    assert got["recency"].to_list() == pytest.approx(history["recency"].to_list())


FIRST = [("u1", "t1", "play", 0, 200_000), ("u1", "t1", "play", 3, 200_000), ("u1", "t2", "play", 1, 5_000),
         ("u1", "t3", "impression", 2, 0), ("u1", "t4", "save", 2, 0), ("u2", "t1", "play", 9, 200_000),
         ("u2", "t5", "play", 1, 200_000)]


def test_loaded_state_matches_a_scan_of_each_listener() -> None:
    events = _events(FIRST)
    state = ListeningState(events)
    for user in ("u1", "u2"):
        _check(state, events, user)
    assert "t3" not in state.get("u1").heard["item_id"].to_list()  # an impression is not listening
    assert "t2" not in state.get("u1").history["item_id"].to_list()  # a skip is heard, not a listen
    assert state.get("nobody").heard.is_empty() and state.get("nobody").history.is_empty()


@pytest.mark.parametrize("day", [-5, 2, 40])  # older than, between and newer than what was held
def test_added_rows_give_what_a_scan_of_all_rows_gives(day: int) -> None:
    state = ListeningState(_events(FIRST))
    more = [("u1", "t1", "play", day, 200_000), ("u1", "t9", "play", day, 200_000),
            ("u1", "t7", "impression", day, 0), ("u3", "t2", "play", day, 200_000)]
    state.add(_events(more))
    everything = _events(FIRST + more)
    for user in ("u1", "u2", "u3"):
        _check(state, everything, user)


def test_forgetting_drops_the_listener_and_a_racing_add_cannot_bring_them_back() -> None:
    events = _events(FIRST)
    state = ListeningState(events)
    mark = state.mark()
    state.forget("u1")
    state.add(_events([("u1", "t8", "play", 5, 200_000), ("u2", "t8", "play", 5, 200_000)]), since=mark)
    assert state.get("u1").heard.is_empty() and state.get("u1").history.is_empty()
    assert "t8" in state.get("u2").heard["item_id"].to_list()
    state.add(_events([("u1", "t8", "play", 6, 200_000)]), since=state.mark())  # after the forget: kept
    assert state.get("u1").heard["item_id"].to_list() == ["t8"]


def test_a_batch_with_nothing_to_listen_to_changes_nothing() -> None:
    state = ListeningState(_events([("u1", "t1", "play", 0, 200_000)]))
    state.add(_events([("u2", "t2", "impression", 1, 0)]))  # impressions are not listening
    assert state.get("u2").heard.is_empty() and state.get("u1").heard["item_id"].to_list() == ["t1"]


def test_impressions_are_counted_as_shown_days_apart_from_listening() -> None:
    state = ListeningState(_events(FIRST))
    assert state.get("u1").shown.select("item_id", "day").rows() == [("t3", (T0 + timedelta(days=2)).date())]
    served = _events([("u1", "t3", "impression", 2, 0), ("u1", "t3", "impression", 5, 0),
                      ("u1", "t6", "impression", 5, 0), ("u3", "t1", "impression", 5, 0)])
    state.add_shown(served)
    state.add_shown(served)  # a flush seen twice counts once: days, not rows
    days = state.get("u1").shown.group_by("item_id").len().sort("item_id").rows()
    assert days == [("t3", 2), ("t6", 1)]
    assert not state.changed("u1") and "u3" not in state.user_ids()  # being shown is not listening
    assert "t6" not in state.get("u1").heard["item_id"].to_list()
    state.forget("u1")
    assert state.get("u1").shown.is_empty()
    state.add_shown(served)  # a list served just before the forget, flushed after it
    assert state.get("u1").shown.is_empty() and state.get("u3").shown.height == 1


def test_consolidating_changes_nothing_a_reader_sees_and_keeps_who_changed() -> None:
    state = ListeningState(_events(FIRST))
    more = _events([("u1", "t9", "play", 4, 200_000), ("u3", "t1", "play", 5, 200_000),
                    ("u3", "t2", "impression", 5, 0)])
    state.add(more)
    state.add_shown(more)
    before = {u: state.get(u) for u in ("u1", "u2", "u3")}
    assert sum(state.pending()) > 0 and state.consolidate() > 0 and state.pending() == (0, 0)
    for user, held in before.items():
        after = state.get(user)
        assert after.heard.sort("item_id").equals(held.heard.sort("item_id"))
        assert after.history.sort("item_id").equals(held.history.sort("item_id"))
        assert after.shown.sort("item_id").equals(held.shown.sort("item_id"))
    assert state.changed("u1") and state.changed("u3") and not state.changed("u2")  # fold-in still knows
    state.forget("u3")
    assert state.get("u3").heard.is_empty() and "u3" not in state.user_ids()


def test_a_listeners_version_changes_with_their_listening_and_only_then() -> None:
    state = ListeningState(_events(FIRST))
    seen = {u: state.version(u) for u in ("u1", "u2", "u3")}
    state.add(_events([("u1", "t9", "play", 4, 200_000)]))
    assert state.version("u1") != seen["u1"] and state.version("u2") == seen["u2"]
    after_play = state.version("u1")
    state.add_shown(_events([("u2", "t1", "impression", 5, 0)]))  # shown days count for Discover Weekly
    assert state.version("u2") != seen["u2"] and state.version("u1") == after_play
    state.add(_events([("u3", "t2", "impression", 5, 0)]))  # not listening: nothing changed
    assert state.version("u3") == seen["u3"]
    versions = {u: state.version(u) for u in ("u1", "u2", "u3")}
    state.consolidate()  # the same rows, held elsewhere
    assert {u: state.version(u) for u in versions} == versions
    state.forget("u1")
    assert state.version("u1") not in (versions["u1"], seen["u1"])
