"""Listening-aware confidence: each kind of event weighs what it says, negative pairs are dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from tastemaker.features.confidence import Confidence, confident_interactions


def test_completion_skips_saves_and_bans_weigh_as_configured() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        ("u", "done", "play", 190_000, 200_000, False),   # completed: 1.0
        ("u", "done", "save", None, None, None),          # + save 2.0
        ("u", "half", "play", 100_000, 200_000, False),   # partial: 0.5
        ("u", "late", "play", 60_000, 200_000, True),     # late skip: 0.2
        ("u", "early", "play", 5_000, 200_000, True),     # early skip: -0.3 -> dropped
        ("u", "banned", "play", 190_000, 200_000, False), # 1.0
        ("u", "banned", "ban", None, None, None),         # -3.0 -> dropped
    ]
    events = pl.DataFrame(rows, schema=["user_id", "item_id", "type", "ms_played", "duration_ms", "skipped"], orient="row")
    events = events.with_columns(pl.lit(t).alias("ts"), pl.lit(1).alias("count"), pl.lit(None, dtype=pl.Float64).alias("value"),
                                 pl.lit("track").alias("item_kind"))
    got = dict(confident_interactions(events.lazy()).select("item_id", "weight").iter_rows())
    assert got == {"done": 3.0, "half": 0.5, "late": 0.2}
    doubled = confident_interactions(events.lazy(), Confidence(save=4.0))
    assert dict(doubled.select("item_id", "weight").iter_rows())["done"] == 5.0
