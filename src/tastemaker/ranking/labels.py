"""Graded relevance labels from listening: what a ranker learns to put first.

Each (user, track) a listener was exposed to in a period gets one label, the best outcome of its
streams and actions in that period (defaults in :class:`LabelGrades`):

- 0: only early skips (under ``skip_ms``, or flagged skipped), or a ban;
- 1: played past the skip threshold but not to ``complete_share`` of the track;
- 2: played to at least ``complete_share`` of its length (a completion);
- 3: replayed, or saved or added to a playlist (an explicit positive);

so an early skip is a negative, not a missing value. A ban always wins: a banned track is 0
whatever else happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from tastemaker.domain import SKIP_THRESHOLD_MS
from tastemaker.features.interactions import was_skipped


@dataclass(frozen=True, slots=True)
class LabelGrades:
    """The grades and thresholds of :func:`listening_labels`; change them per product."""

    skip_ms: int = SKIP_THRESHOLD_MS
    complete_share: float = 0.8
    skip: int = 0
    listen: int = 1
    complete: int = 2
    explicit: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.complete_share <= 1.0:
            raise ValueError(f"complete_share must be within (0, 1], got {self.complete_share}")
        if not self.skip <= self.listen <= self.complete <= self.explicit:
            raise ValueError("grades must not decrease from skip to listen to complete to explicit")


def listening_labels(events: pl.DataFrame, start: datetime | None = None, end: datetime | None = None,
                     grades: LabelGrades | None = None) -> pl.DataFrame:
    """One row per (user, track) with events in ``[start, end)``: ``user_id, item_id, label, ts``.

    ``ts`` is the first event of the pair in the period: the moment features must be computed
    before (see :mod:`tastemaker.features.pointintime`).
    """
    g = grades or LabelGrades()
    frame = events
    if start is not None:
        frame = frame.filter(pl.col("ts") >= start)
    if end is not None:
        frame = frame.filter(pl.col("ts") < end)
    skipped = was_skipped(g.skip_ms)
    completed = pl.col("ms_played") >= g.complete_share * pl.col("duration_ms")
    grade = (
        pl.when(pl.col("type").is_in(["save", "add_to_playlist", "replay"])).then(g.explicit)
        .when(pl.col("type") != "play").then(None)
        .when(skipped).then(g.skip)
        .when(completed.fill_null(False)).then(g.complete)
        .otherwise(g.listen)
    )
    return (
        frame.filter(pl.col("item_kind").fill_null("track") == "track")
        .group_by("user_id", "item_id")
        .agg(grade.max().alias("label"), (pl.col("type") == "ban").any().alias("_banned"), pl.col("ts").min())
        .filter(pl.col("label").is_not_null() | pl.col("_banned"))
        .select("user_id", "item_id",
                pl.when(pl.col("_banned")).then(g.skip).otherwise(pl.col("label")).cast(pl.Int32).alias("label"),
                "ts")
        .sort("user_id", "item_id")
    )
