"""Graded labels from listening outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tastemaker.ranking.labels import LabelGrades, listening_labels

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _events(rows: list[tuple[str, str, str, int | None, bool | None]]) -> pl.DataFrame:
    """``(item, type, minute, ms_played, skipped)`` of one user; tracks last 200 s."""
    return pl.DataFrame({
        "user_id": ["u"] * len(rows), "item_id": [r[0] for r in rows], "type": [r[1] for r in rows],
        "ts": [T0 + timedelta(minutes=int(r[2])) for r in rows], "ms_played": [r[3] for r in rows],
        "skipped": [r[4] for r in rows], "duration_ms": [200_000] * len(rows), "item_kind": ["track"] * len(rows),
    }, schema_overrides={"ms_played": pl.Int64, "skipped": pl.Boolean})


def test_each_outcome_gets_its_grade_and_the_best_outcome_wins() -> None:
    events = _events([
        ("skip", "play", "0", 5_000, None),            # early skip
        ("flagged", "play", "1", 120_000, True),       # the export's own skip flag wins over ms
        ("half", "play", "2", 90_000, None),           # listened, not completed
        ("full", "play", "3", 190_000, None),          # completed
        ("saved", "play", "4", 10_000, None), ("saved", "save", "5", None, None),
        ("banned", "play", "6", 199_000, None), ("banned", "ban", "7", None, None),
        ("twice", "play", "8", 5_000, None), ("twice", "play", "9", 180_000, None),
    ])
    got = dict(listening_labels(events).select("item_id", "label").iter_rows())
    assert got == {"skip": 0, "flagged": 0, "half": 1, "full": 2, "saved": 3, "banned": 0, "twice": 2}


def test_the_period_and_grades_are_configurable() -> None:
    events = _events([("a", "play", "0", 170_000, None), ("b", "play", "10", 170_000, None)])
    strict = listening_labels(events, grades=LabelGrades(complete_share=0.9))
    assert strict["label"].to_list() == [1, 1]
    later = listening_labels(events, start=T0 + timedelta(minutes=5))
    assert later["item_id"].to_list() == ["b"] and later["label"].to_list() == [2]
    assert later["ts"].to_list() == [T0 + timedelta(minutes=10)]
    with pytest.raises(ValueError, match="complete_share"):
        LabelGrades(complete_share=0)
