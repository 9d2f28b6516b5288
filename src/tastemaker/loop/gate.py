"""The promotion gate: a candidate version against the version in use, on listening neither was trained on.

The candidate was trained on the listens before a cut (``Workspace.candidate``). Both versions
recommend to the listeners who listened after it, and each list is scored on the tracks that listener
played, after the cut, for the first time (the discovery protocol of ``tastemaker evaluate``). The
score is NDCG@k per listener, so the two versions are compared pair by pair over the same listeners.

The checks, all of which must hold for a promotion:

- **quality**: the candidate's NDCG@k is not worse than the live version's by more than ``max_drop``
  (relative) with a paired Wilcoxon p under ``alpha``. A version that is worse but within the noise
  is promoted: retraining on newer data is the point of the loop, and noise is no evidence against it.
- **validity**: every sampled list is full (``k`` items, or every item the model knows), holds no
  duplicate, no track the listener heard before the cut, and only catalogue tracks.
- **latency**: the candidate's one-listener ``recommend`` stays within ``latency_ms`` at the 99th
  percentile over ``latency_samples`` calls.

The live version may have been trained after the cut, on part of the listening it is scored on
(``live_saw_test``): scored as it is, it would be judged on what it learnt from. Its configuration
(the registry keeps it) is then trained on the listening before the cut and scored in its place
(``live_refit``), so both sides saw the same data and only what changed is judged: the parameters, a
version handed in. With the loop's cadence equal to its holdout, the live version's data ends where the
candidate's begins to be judged, and the version itself is scored. Whether it saw the holdout is read
from the data's own clock: a version's ``until`` (its cut) or ``newest`` (its newest play).

When the loop trained the candidate itself just now, with the live version's parameters on the listening
before the cut, the refit would train the same model again: it is skipped, quality is "not compared",
and validity and latency decide. A version handed in (``cycle(candidate=...)``) is always compared.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

#: the fewest listeners a quality comparison is made on (fewer: quality is not judged, and the verdict says so)
MIN_LISTENERS = 10


@dataclass(frozen=True, slots=True)
class GateConfig:
    """The gate's thresholds (``tastemaker loop`` options)."""

    k: int = 10
    max_drop: float = 0.05
    alpha: float = 0.05
    latency_ms: float = 50.0
    latency_samples: int = 100
    max_listeners: int = 2000
    seed: int = 0


@dataclass
class Verdict:
    """What the gate decided and on what numbers; ``reasons``: every check that failed (empty: promote)."""

    promote: bool
    reasons: list[str]
    checks: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(store: Any, models_dir: Path, name: str, candidate: str, live: str | None, cut: datetime,
          config: GateConfig = GateConfig(), *, fresh: bool = False) -> Verdict:
    """Judge version ``candidate`` of model ``name`` against ``live`` (None: nothing is live, only validity and
    latency are judged) on the listening after ``cut``. ``fresh``: the candidate was trained just now, by this
    code, on the listening before ``cut`` (the loop's own candidate), not handed in."""
    from tastemaker.candidates.catalogue import load
    from tastemaker.candidates.registry import describe, resolve
    from tastemaker.evaluation.split import temporal_split
    from tastemaker.features.kinds import music_events

    events = music_events(store).filter(pl.col("type") != "impression")
    newest = events.select(pl.col("ts").max()).collect().item()
    days = max((newest - cut).total_seconds() / 86400.0, 1e-6) if newest is not None else 1.0
    split = temporal_split(events, test_days=days, discovery=True)
    known = split.train.select("item_id").unique()
    test = split.test.join(known, on="item_id", how="semi")
    users = test["user_id"].unique().sort().to_list()
    rng = np.random.default_rng(config.seed)
    if len(users) > config.max_listeners:
        users = sorted(rng.choice(users, config.max_listeners, replace=False).tolist())
    heard = split.train.filter(pl.col("user_id").is_in(users)).select("user_id", "item_id")
    cand_model = load(resolve(models_dir, name, candidate))
    checks: dict[str, Any] = {"cut": cut.isoformat(), "listeners": len(users), "k": config.k}
    reasons: list[str] = []

    cand_recs = cand_model.recommend(users, k=config.k, exclude=heard) if users else _empty()
    ids = getattr(cand_model, "item_ids", None)
    n_items = len(ids) if ids is not None else config.k
    reasons += _validity(cand_recs, heard, users, store, config.k, n_items, checks)
    reasons += _latency(cand_model, users or split.train["user_id"].unique().head(10).to_list(), config, checks)

    if live is not None and live != candidate:
        live_meta = describe(models_dir, name, live)
        data = live_meta.get("data", {})
        checks["live"] = live
        if data.get("until"):  # its listening was cut there (before it)
            checks["live_saw_test"] = _aware(datetime.fromisoformat(data["until"])) > cut
        elif data.get("newest"):  # the newest play it learnt from
            checks["live_saw_test"] = _aware(datetime.fromisoformat(data["newest"])) >= cut
        else:  # a version registered before either was kept: its training time says at most
            checks["live_saw_test"] = datetime.fromisoformat(live_meta["created_at"]) > cut
        if len(users) < MIN_LISTENERS:
            checks["quality"] = f"not judged: {len(users)} listeners found a new track after the cut"
        else:
            from tastemaker.evaluation.metrics import per_user
            from tastemaker.evaluation.significance import paired

            cand_meta = describe(models_dir, name, candidate)
            if checks["live_saw_test"] and fresh and _same_fit(live_meta, cand_meta, cut):
                # the live configuration refit before the cut would be this candidate again: nothing to compare
                checks["live_refit"] = "not needed: the candidate is the live configuration fit on the same listening"
                checks["quality"] = "not compared: the same parameters, fit just now on the same listening"
                return Verdict(not reasons, reasons, checks)
            live_model = load(resolve(models_dir, name, live))
            if checks["live_saw_test"]:  # scored on what it learnt from: its configuration refit before the cut
                live_model = _refit(store, name, live_meta, cut, live_model, checks)
            live_recs = live_model.recommend(users, k=config.k, exclude=heard)
            truth = test.filter(pl.col("user_id").is_in(users))
            metric = f"ndcg@{config.k}"
            result = paired(per_user(live_recs, truth, config.k), per_user(cand_recs, truth, config.k), metric)
            checks["quality"] = result.as_dict()
            drop = -result.diff / result.mean_a if result.mean_a > 0 else (1.0 if result.diff < 0 else 0.0)
            checks["relative_drop"] = round(drop, 4)
            if drop > config.max_drop and result.wilcoxon_p < config.alpha:
                reasons.append(f"quality: {metric} {result.mean_b:.4f} against the live {live}'s {result.mean_a:.4f}, "
                               f"{drop:.0%} worse (bound {config.max_drop:.0%}; 95 % interval of the difference "
                               f"[{result.ci_low:.4f}, {result.ci_high:.4f}], Wilcoxon p {result.wilcoxon_p:.2g}, "
                               f"{result.users} listeners)")
    return Verdict(not reasons, reasons, checks)


