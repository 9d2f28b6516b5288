"""Off-policy evaluation: what a new policy would have earned, estimated from a logging policy's data.

Logged data is one row per decision ``i``: the context (a listener), the action shown, the
logging policy's probability ``p_i`` of that action, and the reward ``r_i`` (e.g. played ≥ 30 s).
With the target policy's probability ``π_i`` of the same action and weights ``w_i = π_i / p_i``:

- **IPS** (inverse propensity scoring): ``mean(w_i r_i)``; unbiased when every action the target
  may take had ``p > 0``, but noisy when weights are large.
- **SNIPS** (self-normalised): ``sum(w_i r_i) / sum(w_i)``; slightly biased, usually far less noisy.
- **DR** (doubly robust, Dudík, Langford and Li 2011):
  ``mean(Σ_a π(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)))`` with a reward model ``q``;
  unbiased if either the propensities or the model are right, and the better ``q``, the smaller
  the variance.

Intervals are normal approximations on the per-decision terms (SNIPS: the delta method), which
need enough decisions that the weights' tail is well sampled; ``ess`` (Kish's effective sample
size, ``(Σw)² / Σw²``) says how many decisions the estimate is effectively worth.

Example:
    >>> round(ips([1.0, 0.0], [0.5, 0.5], [1.0, 0.0]).value, 6)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow as pa
from scipy import stats

from tastemaker.domain import SKIP_THRESHOLD_MS

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True, slots=True)
class Estimate:
    """An off-policy estimate of a policy's mean reward per decision, with its interval."""

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_err: float
    n: int
    ess: float
    alpha: float

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain JSON-able form."""
        return asdict(self)


def _weights(rewards: ArrayLike, logging_propensity: ArrayLike,
             target_propensity: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rewards, float)
    p = np.asarray(logging_propensity, float)
    pi = np.asarray(target_propensity, float)
    if not r.ndim == 1 or r.size == 0 or p.shape != r.shape or pi.shape != r.shape:
        raise ValueError(f"rewards, logging_propensity and target_propensity must be 1-d of one length, "
                         f"got {r.shape}, {p.shape}, {pi.shape}")
    if not ((p > 0) & (p <= 1)).all():
        raise ValueError("logging_propensity must be in (0, 1]: an action logged with probability 0 "
                         "cannot be reweighted")
    if not ((pi >= 0) & (pi <= 1)).all():
        raise ValueError("target_propensity must be in [0, 1]")
    if not np.isfinite(r).all():
        raise ValueError("rewards must be finite")
    return r, pi / p


def _normal(name: str, terms: np.ndarray, w: np.ndarray, alpha: float,
            value: float | None = None) -> Estimate:
    """Estimate ``mean(terms)`` (or ``value``) with a normal interval from the terms' spread."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n = terms.size
    centre = float(terms.mean()) if value is None else value
    se = float(terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    z = float(stats.norm.ppf(1 - alpha / 2))
    ess = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0
    return Estimate(name, centre, centre - z * se, centre + z * se, se, n, ess, alpha)


def ips(rewards: ArrayLike, logging_propensity: ArrayLike, target_propensity: ArrayLike,
        *, alpha: float = 0.05) -> Estimate:
    """Inverse propensity scoring: ``mean(π_i / p_i * r_i)``.

    Example:
        >>> e = ips([1, 0, 1, 1], [0.5, 0.25, 0.5, 0.25], [1.0, 0.0, 0.5, 0.5])
        >>> round(e.value, 4)  # (2 + 0 + 1 + 2) / 4
        1.25
    """
    r, w = _weights(rewards, logging_propensity, target_propensity)
    return _normal("ips", w * r, w, alpha)


def snips(rewards: ArrayLike, logging_propensity: ArrayLike, target_propensity: ArrayLike,
          *, alpha: float = 0.05) -> Estimate:
    """Self-normalised IPS: ``Σ w_i r_i / Σ w_i``, delta-method interval.

    Example:
        >>> round(snips([1, 0, 1, 1], [0.5, 0.25, 0.5, 0.25], [1.0, 0.0, 0.5, 0.5]).value, 4)  # 5 / 5
        1.0
    """
    r, w = _weights(rewards, logging_propensity, target_propensity)
    if w.sum() <= 0:
        raise ValueError("the target policy gives probability 0 to every logged action: SNIPS is undefined")
    value = float((w * r).sum() / w.sum())
    return _normal("snips", w * (r - value) / w.mean() + value, w, alpha, value)


def dr(rewards: ArrayLike, logging_propensity: ArrayLike, logged: ArrayLike, target_probs: np.ndarray,
       predictions: np.ndarray, *, alpha: float = 0.05) -> Estimate:
    """Doubly robust estimate from a reward model's predictions for every action the target may take.

    Args:
        rewards: ``(n,)`` observed rewards.
        logging_propensity: ``(n,)`` logging probabilities of the logged actions.
        logged: ``(n,)`` column of the logged action in ``target_probs`` / ``predictions``.
        target_probs: ``(n, m)`` the target policy's probabilities over each decision's ``m`` actions
            (pad actions that do not exist with probability 0).
        predictions: ``(n, m)`` the reward model's predicted reward of every action.

    Example:
        >>> probs, preds = np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[0.5, 0.5], [0.5, 0.5]])
        >>> round(dr([1, 0], [0.5, 0.5], [0, 1], probs, preds).value, 4)  # ((.5 + 2 * .5) + (.5 - .5)) / 2
        0.75
    """
    probs, preds = np.asarray(target_probs, float), np.asarray(predictions, float)
    idx = np.asarray(logged, np.int64)
    if probs.ndim != 2 or preds.shape != probs.shape or idx.shape != (probs.shape[0],):
        raise ValueError(f"target_probs and predictions must be (n, m) and logged (n,), got {probs.shape}, "
                         f"{preds.shape}, {idx.shape}")
    if ((idx < 0) | (idx >= probs.shape[1])).any():
        raise ValueError(f"logged must index the {probs.shape[1]} action columns")
    rows = np.arange(idx.size)
    r, w = _weights(rewards, logging_propensity, probs[rows, idx])
    direct = (probs * preds).sum(axis=1)
    return _normal("dr", direct + w * (r - preds[rows, idx]), w, alpha)


def from_impressions(events: pl.DataFrame | pa.Table, *, propensity: str = "propensity",
                     min_ms: int = SKIP_THRESHOLD_MS, window: timedelta = timedelta(hours=1)) -> pl.DataFrame:
    """Logged decisions from ``impression`` events joined to the listen that followed each.

    The reward of an impression is 1 when the listener's first ``play``/``skip`` of the same item
    within ``window`` after it lasted at least ``min_ms``, else 0. Each impression is one decision
    (for lists: the item-position model, one decision per slot), with the logging probability
    read from column ``propensity``; the serving log does not write one yet (its lists are
    deterministic), so an exploring policy must add it.

    Returns:
        ``user_id, item_id, ts, position, propensity, reward`` in time order.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2024, 1, 1, tzinfo=UTC)
        >>> ev = pl.DataFrame({"user_id": ["u", "u"], "item_id": ["x", "x"], "type": ["impression", "play"],
        ...                    "ts": [t, t + timedelta(minutes=1)], "ms_played": [None, 60_000],
        ...                    "position": [1, None], "propensity": [0.2, None]})
        >>> from_impressions(ev)["reward"].to_list()
        [1]
    """
    frame = events if isinstance(events, pl.DataFrame) else pl.from_arrow(events)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError("events must be a Polars DataFrame or an Arrow table")
    if propensity not in frame.columns:
        raise ValueError(f"events have no {propensity!r} column: log the serving policy's probability of "
                         f"each impression there (the 'value' column holds the score, not a probability)")
    missing = [c for c in ("user_id", "item_id", "type", "ts", "ms_played") if c not in frame.columns]
    if missing:
        raise ValueError(f"events lack columns {missing}")
    ts = pl.col("ts").cast(pl.Datetime("us", "UTC"))
    position = pl.col("position") if "position" in frame.columns else pl.lit(None, pl.Int32)
    shown = frame.filter(pl.col("type") == "impression").select(
        "user_id", "item_id", ts, position.alias("position"),
        pl.col(propensity).cast(pl.Float64).alias("propensity")).sort("ts")
    valid = pl.col("propensity").is_between(0, 1, closed="right").fill_null(False)
    bad = shown.filter(~valid)
    if bad.height:
        raise ValueError(f"{bad.height} impressions have a propensity outside (0, 1] or none")
    listens = (frame.filter(pl.col("type").is_in(["play", "skip"]))
               .select("user_id", "item_id", ts.alias("listen_ts"), pl.col("ms_played").fill_null(0))
               .sort("listen_ts"))
    joined = shown.join_asof(listens, left_on="ts", right_on="listen_ts", by=["user_id", "item_id"],
                             strategy="forward", tolerance=window,
                             check_sortedness=False)  # both were sorted above
    return joined.select("user_id", "item_id", "ts", "position", "propensity",
                         (pl.col("ms_played").fill_null(0) >= min_ms).cast(pl.Int64).alias("reward"))
