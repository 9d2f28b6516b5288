"""Splits that respect time: train on the past, evaluate on what came after.

Two cuts. ``global``: one instant for everyone, ``test_days`` before the log's last event: right
when the listeners share a clock (a service's own log). ``per-listener``: each listener at their own
last ``test_days`` (the protocol of the shared Spotify benchmark splits): right for exports of people
whose years of listening do not overlap, where one global cut leaves most of them with nothing after
it. :func:`choose_cut` picks between them from the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from tastemaker.features.interactions import interactions, listens

CUTS = ("auto", "global", "per-listener")

#: ``auto`` cuts per listener when fewer than this share of the listeners listened in the log's last days
ACTIVE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class TemporalSplit:
    """``train``: interactions before the cut; ``test``: items each user listened to after it.

    ``cutoff`` is the global cut, or with ``cuts`` (``user_id, cut``) the latest listener's; ``discovery``
    keeps only test items the user had not heard before their cut.
    """

    cutoff: datetime
    train: pl.DataFrame
    test: pl.DataFrame
    cuts: pl.DataFrame | None = None

    @property
    def protocol(self) -> str:
        return "global" if self.cuts is None else "per-listener"


@dataclass(frozen=True, slots=True)
class CutChoice:
    """What :func:`choose_cut` decided: the ``protocol``, how many of the ``listeners`` listened in the
    log's last days (``active``), and ``why`` in a sentence (empty when nothing needed saying)."""

    protocol: str
    listeners: int
    active: int
    why: str


def _last_listens(events: pl.LazyFrame) -> pl.DataFrame:
    return listens(events).group_by("user_id").agg(pl.col("ts").max().alias("last")).collect()


def choose_cut(events: pl.LazyFrame, test_days: float = 7.0, protocol: str = "auto") -> CutChoice:
    """The cut that fits ``events``: ``protocol`` if it is ``global`` or ``per-listener``; for ``auto``,
    per listener when under :data:`ACTIVE_SHARE` of the listeners listened in the log's last
    ``test_days`` (their spans differ: a global cut would score only the few), else global."""
    if protocol not in CUTS:
        raise ValueError(f"protocol must be one of {', '.join(CUTS)}, got {protocol!r}")
    last = _last_listens(events)
    if last.is_empty():
        raise ValueError("the event log has no listens with timestamps to split on")
    newest = last["last"].max()
    cutoff = newest - timedelta(days=test_days)  # type: ignore[operator]
    active = int((last["last"] >= cutoff).sum())
    listeners = last.height
    if protocol != "auto":
        return CutChoice(protocol, listeners, active, "")
    if active >= ACTIVE_SHARE * listeners:
        return CutChoice("global", listeners, active, "")
    return CutChoice("per-listener", listeners, active,
                     f"listeners' spans differ: only {active} of {listeners} listeners played anything in the "
                     f"log's last {test_days:g} days (from {cutoff:%Y-%m-%d}), so each listener is cut at their "
                     f"own last {test_days:g} days instead (--protocol global to force one cut)")


def temporal_split(events: pl.LazyFrame, test_days: float = 7.0, discovery: bool = True,
                   per_listener: bool = False) -> TemporalSplit:
    """Cut the log ``test_days`` before its last event, or (``per_listener``) each listener ``test_days``
    before their own last listen; test users must appear in train (warm)."""
    if test_days <= 0:
        raise ValueError(f"test_days must be positive, got {test_days}")
    if per_listener:
        cuts = _last_listens(events).select("user_id", (pl.col("last") - timedelta(days=test_days)).alias("cut"))
        if cuts.is_empty():
            raise ValueError("the event log has no listens with timestamps to split on")
        timed = events.join(cuts.lazy(), on="user_id")
        train = interactions(timed.filter(pl.col("ts") < pl.col("cut")).drop("cut"), per_user=True)
        after = interactions(timed.filter(pl.col("ts") >= pl.col("cut")).drop("cut"))
        cutoff = cuts["cut"].max()
    else:
        cuts = None
        last = events.select(pl.col("ts").max()).collect().item()
        if last is None:
            raise ValueError("the event log has no timestamps to split on")
        cutoff = last - timedelta(days=test_days)
        train = interactions(events, until=cutoff)
        after = interactions(events.filter(pl.col("ts") >= cutoff))
    test = after.join(train.select("user_id").unique(), on="user_id", how="semi")
    if discovery:
        test = test.join(train.select("user_id", "item_id"), on=["user_id", "item_id"], how="anti")
    return TemporalSplit(cutoff, train, test.select("user_id", "item_id"), cuts)  # type: ignore[arg-type]