def _same_fit(live: dict[str, Any], candidate: dict[str, Any], cut: datetime) -> bool:
    """Whether ``candidate`` was fit with ``live``'s parameters on the listening before ``cut``: refitting the live
    configuration there, with this code, would train the candidate again."""
    until = candidate.get("data", {}).get("until")
    return (until is not None and _aware(datetime.fromisoformat(until)) == cut
            and live.get("params") == candidate.get("params"))


def _aware(moment: datetime) -> datetime:
    """``moment`` with a time zone (the store's times are UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refit(store: Any, name: str, meta: dict[str, Any], cut: datetime, model: Any, checks: dict[str, Any]) -> Any:
    """The live version's configuration trained on the listening before ``cut`` (the version itself when its
    configuration no longer builds, and the checks say so)."""
    from tastemaker.candidates.catalogue import create
    from tastemaker.candidates.data import TrainingData

    params = {k: v for k, v in meta.get("params", {}).items() if k != "model"}
    try:
        refit = create(name, **params)
    except ValueError as exc:
        checks["live_refit"] = f"not possible ({exc}): the live version itself was scored"
        return model
    refit.fit(TrainingData.from_store(store, until=cut))
    checks["live_refit"] = True
    return refit


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String, "score": pl.Float64, "rank": pl.Int64})


def _validity(recs: pl.DataFrame, heard: pl.DataFrame, users: list[str], store: Any, k: int, n_items: int,
              checks: dict[str, Any]) -> list[str]:
    """Every list full, without duplicates, heard tracks or tracks outside the catalogue."""
    problems = []
    sizes = recs.group_by("user_id").agg(pl.len().alias("n"), pl.col("item_id").n_unique().alias("distinct"))
    missing = len(set(users) - set(sizes["user_id"].to_list()))
    short = sizes.filter(pl.col("n") < min(k, n_items)).height + missing
    doubled = sizes.filter(pl.col("distinct") < pl.col("n")).height
    reheard = recs.join(heard, on=["user_id", "item_id"], how="semi").height
    tracks = store.entities("tracks") if "tracks" in store.table_names() else None
    unknown = (recs.join(tracks.select(pl.col("track_id").alias("item_id")), on="item_id", how="anti").height
               if tracks is not None and tracks.height else 0)
    nonfinite = recs.filter(~pl.col("score").is_finite()).height if "score" in recs.columns else 0
    checks["validity"] = {"lists": len(users), "short": short, "with_duplicates": doubled,
                          "heard_items": reheard, "unknown_items": unknown, "non_finite_scores": nonfinite}
    for count, what in ((short, "lists shorter than k"), (doubled, "lists with a duplicate"),
                        (reheard, "items the listener had heard"), (unknown, "items outside the catalogue"),
                        (nonfinite, "non-finite scores")):
        if count:
            problems.append(f"validity: {count} {what} (of {len(users)} lists)")
    return problems


def _latency(model: Any, users: list[str], config: GateConfig, checks: dict[str, Any]) -> list[str]:
    """The candidate's one-listener ``recommend`` time, p99 over ``latency_samples`` calls."""
    if not users:
        return []
    rng = np.random.default_rng(config.seed + 1)
    picks = rng.choice(users, min(config.latency_samples, max(len(users), 1) * 10), replace=True)
    model.recommend([str(picks[0])], k=config.k)  # warm: first-call caches are not the steady state
    times = []
    for user in picks:
        started = time.perf_counter()
        model.recommend([str(user)], k=config.k)
        times.append((time.perf_counter() - started) * 1000)
    p99 = float(np.percentile(times, 99))
    checks["latency_ms"] = {"p50": round(float(np.percentile(times, 50)), 2), "p99": round(p99, 2),
                            "calls": len(times), "budget": config.latency_ms}
    if p99 > config.latency_ms:
        return [f"latency: recommend p99 {p99:.1f} ms over the budget of {config.latency_ms:g} ms"]
    return []
