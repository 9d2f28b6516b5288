"""Per-listener experiment metrics on small hand-built event tables (expected values worked out by hand)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tastemaker.experiments.metrics import METRICS, Period, user_metrics
from tastemaker.simulate.world import World, WorldConfig

T0 = datetime(2024, 1, 8, tzinfo=UTC)  # the period is the week of Jan 8
PERIOD = Period(date(2024, 1, 8), date(2024, 1, 15))


def _ev(user: str, minutes_after: float, kind: str, artist: str | None, ms: int | None,
        skipped: bool | None = None, session: str | None = None, item: str = "t") -> dict[str, object]:
    return {"user_id": user, "ts": T0 + timedelta(minutes=minutes_after), "type": kind, "item_id": item,
            "artist_id": artist, "ms_played": ms, "skipped": skipped, "session_id": session}


def _events() -> pl.DataFrame:
    day = 24 * 60
    rows = [
        # u1 history: knows artist a1
        _ev("u1", -3 * day, "play", "a1", 200_000, False, "h1"),
        # u1 in the period: two sessions (s1, s2)
        _ev("u1", 10, "play", "a1", 180_000, False, "s1"),
        _ev("u1", 14, "play", "a2", 10_000, True, "s1"),     # skip, a2 heard only 10 s: not discovered
        _ev("u1", 15, "save", "a1", None, None, "s1"),
        _ev("u1", 16, "play", "a3", 60_000, False, "s1"),    # a3 new and >= 30 s: discovered
        _ev("u1", 2 * day, "play", "a3", 120_000, False, "s2"),
        _ev("u1", 2 * day + 3, "skip", "a4", 45_000, None, "s2"),  # a skip row, but 45 s: a4 discovered
        # u1 next week: retained
        _ev("u1", 8 * day, "play", "a1", 30_000, False, "n1"),
        # u2: no session ids -> sessions by 30-min gaps; skipped flag unknown -> < 30 s is a skip
        _ev("u2", 0, "play", "b1", 20_000),
        _ev("u2", 20, "play", "b1", 40_000),
        _ev("u2", 100, "play", "b2", 60_000),
        _ev("u2", 120, "play", "b1", 240_000),
        # u2 next week: nothing, but an impression (not a listen) -> not retained
        _ev("u2", 8 * day, "impression", None, None),
        # u3 only before and after the period: inactive
        _ev("u3", -day, "play", "c1", 100_000, False, "x"),
        _ev("u3", 7 * day + 5, "play", "c1", 100_000, False, "y"),
    ]
    return pl.DataFrame(rows, schema={"user_id": pl.String, "ts": pl.Datetime("ms", "UTC"), "type": pl.String,
                                      "item_id": pl.String, "artist_id": pl.String, "ms_played": pl.Int64,
                                      "skipped": pl.Boolean, "session_id": pl.String})


def _row(frame: pl.DataFrame, user: str) -> dict[str, object]:
    return frame.filter(pl.col("user_id") == user).row(0, named=True)


def test_hand_computed_metrics() -> None:
    out = user_metrics(_events(), PERIOD, ["u1", "u2", "u3", "u4"])
    assert out["user_id"].to_list() == ["u1", "u2", "u3", "u4"]
    u1 = _row(out, "u1")
    # minutes: (180 + 10 + 60 + 120 + 45) s = 415 s
    assert u1["minutes"] == pytest.approx(415 / 60)
    assert (u1["sessions"], u1["listens"], u1["skips"], u1["saves"]) == (2, 5, 2, 1)
    assert u1["skip_rate"] == pytest.approx(2 / 5) and u1["save_rate"] == pytest.approx(1 / 5)
    assert u1["discovered_artists"] == 2  # a3 and a4; a1 known, a2 under 30 s
    assert (u1["active"], u1["retained"], u1["distinct_artists"]) == (1, 1, 4)
    # listens by artist: a1 1, a2 1, a3 2, a4 1 -> shares .2 .2 .4 .2
    assert u1["artist_entropy"] == pytest.approx(-(3 * 0.2 * math.log2(0.2) + 0.4 * math.log2(0.4)))

    u2 = _row(out, "u2")
    assert u2["minutes"] == pytest.approx(360 / 60)
    assert u2["sessions"] == 2  # 0, 20 | 100, 120 (gap of 80 min)
    assert (u2["listens"], u2["skips"], u2["saves"]) == (4, 1, 0)
    assert u2["discovered_artists"] == 2  # b1 (40 s and 240 s plays), b2
    assert (u2["active"], u2["retained"], u2["distinct_artists"]) == (1, 0, 2)
    assert u2["artist_entropy"] == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))


def test_assigned_but_inactive_listeners_count_with_zeros() -> None:
    out = user_metrics(_events(), PERIOD, ["u3", "u4"])
    for user in ("u3", "u4"):
        row = _row(out, user)
        assert row["minutes"] == 0.0 and row["artist_entropy"] == 0.0
        for c in ("sessions", "listens", "skips", "saves", "discovered_artists", "active", "retained",
                  "distinct_artists"):
            assert row[c] == 0, c
        assert row["skip_rate"] is None and row["save_rate"] is None


def test_retention_window_length() -> None:
    # u1's next listen is at Jan 16 00:00, exactly one day after the period ends (Jan 15)
    short = user_metrics(_events(), PERIOD, ["u1"], retention_days=1)
    assert _row(short, "u1")["retained"] == 0  # [Jan 15, Jan 16) excludes it
    assert _row(user_metrics(_events(), PERIOD, ["u1"], retention_days=2), "u1")["retained"] == 1


def test_arrow_input_and_missing_optional_columns() -> None:
    frame = _events().drop("session_id", "skipped")
    out = user_metrics(frame.to_arrow(), PERIOD, ["u1"])
    # without skipped flags: only plays under 30 s are skips (the 10 s play); the skip row stays a skip
    assert _row(out, "u1")["skips"] == 2
    # without session ids: u1's listens at 10, 14, 16 min and two days later at 0, 3 min: two gap-sessions
    assert _row(out, "u1")["sessions"] == 2


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="artist_id"):
        user_metrics(_events().drop("artist_id"), PERIOD, ["u1"])
    with pytest.raises(ValueError, match="repeat"):
        user_metrics(_events(), PERIOD, ["u1", "u1"])
    with pytest.raises(ValueError, match="before its end"):
        Period(date(2024, 1, 8), date(2024, 1, 8))


def test_metric_registry_names_output_columns() -> None:
    out = user_metrics(_events(), PERIOD, ["u1"])
    for m in METRICS:
        assert m.numerator in out.columns and (m.denominator is None or m.denominator in out.columns)


def test_reads_the_simulators_event_table() -> None:
    world = World(WorldConfig(n_users=60, n_tracks=300, days=3))
    events = pa.concat_tables(world.generate_events())
    users = sorted(set(events["user_id"].to_pylist()))
    out = user_metrics(events, Period(date(2024, 1, 1), date(2024, 1, 3)), users, retention_days=1)
    plays = events.filter(pc.and_(pc.equal(events["type"], "play"),
                                  pc.less(events["ts"], pa.scalar(datetime(2024, 1, 3, tzinfo=UTC),
                                                                  events["ts"].type))))
    assert out["minutes"].sum() == pytest.approx(pc.sum(plays["ms_played"]).as_py() / 60_000)
    assert out["listens"].sum() == plays.num_rows
    assert out["skips"].sum() == pc.sum(plays["skipped"].cast(pa.int64())).as_py()
    assert out["sessions"].sum() == len(set(plays["session_id"].to_pylist()))
