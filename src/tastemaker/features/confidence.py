"""Listening-aware confidence: how much one event says about a listener liking a track.

A completed play, a late skip, an early skip, a save, a replay and a ban are different
signals. Each event gets a weight from :class:`Confidence`; a (user, item) pair's confidence is
the sum over its events, and pairs whose sum is not positive are dropped (negative evidence
cancels positive evidence but is never fed to a model as a "like").
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tastemaker.domain import SKIP_THRESHOLD_MS
from tastemaker.features.interactions import was_skipped


@dataclass(frozen=True, slots=True)
class Confidence:
    """Weights per kind of event. ``complete_share``: a play this far through counts as completed."""

    complete: float = 1.0
    partial: float = 0.5
    late_skip: float = 0.2
    early_skip: float = -0.3
    save: float = 2.0
    add_to_playlist: float = 1.5
    replay: float = 1.0
    unsave: float = -1.0
    ban: float = -3.0
    rate_per_star: float = 0.4
    complete_share: float = 0.8


def event_weight(c: Confidence) -> pl.Expr:
    """The weight of each event row (``type, ms_played, duration_ms, skipped, count, value``)."""
    ms = pl.col("ms_played")
    skipped = was_skipped()
    completion = ms / pl.col("duration_ms")
    play = (
        pl.when(skipped & (ms.fill_null(0) < SKIP_THRESHOLD_MS)).then(pl.lit(c.early_skip))
        .when(skipped).then(pl.lit(c.late_skip))
        .when(completion.is_null() | (completion >= c.complete_share)).then(pl.lit(c.complete))
        .otherwise(pl.lit(c.partial))
    )
    weight = (
        pl.when(pl.col("type").is_in(["play", "complete"])).then(play)
        .when(pl.col("type") == "save").then(pl.lit(c.save))
        .when(pl.col("type") == "add_to_playlist").then(pl.lit(c.add_to_playlist))
        .when(pl.col("type") == "replay").then(pl.lit(c.replay))
        .when(pl.col("type") == "unsave").then(pl.lit(c.unsave))
        .when(pl.col("type") == "ban").then(pl.lit(c.ban))
        .when(pl.col("type") == "rate").then(pl.col("value") * c.rate_per_star)
        .otherwise(pl.lit(0.0))
    )
    return weight * pl.col("count").fill_null(1).cast(pl.Float64)


def confident_interactions(events: pl.LazyFrame, c: Confidence | None = None,
                           until: object | None = None) -> pl.DataFrame:
    """``user_id, item_id, weight, last_ts`` with listening-aware weights; only positive pairs."""
    frame = events.filter(pl.col("item_kind") != "artist")
    if until is not None:
        frame = frame.filter(pl.col("ts") < until)
    return (
        frame.with_columns(event_weight(c or Confidence()).alias("w"))
        .group_by("user_id", "item_id")
        .agg(pl.col("w").sum().alias("weight"), pl.col("ts").max().alias("last_ts"))
        .filter(pl.col("weight") > 0)
        .collect()
    )
