"""Per-listener experiment metrics from the ``events`` table, each defined once, here.

Input: events with the columns of :data:`tastemaker.store.tables.EVENTS` (a Polars frame or an
Arrow table; ``user_id, ts, type, item_id, artist_id, ms_played`` are required, ``skipped`` and
``session_id`` are used when present), a :class:`Period`, and the listeners assigned to the
experiment. Output: one row per assigned listener, listeners without a single event in the
period included with zeros, so an arm's mean is over everyone assigned (no survivorship bias).

A *listen* is a ``play`` or ``skip`` row. It is *skipped* when its type is ``skip``, when
``skipped`` is true, or (``skipped`` unknown) when it played under 30 s. Columns:

- ``minutes``: ``ms_played`` of listens in the period / 60,000.
- ``sessions``: distinct ``session_id`` of listens (listens without one: 30-min inactivity gaps).
- ``listens``, ``skips``, ``saves``: counts in the period (the sums a ratio test needs).
- ``skip_rate``, ``save_rate``: skips / listens, saves / listens; null without listens (test them
  with ``stats.ratio(skips, listens)``, the listener as the unit).
- ``discovered_artists``: distinct artists listened to ≥ 30 s in the period and in none of the
  listener's events before it.
- ``active``: 1 when the listener has a listen in the period.
- ``retained``: 1 when active in the period and in the ``retention_days`` after it (week N and N+1).
- ``distinct_artists``: distinct artists listened to in the period.
- ``artist_entropy``: Shannon entropy (bits) of the listener's listens over artists; 0 with ≤ 1 artist.

:data:`METRICS` says which columns are per-listener means and which are ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import polars as pl
import pyarrow as pa

from tastemaker.domain import SKIP_THRESHOLD_MS

SESSION_GAP = timedelta(minutes=30)
REQUIRED = ("user_id", "ts", "type", "item_id", "artist_id", "ms_played")
LISTEN_TYPES = ("play", "skip")


@dataclass(frozen=True, slots=True)
class Metric:
    """How one output column is analysed: a per-listener ``mean``, or a ``ratio`` of two sums."""

    name: str
    kind: Literal["mean", "ratio"]
    numerator: str
    denominator: str | None = None


#: Every metric of :func:`user_metrics` and how to test it (``ratio`` metrics use the delta method).
METRICS: tuple[Metric, ...] = (
    Metric("minutes", "mean", "minutes"),
    Metric("sessions", "mean", "sessions"),
    Metric("skip_rate", "ratio", "skips", "listens"),
    Metric("save_rate", "ratio", "saves", "listens"),
    Metric("discovered_artists", "mean", "discovered_artists"),
    Metric("retained", "mean", "retained"),
    Metric("distinct_artists", "mean", "distinct_artists"),
    Metric("artist_entropy", "mean", "artist_entropy"),
)


def _utc(when: date | datetime) -> datetime:
    if isinstance(when, datetime):
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime(when.year, when.month, when.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """The half-open analysis window ``[start, end)``; dates mean UTC midnight, naive datetimes UTC.

    Example:
        >>> Period(date(2024, 1, 1), date(2024, 1, 8)).days
        7.0
    """

    start: date | datetime
    end: date | datetime

    def __post_init__(self) -> None:
        if not _utc(self.start) < _utc(self.end):
            raise ValueError(f"period start {self.start} must be before its end {self.end}")

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """``(start, end)`` as UTC datetimes."""
        return _utc(self.start), _utc(self.end)

    @property
    def days(self) -> float:
        """Length in days."""
        start, end = self.bounds
        return (end - start) / timedelta(days=1)


def _frame(events: pl.DataFrame | pa.Table) -> pl.LazyFrame:
    frame = events if isinstance(events, pl.DataFrame) else pl.from_arrow(events)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError("events must be a Polars DataFrame or an Arrow table")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"events lack columns {missing}; required: {list(REQUIRED)}")
    extra = [pl.lit(None, pl.Boolean).alias("skipped")] if "skipped" not in frame.columns else []
    extra += [pl.lit(None, pl.String).alias("session_id")] if "session_id" not in frame.columns else []
    return frame.lazy().with_columns(*extra).with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC")), pl.col("ms_played").cast(pl.Int64).fill_null(0))


def _listens(events: pl.LazyFrame, start: datetime, end: datetime) -> pl.LazyFrame:
    """The period's listens with ``skip`` and a ``session`` key."""
    in_period = (pl.col("ts") >= start) & (pl.col("ts") < end)
    listens = events.filter(pl.col("type").is_in(LISTEN_TYPES) & in_period)
    skip = ((pl.col("type") == "skip") | pl.col("skipped").fill_null(pl.col("ms_played") < SKIP_THRESHOLD_MS))
    gap_start = (pl.col("ts").diff().over("user_id", order_by="ts").fill_null(SESSION_GAP + SESSION_GAP)
                 > SESSION_GAP)
    gap_session = pl.format("gap:{}", gap_start.cum_sum().over("user_id", order_by="ts"))
    return listens.with_columns(skip.alias("skip"), pl.coalesce("session_id", gap_session).alias("session"))


