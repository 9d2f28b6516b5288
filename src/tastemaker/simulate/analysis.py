"""What a closed-loop A/B run measured: listener metrics per week, effects, lift decay, diversity, creators.

The analysed population is every listener served at least one list (the triggered analysis:
listeners who churned before the experiment never reach the surface). Per week and over the
whole run:

- listener metrics from :func:`tastemaker.experiments.metrics.user_metrics` on the events of the
  served lists (minutes, skip and save rate, discovery, distinct artists, entropy); retention
  and ``total_minutes`` on all listening (lists and organic), so a listener who stopped using
  the list but kept listening counts as retained;
- effects of each treatment arm against the control (:func:`~tastemaker.experiments.stats.welch`
  for means, :func:`~tastemaker.experiments.stats.ratio` for skip and save rate), Holm-adjusted
  over the overall effects, CUPED on all-surface minutes with the week before the experiment as
  the covariate, and the lift trend over weeks (:func:`~tastemaker.experiments.stats.lift_by_period`);
- per arm and week: artists consumed (distinct, entropy), Gini and coverage of item exposure,
  the long tail's share of plays and impressions, and new releases' share of plays.

Example:
    >>> result = analyse(run_loop(config, "ws"))  # doctest: +SKIP
    >>> result.effect("overall", "personal", "minutes")["rel_lift"] > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from tastemaker.experiments.metrics import METRICS, Period, user_metrics
from tastemaker.experiments.report import ExperimentResult
from tastemaker.experiments.stats import Effect, adjust, cuped, lift_by_period, ratio, srm, welch
from tastemaker.simulate.loop import LoopRun

#: tracks released this many days before the experiment's start (or later) count as new releases
NEW_RELEASE_DAYS = 30
#: mean metrics whose weekly lift is fitted with a trend
TRENDED = ("minutes", "total_minutes", "discovered_artists", "distinct_artists")

log = logging.getLogger("tastemaker.simulate")


def analyse(run: LoopRun, alpha: float = 0.05) -> ExperimentResult:
    """The :class:`~tastemaker.experiments.report.ExperimentResult` of a closed-loop run."""
    cfg = run.config
    arms = list(cfg.policies)
    exposed = run.exposures.select("user_id", "arm").unique().sort("user_id")
    counts = {a: exposed.filter(pl.col("arm") == a).height for a in arms}
    check = srm([counts[a] for a in arms], cfg.shares)
    users = user_periods(run, exposed)
    periods = [f"week {w + 1}" for w in range(cfg.weeks)]
    effects = _effects(users, arms, [*periods, "overall"], alpha)
    effects += _cuped(run, users, exposed, arms, alpha)
    overall = [i for i, e in enumerate(effects) if e["period"] == "overall"]
    for i, p in zip(overall, adjust([effects[i]["p_value"] for i in overall], "holm"), strict=True):
        effects[i]["p_adjusted"] = float(p)
    meta = {"config": cfg.to_dict(), "start": _day_date(run, run.start_day).isoformat(),
            "seconds": run.seconds, "trainings": run.trainings, "served_by": _levels(run.exposures)}
    return ExperimentResult(cfg.experiment, arms[0], arms, list(cfg.shares), counts,
                            {"chi2": check.chi2, "p_value": check.p_value, "mismatch": check.mismatch},
                            periods, effects, _trends(users, arms, periods, alpha),
                            arm_periods(run, users, periods), users, meta)


def _day_date(run: LoopRun, day: int) -> datetime:
    start = run.config.world.start
    return datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=day)


def _events(frame: pl.DataFrame) -> pl.DataFrame:
    """Loop events in the shape ``user_metrics`` reads (``ts`` as a UTC datetime)."""
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def user_periods(run: LoopRun, exposed: pl.DataFrame) -> pl.DataFrame:
    """One row per (exposed listener, period) with ``arm``, ``period`` and the metric columns.

    ``minutes`` … ``artist_entropy`` come from the served lists' events; ``total_minutes`` and
    ``retained`` from all listening. ``retained`` is null in the last week and overall (no next
    week was simulated).
    """
    history = run.history.select("user_id", "ts", "type", "item_id", "artist_id", "ms_played", "skipped")
    events = _events(run.events)
    every = pl.concat([history, events.select(history.columns)], how="vertical_relaxed")
    ids = exposed["user_id"].to_list()
    frames = []
    bounds = [(f"week {w + 1}", 7 * w, 7 * (w + 1)) for w in range(run.config.weeks)]
    for label, lo, hi in [*bounds, ("overall", 0, run.config.days)]:
        start, end = _day_date(run, run.start_day + lo), _day_date(run, run.start_day + hi)
        period = Period(start, end)
        lists = every.filter((pl.col("ts") < start) | (pl.col("ts") >= end)).vstack(
            events.filter((pl.col("source") == "list") & (pl.col("ts") >= start) & (pl.col("ts") < end))
            .select(history.columns))
        mine = user_metrics(lists, period, ids)
        everything = user_metrics(every, period, ids).select(
            "user_id", pl.col("minutes").alias("total_minutes"), "retained")
        last = hi >= run.config.days
        frames.append(mine.drop("retained").join(everything, on="user_id", how="left", maintain_order="left")
                      .with_columns(pl.lit(label).alias("period"),
                                    pl.when(pl.lit(not last)).then(pl.col("retained")).alias("retained")))
    out = pl.concat(frames, how="vertical_relaxed")
    return out.join(exposed, on="user_id", how="left").select("period", "user_id", "arm", *out.columns[1:-1])


def _values(users: pl.DataFrame, period: str, arm: str, column: str) -> np.ndarray:
    rows = users.filter((pl.col("period") == period) & (pl.col("arm") == arm))
    return rows[column].drop_nulls().to_numpy().astype(np.float64)


def _effects(users: pl.DataFrame, arms: list[str], periods: list[str], alpha: float) -> list[dict[str, Any]]:
    """Every treatment arm against the control, per period and metric."""
    out: list[dict[str, Any]] = []
    metrics = [*METRICS[:1], *(m for m in METRICS[1:] if m.name != "sessions")]
    for period in periods:
        for arm in arms[1:]:
            for metric in metrics:
                unmeasured = users.filter(pl.col("period") == period)["retained"].null_count()
                if metric.name == "retained" and unmeasured:
                    continue  # no next week simulated
                effect = _effect(users, period, arms[0], arm, metric.name, metric.numerator,
                                 metric.denominator, alpha)
                if effect is not None:
                    out.append({"period": period, "arm": arm, **effect.as_dict()})
            total = _effect(users, period, arms[0], arm, "total_minutes", "total_minutes", None, alpha)
            if total is not None:
                out.append({"period": period, "arm": arm, **total.as_dict()})
    return out


def _effect(users: pl.DataFrame, period: str, control: str, arm: str, name: str, numerator: str,
            denominator: str | None, alpha: float) -> Effect | None:
    """One effect, or None when an arm has too little data for it (fewer than two listeners, no listens)."""
    a, b = _values(users, period, control, numerator), _values(users, period, arm, numerator)
    try:
        if denominator is None:
            return welch(a, b, alpha=alpha, metric=name)
        da, db = _values(users, period, control, denominator), _values(users, period, arm, denominator)
        return ratio(a, da, b, db, alpha=alpha, metric=name)
    except ValueError:
        return None


def _cuped(run: LoopRun, users: pl.DataFrame, exposed: pl.DataFrame, arms: list[str],
           alpha: float) -> list[dict[str, Any]]:
    """All-surface minutes over the whole run, CUPED-adjusted with each listener's minutes the week before."""
    start = _day_date(run, run.start_day)
    history = run.history.select("user_id", "ts", "type", "item_id", "artist_id", "ms_played", "skipped")
    week_before = Period(start - timedelta(days=7), start)
    pre = user_metrics(history, week_before, exposed["user_id"].to_list()).select(
        "user_id", pl.col("minutes").alias("pre"))
    overall = (users.filter(pl.col("period") == "overall").join(pre, on="user_id", how="left")
               .with_columns(pl.col("pre").fill_null(0.0)))  # no listening the week before: 0 minutes
    out = []
    for arm in arms[1:]:
        a, b = (overall.filter(pl.col("arm") == x) for x in (arms[0], arm))
        try:
            effect = cuped(a["total_minutes"].to_numpy(), a["pre"].to_numpy(), b["total_minutes"].to_numpy(),
                           b["pre"].to_numpy(), alpha=alpha, metric="total_minutes_cuped")
        except ValueError as exc:  # e.g. an arm too small: the report says CUPED is missing and why
            log.warning("no CUPED effect for arm %s: %s", arm, exc)
            continue
        out.append({"period": "overall", "arm": arm, **effect.as_dict()})
    return out


