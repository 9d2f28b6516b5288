"""User–item interactions from the event log: the input every candidate model trains on.

A stream counts as a *listen* when it was not skipped: the export's own ``skipped`` flag where
there is one, otherwise ``ms_played >= 30 s`` (``SKIP_THRESHOLD_MS``). Aggregate sources
(play counts) contribute their ``count``; ratings and playlist additions count once each.

``recency`` is the listens decayed by age, ``Σ weight · 0.5^(age / half-life)`` measured from
the cut (``until``, or the newest listen): what a listener played last month outweighs what they
played a year ago. The default half-life, 60 days, is the one chosen on the valid part of the
``spotify-basic-familiar`` benchmark split (see ``docs/evaluation.md``).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from tastemaker.domain import SKIP_THRESHOLD_MS

#: days after which a listen counts half in ``recency``
HALF_LIFE_DAYS = 60.0
POSITIVE_TYPES = ("play", "complete", "save", "replay", "add_to_playlist", "rate")
#: columns carried along when the events have them (the store's always do; hand-built frames may not)
CARRIED = ("country",)


def was_skipped(threshold_ms: int = SKIP_THRESHOLD_MS) -> pl.Expr:
    """A stream was skipped: the export's own ``skipped`` flag where there is one, else under ``threshold_ms``."""
    return pl.coalesce(pl.col("skipped"), pl.col("ms_played") < threshold_ms, pl.lit(False))


def listens(events: pl.LazyFrame, until: datetime | None = None) -> pl.LazyFrame:
    """Positive events (one row each) with ``user_id, item_id, artist_id, ts, weight[, country]``.

    ``until`` keeps only events strictly before that instant (point-in-time cut).
    """
    skipped = was_skipped()
    frame = events.filter(pl.col("type").is_in(POSITIVE_TYPES) & ~(skipped & (pl.col("type") == "play")))
    if until is not None:
        frame = frame.filter(pl.col("ts") < until)
    carried = [c for c in CARRIED if c in frame.collect_schema().names()]
    return frame.select("user_id", "item_id", "artist_id", "ts", pl.col("count").fill_null(1).cast(pl.Float64).alias("weight"),
                        *carried)


def interactions(events: pl.LazyFrame, until: datetime | None = None,
                 half_life_days: float = HALF_LIFE_DAYS, per_user: bool = False) -> pl.DataFrame:
    """One row per (user, item): ``weight`` (summed listens), ``recency`` (decayed listens),
    ``first_ts``, ``last_ts``, ``artist_id`` and, when the events have it, ``country`` (where the
    user played the item: the listener's country in a generated world).

    ``per_user``: without ``until``, decay each listener's listens from their own newest one
    (what a server holding many listeners' histories computes for each alone).
    """
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    frame = listens(events, until)
    newest = pl.col("ts").max().over("user_id") if per_user else pl.col("ts").max()
    ref = pl.lit(until) if until is not None else newest
    age_days = (ref - pl.col("ts")).dt.total_seconds() / 86400.0
    return (
        frame.with_columns((pl.col("weight") * 0.5 ** (age_days / half_life_days)).alias("recency"))
        .group_by("user_id", "item_id")
        .agg(
            pl.col("weight").sum(),
            pl.col("recency").sum(),
            pl.col("ts").min().alias("first_ts"),
            pl.col("ts").max().alias("last_ts"),
            pl.col("artist_id").drop_nulls().first(),
            *(pl.col(c).drop_nulls().first() for c in CARRIED if c in frame.collect_schema().names()),
        )
        .collect()
    )


def heard(events: pl.LazyFrame) -> pl.LazyFrame:
    """``user_id, item_id`` of every item a listener did something with: impressions are not listening
    (a track only shown is not heard), every other event is."""
    return events.filter(pl.col("type") != "impression").select("user_id", "item_id").unique()