def _discovered(events: pl.LazyFrame, listens: pl.LazyFrame, start: datetime) -> pl.LazyFrame:
    known = (events.filter((pl.col("ts") < start) & pl.col("artist_id").is_not_null())
             .select("user_id", "artist_id").unique())
    return (listens.filter((pl.col("ms_played") >= SKIP_THRESHOLD_MS) & pl.col("artist_id").is_not_null())
            .join(known, on=["user_id", "artist_id"], how="anti")
            .group_by("user_id").agg(pl.col("artist_id").n_unique().alias("discovered_artists")))


def _diversity(listens: pl.LazyFrame) -> pl.LazyFrame:
    shares = (listens.filter(pl.col("artist_id").is_not_null()).group_by("user_id", "artist_id").len()
              .with_columns((pl.col("len") / pl.col("len").sum().over("user_id")).alias("p")))
    return shares.group_by("user_id").agg(
        pl.len().alias("distinct_artists"),
        (-(pl.col("p") * pl.col("p").log(2)).sum()).abs().alias("artist_entropy"))


def user_metrics(events: pl.DataFrame | pa.Table, period: Period, user_ids: Sequence[str],
                 *, retention_days: int = 7) -> pl.DataFrame:
    """One row of metrics per listener of ``user_ids`` over ``period`` (definitions in the module docstring).

    Args:
        events: the event rows (the period, the history before it for discovery, and the
            ``retention_days`` after it for retention).
        period: the analysis window.
        user_ids: the listeners assigned (or exposed); their order is kept, duplicates refused.
        retention_days: length of the window after the period that ``retained`` looks at.

    Returns:
        ``user_id`` and the metric columns; zeros (rates null) for listeners without listens.

    Example:
        >>> ev = pl.DataFrame({"user_id": ["u1"], "ts": [datetime(2024, 1, 2, tzinfo=UTC)], "type": ["play"],
        ...                    "item_id": ["t1"], "artist_id": ["a1"], "ms_played": [120_000]})
        >>> user_metrics(ev, Period(date(2024, 1, 1), date(2024, 1, 8)), ["u1", "u2"])["minutes"].to_list()
        [2.0, 0.0]
    """
    ids = list(user_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("user_ids must not repeat a listener")
    if retention_days < 1:
        raise ValueError(f"retention_days must be >= 1, got {retention_days}")
    start, end = period.bounds
    events_lf = _frame(events)
    listens = _listens(events_lf, start, end)
    after = (_listens(events_lf, end, end + timedelta(days=retention_days)).select("user_id").unique()
             .with_columns(pl.lit(1).alias("next_active")))
    base = listens.group_by("user_id").agg(
        (pl.col("ms_played").sum() / 60_000).alias("minutes"), pl.col("session").n_unique().alias("sessions"),
        pl.len().alias("listens"), pl.col("skip").sum().alias("skips"))
    saves = (events_lf.filter((pl.col("type") == "save") & (pl.col("ts") >= start) & (pl.col("ts") < end))
             .group_by("user_id").agg(pl.len().alias("saves")))
    users = pl.LazyFrame({"user_id": ids}, schema={"user_id": pl.String})
    out = users
    for part in (base, saves, _discovered(events_lf, listens, start), _diversity(listens), after):
        out = out.join(part, on="user_id", how="left", maintain_order="left")
    counts = ["sessions", "listens", "skips", "saves", "discovered_artists", "distinct_artists",
              "next_active"]
    out = out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts).with_columns(
        pl.col("minutes", "artist_entropy").fill_null(0.0).cast(pl.Float64),
        (pl.col("listens") > 0).cast(pl.Int64).alias("active"))
    rate = pl.when(pl.col("listens") > 0)
    return out.with_columns(
        rate.then(pl.col("skips") / pl.col("listens")).alias("skip_rate"),
        rate.then(pl.col("saves") / pl.col("listens")).alias("save_rate"),
        (pl.col("active") * pl.col("next_active")).alias("retained"),
    ).select("user_id", "minutes", "sessions", "listens", "skips", "skip_rate", "saves", "save_rate",
             "discovered_artists", "active", "retained", "distinct_artists", "artist_entropy").collect()
