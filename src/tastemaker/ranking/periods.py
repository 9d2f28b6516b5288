"""Later periods cut from the listening itself: what the pipeline chooses on, and learns extra lists from.

:func:`hold_out` takes the last share of each listener's span (the period ``tastemaker train
pipeline`` chooses on); :func:`earlier_period` cuts each listener's span at a fraction (the ranker's
extra lists). Both keep the bundle's id map and side data, and count the plays before the cut.
"""

from __future__ import annotations

import polars as pl

from tastemaker.candidates.data import TrainingData


def _span_cut(fraction: float) -> pl.Expr:
    ts = pl.col("ts")
    return (ts.min() + (ts.max() - ts.min()) * fraction).over("user_id")


def earlier_period(data: TrainingData, fraction: float, familiar: bool) -> tuple[TrainingData, pl.DataFrame] | None:
    """``data`` as it stood at ``fraction`` of each listener's span, and what they played after (or ``None``
    without timed plays): the earlier bundle's interactions count the plays before the cut."""
    if data.plays is None:
        return None
    return _cut(data, fraction, familiar)


def hold_out(data: TrainingData, share: float, familiar: bool) -> tuple[TrainingData, pl.DataFrame]:
    """``data`` without the last ``share`` of each listener's span, and what they played in it among the
    items someone had played before (as the benchmark's discovery-v2 split: a catalogue built from the
    listening itself holds a track only because someone plays it later, and a model must not be
    chosen for finding those).

    Without timed plays the interactions' ``last_ts`` orders them; without either, a seeded
    random ``share`` of each listener's items is held out.
    """
    past, later = _held_out(data, share, familiar)
    return past, later.join(past.interactions.select("item_id").unique(), on="item_id", how="semi")


def _held_out(data: TrainingData, share: float, familiar: bool) -> tuple[TrainingData, pl.DataFrame]:
    if data.plays is not None:
        return _cut(data, 1.0 - share, familiar)
    frame = data.interactions
    if "last_ts" in frame.columns:
        late = frame.with_columns(pl.col("last_ts").alias("ts")).filter(
            pl.col("ts") >= _span_cut(1.0 - share)).select("user_id", "item_id")
    else:
        late = frame.filter(pl.int_range(pl.len()).shuffle(seed=0).over("user_id")
                            < (pl.len().over("user_id") * share).floor()).select("user_id", "item_id")
    past = frame.join(late, on=["user_id", "item_id"], how="anti")
    return data.with_interactions(past, None), late


def _cut(data: TrainingData, fraction: float, familiar: bool) -> tuple[TrainingData, pl.DataFrame]:
    plays = data.plays
    assert plays is not None
    listened = plays.filter(~pl.col("skipped"))
    cut = listened.group_by("user_id").agg(
        (pl.col("ts").min() + (pl.col("ts").max() - pl.col("ts").min()) * fraction).alias("cut"))
    timed = plays.join(cut, on="user_id")
    before = timed.filter(pl.col("ts") < pl.col("cut")).drop("cut")
    counts = (before.filter(~pl.col("skipped")).group_by("user_id", "item_id")
              .agg(pl.len().cast(pl.Float64).alias("weight")))
    later = timed.filter((pl.col("ts") >= pl.col("cut")) & ~pl.col("skipped")).select("user_id", "item_id").unique()
    if not familiar:
        later = later.join(counts, on=["user_id", "item_id"], how="anti")
    return data.with_interactions(counts, before), later
