"""Splits that respect time: train on the past, evaluate on what came after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from tastemaker.features.interactions import interactions


@dataclass(frozen=True, slots=True)
class TemporalSplit:
    """``train``: interactions before ``cutoff``; ``test``: items each user listened to after it.

    ``discovery`` keeps only test items the user had not heard before the cutoff.
    """

    cutoff: datetime
    train: pl.DataFrame
    test: pl.DataFrame


def temporal_split(events: pl.LazyFrame, test_days: float = 7.0, discovery: bool = True) -> TemporalSplit:
    """Cut the log ``test_days`` before its last event; test users must appear in train (warm)."""
    if test_days <= 0:
        raise ValueError(f"test_days must be positive, got {test_days}")
    last = events.select(pl.col("ts").max()).collect().item()
    if last is None:
        raise ValueError("the event log has no timestamps to split on")
    cutoff = last - timedelta(days=test_days)
    train = interactions(events, until=cutoff)
    after = interactions(events.filter(pl.col("ts") >= cutoff))
    test = after.join(train.select("user_id").unique(), on="user_id", how="semi")
    if discovery:
        test = test.join(train.select("user_id", "item_id"), on=["user_id", "item_id"], how="anti")
    return TemporalSplit(cutoff, train, test.select("user_id", "item_id"))
