"""Data drift on the event stream: each signal of a recent window against a reference window before it.

The signals (:data:`SIGNALS`), computed from the store's ``events`` (impressions aside):

| signal | what | test | effect and default bound |
|---|---|---|---|
| ``volume`` | listens a day | robust z of the window's daily mean among the reference days | abs(z) >= 4, change >= 20 % |
| ``active_listeners`` | distinct listeners a day | robust z | abs(z) >= 4, change >= 20 % |
| ``catalogue_growth`` | tracks heard for the first time, a day | robust z | abs(z) >= 4, change >= 20 % |
| ``plays_per_listener`` | listens per listener and day | Kolmogorov-Smirnov, two samples | PSI >= 0.2 |
| ``completion`` | share of a track played (where its length is known) | Kolmogorov-Smirnov | PSI >= 0.2 |
| ``skip_rate`` | skipped listens / listens | chi-square on the 2 × 2 table | abs(difference) >= 0.05 |
| ``new_tracks`` | listens of tracks nobody had heard before that day | chi-square | abs(difference) >= 0.05 |
| ``new_artists`` | listens of artists nobody had heard before that day | chi-square | abs(difference) >= 0.05 |
| ``country_mix``, ``platform_mix``, ``surface_mix`` | listeners a day by country, platform, surface | chi-square | PSI >= 0.1 |

A signal drifts when its effect passes its bound **and** its test's p-value is under ``alpha``
(default 0.01): the test alone flags negligible shifts on a million listens, the effect alone
flags noise on a quiet day. A daily count has one value a day, so its test is the window's mean
against the reference days' median and spread (the median absolute deviation, never below the
Poisson spread of the median), a robust z; p is its two-sided normal tail. PSI (the population
stability index, sum over bins of (a - e) ln(a / e)) bins a continuous signal at the reference's
deciles and a mix by category (categories under 1 % of both windows pooled as "other"). A mix counts
listener-days, each split over the categories of its listens: a listener's listens are not independent
draws, and counted one by one a few heavy listeners would move the mix (and the test would believe it).

Tests come from scipy (``ks_2samp``, ``chi2_contingency``): the drift libraries made for this
(Evidently, NannyML, alibi-detect, frouros) wrap the same tests with a dataframe stack this
project does not otherwise need (docs/monitoring.md says more).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from tastemaker.domain import SKIP_THRESHOLD_MS
from tastemaker.monitoring.config import Bounds

Kind = Literal["count", "distribution", "rate", "mix"]

#: signal -> (kind, what it measures)
SIGNALS: dict[str, tuple[Kind, str]] = {
    "volume": ("count", "listens a day"),
    "active_listeners": ("count", "distinct listeners a day"),
    "catalogue_growth": ("count", "tracks heard for the first time, a day"),
    "plays_per_listener": ("distribution", "listens per listener and day"),
    "completion": ("distribution", "share of a track played, where its length is known"),
    "skip_rate": ("rate", "skipped listens / listens"),
    "new_tracks": ("rate", "listens of tracks nobody had heard before that day / listens"),
    "new_artists": ("rate", "listens of artists nobody had heard before that day / listens"),
    "country_mix": ("mix", "listeners a day by country"),
    "platform_mix": ("mix", "listeners a day by platform"),
    "surface_mix": ("mix", "listeners a day by the surface their listens came from"),
}
LISTEN_TYPES = ("play", "skip")
#: a category under this share of both windows is pooled into "other" (PSI and chi-square)
RARE = 0.01
#: the smallest sample a test is run on; below it the signal says "too few"
MIN_SAMPLE = 20
#: the store's first days, left out of the new-track, new-artist and catalogue-growth signals
WARM_UP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Drift:
    """One signal's check: its value in the window and the reference, the effect, the test, the verdict."""

    signal: str
    kind: str
    current: float | None
    reference: float | None
    effect: float | None
    effect_name: str
    bound: float
    p_value: float | None
    drifted: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def listens(events: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """The listens (``play``, ``skip``) with ``skip`` (a skip row, the flag, or under 30 s when neither) and
    ``day`` (UTC date)."""
    frame = events.lazy().filter(pl.col("type").is_in(LISTEN_TYPES))
    skip = (pl.col("type") == "skip") | pl.col("skipped").fill_null(pl.col("ms_played").fill_null(0) < SKIP_THRESHOLD_MS)
    return frame.with_columns(skip.alias("skip"), pl.col("ts").dt.date().alias("day"))


def check(events: pl.LazyFrame | pl.DataFrame, at: datetime, *, window: timedelta = timedelta(days=1),
          reference: timedelta = timedelta(days=28), bounds: Bounds | None = None,
          signals: list[str] | None = None) -> list[Drift]:
    """Every signal (or those named) of the window ``[at - window, at)`` against ``[at - window - reference,
    at - window)``.

    >>> [d.signal for d in check(store.events(), datetime(2024, 6, 8, tzinfo=UTC)) if d.drifted]  # doctest: +SKIP
    ['skip_rate']
    """
    bounds = bounds or Bounds()
    start, ref_start = at - window, at - window - reference
    heard = listens(events).filter(pl.col("ts") < at)
    cols = heard.collect_schema().names()
    keep = [c for c in ("user_id", "ts", "day", "item_id", "artist_id", "ms_played", "duration_ms", "skip",
                        "country", "platform", "surface") if c in cols]
    past = heard.filter(pl.col("ts") >= ref_start).select(keep).collect()
    now, ref = past.filter(pl.col("ts") >= start), past.filter(pl.col("ts") < start)
    firsts = _firsts(heard, ref_start, start)
    # the store's first days: every track is new to a store that has just begun, so "new" says nothing there
    origin = heard.select(pl.col("ts").min()).collect().item()
    settled = (origin + WARM_UP).date() if origin is not None else None
    days_now, days_ref = max(window / timedelta(days=1), 1e-9), max(reference / timedelta(days=1), 1e-9)
    out = []
    for name in signals or list(SIGNALS):
        kind, _ = SIGNALS[name]
        alpha = bounds.alpha
        if kind == "count":
            ref_days = _daily(name, ref, firsts, ref_start, start)
            if name == "catalogue_growth" and settled is not None:  # the same for the first days' growth
                kept = max(0, min(len(ref_days), (start.date() - settled).days))
                ref_days = ref_days[len(ref_days) - kept:]
            out.append(_count(name, _daily(name, now, firsts, start, at), ref_days, days_now, days_ref,
                              bounds.of(name), alpha, bounds.count_change))
        elif kind == "distribution":
            out.append(_distribution(name, _sample(name, now), _sample(name, ref), bounds.of(name), alpha))
        elif kind == "rate":
            fresh = name != "skip_rate" and settled is not None
            out.append(_rate(name, *_hits(name, now.filter(pl.col("day") >= settled) if fresh else now, firsts),
                             *_hits(name, ref.filter(pl.col("day") >= settled) if fresh else ref, firsts),
                             bounds.of(name), alpha))
        else:
            column = name.removesuffix("_mix")
            out.append(_mix(name, now, ref, column, bounds.of(name), alpha))
    return out


def _firsts(heard: pl.LazyFrame, ref_start: datetime, start: datetime) -> dict[str, pl.DataFrame]:
    """When every track and artist was first heard, for those first heard since ``ref_start``."""
    out = {}
    for column in ("item_id", "artist_id"):
        first = heard.filter(pl.col(column).is_not_null()).group_by(column).agg(pl.col("ts").min().alias("first"))
        out[column] = first.filter(pl.col("first") >= ref_start).collect()
    return out


def _daily(name: str, part: pl.DataFrame, firsts: dict[str, pl.DataFrame], lo: datetime, hi: datetime) -> np.ndarray:
    """One value per UTC day of ``[lo, hi)`` (days without a listen count as 0)."""
    days = pl.date_range(lo.date(), (hi - timedelta(microseconds=1)).date(), "1d", eager=True).alias("day")
    if name == "volume":
        per = part.group_by("day").len()
    elif name == "active_listeners":
        per = part.group_by("day").agg(pl.col("user_id").n_unique().alias("len"))
    else:  # catalogue_growth
        first = firsts["item_id"].filter((pl.col("first") >= lo) & (pl.col("first") < hi))
        per = first.group_by(pl.col("first").dt.date().alias("day")).len()
    joined = days.to_frame().join(per, on="day", how="left").with_columns(pl.col("len").fill_null(0))
    return joined["len"].to_numpy().astype(np.float64)


def _count(name: str, now: np.ndarray, ref: np.ndarray, days_now: float, days_ref: float, bound: float,
           alpha: float, change: float = 0.0) -> Drift:
    """A daily count drifts when its robust z passes ``bound`` with p under ``alpha`` *and* it differs from the
    reference median by at least ``change`` (a share): a z alone pages for a 13 % dip of a quiet world."""
    kind = SIGNALS[name][0]
    if ref.size < 3:
        return Drift(name, kind, None, None, None, "z", bound, None, False, "too few reference days")
    current = float(now.sum() / days_now)
    median = float(np.median(ref))
    spread = max(1.4826 * float(np.median(np.abs(ref - median))), float(np.sqrt(max(median, 1.0))))
    z = (current - median) / spread
    p = float(2 * stats.norm.sf(abs(z)))
    moved = (current - median) / median if median > 0 else (np.inf if current > 0 else 0.0)
    return Drift(name, kind, round(current, 3), round(median, 3), round(z, 3), "z", bound, p,
                 abs(z) >= bound and p < alpha and abs(moved) >= change, f"change {moved:+.1%}")


def _sample(name: str, part: pl.DataFrame) -> np.ndarray:
    if name == "plays_per_listener":
        return part.group_by("user_id", "day").len()["len"].to_numpy().astype(np.float64)
    if "duration_ms" not in part.columns:
        return np.zeros(0)
    known = part.filter(pl.col("duration_ms").is_not_null() & (pl.col("duration_ms") > 0))
    return (known["ms_played"].fill_null(0) / known["duration_ms"]).clip(0.0, 1.0).to_numpy().astype(np.float64)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """The population stability index of two shares over the same bins (zeros floored at 1e-4)."""
    e = np.clip(np.asarray(expected, dtype=np.float64), 1e-4, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), 1e-4, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _binned(ref: np.ndarray, now: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Shares of ``ref`` and ``now`` over the reference's decile bins (ties merged)."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    at_ref, at_now = np.searchsorted(edges, ref, side="right"), np.searchsorted(edges, now, side="right")
    size = edges.size + 1
    return (np.bincount(at_ref, minlength=size) / ref.size, np.bincount(at_now, minlength=size) / now.size)


def _distribution(name: str, now: np.ndarray, ref: np.ndarray, bound: float, alpha: float) -> Drift:
    kind = SIGNALS[name][0]
    if now.size < MIN_SAMPLE or ref.size < MIN_SAMPLE:
        return Drift(name, kind, _mean(now), _mean(ref), None, "psi", bound, None, False,
                     f"too few values ({now.size} now, {ref.size} before; {MIN_SAMPLE} needed)")
    e, a = _binned(ref, now)
    index = psi(e, a)
    p = float(stats.ks_2samp(now, ref).pvalue)
    return Drift(name, kind, _mean(now), _mean(ref), round(index, 4), "psi", bound, p, index >= bound and p < alpha)


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 4) if values.size else None


def _hits(name: str, part: pl.DataFrame, firsts: dict[str, pl.DataFrame]) -> tuple[int, int]:
    """(hits, listens) of a rate signal in ``part``; a listen is of a new track (artist) when nobody had heard
    the track (artist) before that day."""
    if name == "skip_rate":
        return int(part["skip"].sum()), part.height
    column = "item_id" if name == "new_tracks" else "artist_id"
    rows = part.filter(pl.col(column).is_not_null())
    fresh = rows.join(firsts[column], on=column, how="inner").filter(pl.col("first").dt.date() == pl.col("day"))
    return fresh.height, rows.height


def _rate(name: str, hits_now: int, n_now: int, hits_ref: int, n_ref: int, bound: float, alpha: float) -> Drift:
    kind = SIGNALS[name][0]
    if n_now < MIN_SAMPLE or n_ref < MIN_SAMPLE:
        return Drift(name, kind, hits_now / n_now if n_now else None, hits_ref / n_ref if n_ref else None, None,
                     "difference", bound, None, False, f"too few listens ({n_now} now, {n_ref} before)")
    now, ref = hits_now / n_now, hits_ref / n_ref
    table = np.array([[hits_now, n_now - hits_now], [hits_ref, n_ref - hits_ref]])
    p = 1.0 if (table.sum(axis=0) == 0).any() else float(stats.chi2_contingency(table)[1])
    diff = now - ref
    return Drift(name, kind, round(now, 4), round(ref, 4), round(diff, 4), "difference", bound, p,
                 abs(diff) >= bound and p < alpha)


def _listeners_by(part: pl.DataFrame, column: str) -> pl.DataFrame:
    """``column, len``: listeners by category, each listener-day counted once and split over the categories
    of its listens (a listener on two platforms half on each). Listens by category would let a few heavy
    listeners move the mix, and would test thousands of listens of one person as if each were another's."""
    cat = pl.col(column).fill_null("unknown")
    if "user_id" not in part.columns or "day" not in part.columns:
        return part.group_by(cat).len().with_columns(pl.col("len").cast(pl.Float64))
    per = part.group_by("user_id", "day", cat).len("n")
    return (per.with_columns((pl.col("n") / pl.col("n").sum().over("user_id", "day")).alias("len"))
            .group_by(column).agg(pl.col("len").sum()))


def _mix(name: str, now: pl.DataFrame, ref: pl.DataFrame, column: str, bound: float, alpha: float) -> Drift:
    kind = SIGNALS[name][0]
    if column not in now.columns:
        return Drift(name, kind, None, None, None, "psi", bound, None, False, f"the events have no {column}")
    a, e = _listeners_by(now, column), _listeners_by(ref, column)
    both = e.join(a, on=column, how="full", coalesce=True, suffix="_now").with_columns(
        pl.col("len", "len_now").fill_null(0))
    n_now, n_ref = round(float(both["len_now"].sum())), round(float(both["len"].sum()))
    if n_now < MIN_SAMPLE or n_ref < MIN_SAMPLE:
        return Drift(name, kind, None, None, None, "psi", bound, None, False,
                     f"too few listens ({n_now} now, {n_ref} before)")
    rare = (both["len_now"] / n_now < RARE) & (both["len"] / n_ref < RARE)
    both = both.with_columns(pl.when(rare).then(pl.lit("other")).otherwise(pl.col(column)).alias(column))
    both = both.group_by(column).agg(pl.col("len").sum(), pl.col("len_now").sum()).sort(column)
    if both.height < 2:
        return Drift(name, kind, None, None, 0.0, "psi", bound, 1.0, False, "one category")
    e_share, a_share = both["len"].to_numpy() / n_ref, both["len_now"].to_numpy() / n_now
    index = psi(e_share, a_share)
    table = np.vstack([both["len_now"].to_numpy(), both["len"].to_numpy()]).round()
    table = table[:, table.sum(axis=0) > 0]
    p = float(stats.chi2_contingency(table)[1]) if table.shape[1] > 1 else 1.0
    top = both.with_columns((pl.col("len_now") / n_now).alias("share")).sort("share", descending=True)
    note = f"largest now: {top[column][0]} {top['share'][0]:.0%}"
    return Drift(name, kind, None, None, round(index, 4), "psi", bound, p, index >= bound and p < alpha, note)