def _trends(users: pl.DataFrame, arms: list[str], periods: list[str], alpha: float) -> list[dict[str, Any]]:
    """The weekly lift's linear trend per treatment arm and mean metric (needs two weeks or more)."""
    if len(periods) < 2:
        return []
    out = []
    for arm in arms[1:]:
        for metric in TRENDED:
            a = [_values(users, p, arms[0], metric) for p in periods]
            b = [_values(users, p, arm, metric) for p in periods]
            try:
                trend = lift_by_period(a, b, list(range(1, len(periods) + 1)), alpha=alpha, metric=metric)
            except ValueError:
                continue
            out.append({"arm": arm, "metric": metric, "intercept": trend.intercept, "slope": trend.slope,
                        "slope_ci_low": trend.slope_ci_low, "slope_ci_high": trend.slope_ci_high,
                        "fading": trend.fading})
    return out


def arm_periods(run: LoopRun, users: pl.DataFrame, periods: list[str]) -> list[dict[str, Any]]:
    """Per arm and period: listener metric means, diversity of consumption and exposure, creator shares."""
    shown = run.exposures.with_columns(((pl.col("day") - run.start_day) // 7 + 1).alias("week"))
    shown = shown.join(run.artists.select("artist_id", "tail"), on="artist_id", how="left").join(
        run.tracks, on="item_id", how="left").with_columns(
        pl.col("tail").fill_null(True),
        (pl.col("release_day") >= run.start_day - NEW_RELEASE_DAYS).alias("new_release"))
    n_tracks = run.tracks.height
    means = ["minutes", "total_minutes", "skip_rate", "save_rate", "discovered_artists", "distinct_artists",
             "artist_entropy", "retained"]
    out = []
    for week, period in enumerate(periods, start=1):
        for arm in run.config.policies:
            mine = shown.filter((pl.col("week") == week) & (pl.col("arm") == arm))
            row: dict[str, Any] = {"period": period, "arm": arm}
            listeners = users.filter((pl.col("period") == period) & (pl.col("arm") == arm))
            row.update({f"mean_{m}": _mean(listeners[m]) for m in means})
            row.update(_diversity(mine, n_tracks))
            out.append(row)
    return out


def _mean(column: pl.Series) -> float | None:
    values = column.drop_nulls()
    return float(values.mean()) if values.len() else None  # type: ignore[arg-type]


def _diversity(shown: pl.DataFrame, n_tracks: int) -> dict[str, float | None]:
    """Diversity and creator measures of one arm-week's shown items (plays: the shown items played)."""
    played = shown.filter("played")
    artists = played.group_by("artist_id").len()["len"].to_numpy().astype(np.float64)
    p = artists / artists.sum() if artists.size else artists
    exposure = np.zeros(n_tracks)
    counts = shown.group_by("item_id").len()["len"].to_numpy().astype(np.float64)
    exposure[:counts.size] = counts
    return {
        "arm_distinct_artists": float(artists.size),
        "arm_artist_entropy": float(-(p * np.log2(p)).sum()) if p.size else None,
        "exposure_gini": gini(exposure),
        "coverage": float(counts.size / n_tracks) if n_tracks else None,
        "tail_play_share": _share(played, "tail"),
        "tail_impression_share": _share(shown, "tail"),
        "new_release_play_share": _share(played, "new_release"),
    }


def _share(frame: pl.DataFrame, flag: str) -> float | None:
    return float(frame[flag].mean()) if frame.height else None  # type: ignore[arg-type]


def gini(values: np.ndarray) -> float | None:
    """Gini coefficient of non-negative ``values`` (0: equal exposure, near 1: all on one item).

    Example:
        >>> gini(np.array([1.0, 1.0, 1.0])), round(gini(np.array([0.0, 0.0, 3.0])), 3)
        (0.0, 0.667)
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return None
    ranks = np.arange(1, x.size + 1)
    return float((2 * ranks - x.size - 1) @ x / (x.size * x.sum()))


def _levels(exposures: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Lists served per arm and serving level (``model`` / ``popularity``)."""
    lists = exposures.filter(pl.col("position") == 1).group_by("arm", "level").len().sort("arm", "level")
    out: dict[str, dict[str, int]] = {}
    for arm, level, n in lists.iter_rows():
        out.setdefault(arm, {})[level] = n
    return out
