"""Planning an A/B test: power, sample size, minimum detectable effect and duration.

A two-sided test of a difference in means with the normal approximation, the same model as
``statsmodels.stats.power.NormalIndPower`` (both rejection tails counted). ``sd`` is the per-user
standard deviation of the metric; for a ratio metric (skips / plays) pass the delta-method
standard deviation from :func:`ratio_sd`; for a CUPED analysis pass ``sd · sqrt(1 − ρ²)``.

Example:
    >>> n = sample_size(sd=30.0, mde=1.0)        # minutes per user: detect +1 minute
    >>> n, round(power(n, 30.0, 1.0), 3), duration_days(n, daily_users=20_000)
    (14128, 0.8, 2)
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

__all__ = ["duration_days", "mde", "power", "ratio_sd", "sample_size"]


def _check(sd: float, alpha: float, ratio: float) -> None:
    if not sd > 0:
        raise ValueError(f"sd must be positive, got {sd}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not ratio > 0:
        raise ValueError(f"ratio (treatment users per control user) must be positive, got {ratio}")


def power(n_per_arm: float, sd: float, diff: float, *, alpha: float = 0.05, ratio: float = 1.0) -> float:
    """Probability that a two-sided test at ``alpha`` detects a true difference ``diff``.

    ``n_per_arm`` users in control and ``ratio · n_per_arm`` in treatment, per-user sd ``sd``.

    Example:
        >>> round(power(1_000, 10.0, 1.0), 4)
        0.6088
    """
    _check(sd, alpha, ratio)
    if not n_per_arm > 0:
        raise ValueError(f"n_per_arm must be positive, got {n_per_arm}")
    return _power(n_per_arm, sd, diff, alpha, ratio)


def _power(n: float, sd: float, diff: float, alpha: float, ratio: float) -> float:
    shift = abs(diff) / (sd * math.sqrt(1.0 / n + 1.0 / (ratio * n)))
    crit = stats.norm.isf(alpha / 2.0)
    return float(stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift))


def _exact_n(sd: float, mde: float, alpha: float, target: float, ratio: float) -> float:
    """Real-valued control-arm size reaching ``target`` power (the one-tail formula, then refined)."""
    z = stats.norm.isf(alpha / 2.0) + stats.norm.ppf(target)
    n_one_tail = z**2 * sd**2 * (1.0 + 1.0 / ratio) / mde**2
    if _power(n_one_tail * 1e-6, sd, mde, alpha, ratio) >= target:
        return n_one_tail * 1e-6
    # the far tail only adds power, so the exact size is at most the one-tail one
    return float(optimize.brentq(lambda n: _power(n, sd, mde, alpha, ratio) - target,
                                 n_one_tail * 1e-6, n_one_tail, xtol=1e-10, rtol=1e-14))


def sample_size(sd: float, mde: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> int:
    """Users needed in the control arm to detect an absolute difference ``mde`` (treatment: ``ratio ×`` that).

    Rounded up. At alpha 0.05 and power 0.8 this is close to the rule of thumb ``16 σ²/Δ²``
    (exactly ``15.7 σ²/Δ²``).

    Example:
        >>> sample_size(sd=1.0, mde=0.1)
        1570
    """
    _check(sd, alpha, ratio)
    if not mde != 0 or not math.isfinite(mde):
        raise ValueError(f"mde must be a non-zero absolute difference, got {mde}")
    if not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1), got {power}")
    return math.ceil(_exact_n(sd, abs(mde), alpha, power, ratio) - 1e-9)


def mde(n_per_arm: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> float:
    """Smallest absolute difference detected with probability ``power`` at this size.

    Example:
        >>> round(mde(1570, 1.0), 4)
        0.1
    """
    _check(sd, alpha, ratio)
    if not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1), got {power}")
    se = sd * math.sqrt(1.0 / n_per_arm + 1.0 / (ratio * n_per_arm))
    hi = (stats.norm.isf(alpha / 2.0) + stats.norm.ppf(power)) * se
    return float(optimize.brentq(lambda d: _power(n_per_arm, sd, d, alpha, ratio) - power, 0.0, hi,
                                 xtol=1e-14 * max(hi, 1.0)))


def ratio_sd(num: ArrayLike, den: ArrayLike) -> float:
    """Per-user delta-method sd of the ratio ``sum(num) / sum(den)``, for planning ratio metrics.

    ``sd(num − R·den) / mean(den)``: the variance of the ratio over ``n`` users is ``ratio_sd² / n``,
    so ``sample_size(ratio_sd(skips, plays), mde)`` plans a skip-rate test from pre-period data.

    Example:
        >>> round(ratio_sd([1, 2, 0, 3], [4, 4, 2, 6]), 4)
        0.184
    """
    x, y = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError("num and den must be 1-D with one value per user (at least two users)")
    if not y.mean() > 0:
        raise ValueError("den must have a positive mean")
    r = x.sum() / y.sum()
    return float(np.std(x - r * y, ddof=1) / y.mean())


def duration_days(n_per_arm: int, daily_users: float, arms: int = 2, *, share: float = 1.0,
                  whole_weeks: bool = False) -> int:
    """Days until every arm has ``n_per_arm`` users.

    ``daily_users`` are *new* eligible users per day (returning users do not add); ``share`` is the
    part of them enrolled in the experiment. ``whole_weeks`` rounds up to full weeks so every
    weekday is equally represented, which listening behaviour usually calls for.

    Example:
        >>> duration_days(50_000, daily_users=12_000), duration_days(50_000, 12_000, whole_weeks=True)
        (9, 14)
    """
    if n_per_arm < 0 or arms < 1:
        raise ValueError("n_per_arm must be non-negative and arms at least 1")
    if not daily_users > 0 or not 0.0 < share <= 1.0:
        raise ValueError("daily_users must be positive and share in (0, 1]")
    days = math.ceil(n_per_arm * arms / (daily_users * share) - 1e-9)
    return 7 * math.ceil(days / 7) if whole_weeks else days
