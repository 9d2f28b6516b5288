"""Fixed-horizon statistics of an A/B test: effects with intervals, CUPED, SRM, corrections, guardrails.

Every comparison returns an :class:`Effect` of treatment ``b`` against control ``a``: the difference
``B − A`` with a two-sided ``1 − alpha`` interval and p-value, and the relative lift ``B / A − 1`` with
a delta-method interval. Users are the unit of randomization and of analysis throughout.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(10, 2, 5_000), rng.normal(10.2, 2, 5_000)
    >>> e = welch(a, b, metric="minutes")
    >>> e.ci_low < 0.2 < e.ci_high, e.p_value < 0.05
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

__all__ = ["SRM", "Effect", "Guardrail", "LiftTrend", "adjust", "cuped", "guardrail", "lift_by_period",
           "ratio", "srm", "welch"]


@dataclass(frozen=True)
class Effect:
    """Treatment ``b`` against control ``a`` on one metric.

    ``diff`` is ``mean_b − mean_a`` with a two-sided ``1 − alpha`` interval ``[ci_low, ci_high]`` and its
    p-value; ``rel_lift`` is ``diff / mean_a`` with a delta-method interval ``[rel_ci_low, rel_ci_high]``
    (NaN when ``mean_a`` is 0).
    """

    metric: str
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    rel_lift: float
    rel_ci_low: float
    rel_ci_high: float
    alpha: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero (``p_value < alpha``)."""
        return self.p_value < self.alpha

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain JSON-able form."""
        return asdict(self)


@dataclass(frozen=True)
class SRM:
    """Sample-ratio-mismatch check: Pearson chi-square against the planned shares."""

    chi2: float
    p_value: float
    mismatch: bool


def _values(x: ArrayLike, name: str, min_n: int = 2) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one value per user (1-D), got shape {arr.shape}")
    if arr.size < min_n:
        raise ValueError(f"{name} needs at least {min_n} users, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; drop or impute them first")
    return arr


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _rel_se(mean_a: float, mean_b: float, var_a: float, var_b: float) -> float:
    """Delta-method standard error of ``mean_b / mean_a − 1`` for independent arms."""
    return float(np.sqrt(var_b / mean_a**2 + mean_b**2 * var_a / mean_a**4))


def _effect(metric: str, mean_a: float, mean_b: float, var_a: float, var_b: float, n_a: int, n_b: int,
            alpha: float, df: float) -> Effect:
    """Build an :class:`Effect` from arm means and the variances of those means (t with ``df``, or normal)."""
    # scipy.special's t and normal functions: the values of scipy.stats without its per-call overhead
    finite = bool(np.isfinite(df))
    crit = float(special.stdtrit(df, 1.0 - alpha / 2.0) if finite else special.ndtri(1.0 - alpha / 2.0))
    diff = mean_b - mean_a
    se = float(np.sqrt(var_a + var_b))
    if se > 0:
        z = abs(diff) / se
        p = float(2.0 * (special.stdtr(df, -z) if finite else special.ndtr(-z)))
    else:
        p = 1.0 if diff == 0 else 0.0
    if mean_a != 0:
        rel, rse = diff / mean_a, _rel_se(mean_a, mean_b, var_a, var_b)
    else:
        rel = rse = float("nan")
    return Effect(metric, float(mean_a), float(mean_b), int(n_a), int(n_b), float(diff), diff - crit * se,
                  diff + crit * se, p, float(rel), float(rel - crit * rse), float(rel + crit * rse),
                  float(alpha))


def _moments(x: np.ndarray) -> tuple[int, float, float]:
    """Count, mean and variance of the mean (sample variance with ddof=1, over n)."""
    return x.size, float(x.mean()), float(x.var(ddof=1) / x.size)


def welch(a: ArrayLike, b: ArrayLike, *, alpha: float = 0.05, metric: str = "metric") -> Effect:
    """Welch's unequal-variance t-test of the per-user values of control ``a`` and treatment ``b``.

    The interval and p-value use the t distribution with Welch–Satterthwaite degrees of freedom,
    the same as ``scipy.stats.ttest_ind(b, a, equal_var=False)``.

    Example:
        >>> welch([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]).diff
        1.0
    """
    _check_alpha(alpha)
    x, y = _values(a, "a"), _values(b, "b")
    (n_a, m_a, v_a), (n_b, m_b, v_b) = _moments(x), _moments(y)
    if v_a + v_b > 0:
        df = (v_a + v_b) ** 2 / (v_a**2 / (n_a - 1) + v_b**2 / (n_b - 1))
    else:
        df = float(n_a + n_b - 2)
    return _effect(metric, m_a, m_b, v_a, v_b, n_a, n_b, alpha, df)


def _ratio_arm(num: np.ndarray, den: np.ndarray, arm: str) -> tuple[int, float, float]:
    """Count, ratio ``sum(num) / sum(den)`` and its delta-method variance for one arm."""
    if num.size != den.size:
        raise ValueError(f"num_{arm} and den_{arm} must have one value per user each, "
                         f"got {num.size} and {den.size}")
    mean_den = float(den.mean())
    if mean_den <= 0:
        raise ValueError(f"den_{arm} must have a positive mean (e.g. plays per user), got {mean_den}")
    r = float(num.sum() / den.sum())
    linear = (num - r * den) / mean_den
    return num.size, r, float(linear.var(ddof=1) / num.size)


def ratio(num_a: ArrayLike, den_a: ArrayLike, num_b: ArrayLike, den_b: ArrayLike, *, alpha: float = 0.05,
          metric: str = "ratio") -> Effect:
    """Ratio metric ``sum(num) / sum(den)`` per arm (e.g. skips / plays) with users as the unit.

    The variance of each arm's ratio is the delta-method (linearization) variance
    ``Var(num − R·den) / (n · mean(den)²)``, which accounts for the correlation of a user's events;
    intervals and p-values are normal.

    Example:
        >>> e = ratio([1, 2, 0, 3], [4, 4, 2, 6], [2, 2, 1, 3], [4, 4, 2, 6], metric="skip rate")
        >>> round(e.mean_a, 3), round(e.mean_b, 3)
        (0.375, 0.5)
    """
    _check_alpha(alpha)
    n_a, r_a, v_a = _ratio_arm(_values(num_a, "num_a"), _values(den_a, "den_a"), "a")
    n_b, r_b, v_b = _ratio_arm(_values(num_b, "num_b"), _values(den_b, "den_b"), "b")
    return _effect(metric, r_a, r_b, v_a, v_b, n_a, n_b, alpha, float("inf"))


def cuped(a: ArrayLike, a_pre: ArrayLike, b: ArrayLike, b_pre: ArrayLike, *, alpha: float = 0.05,
          metric: str = "metric") -> Effect:
    """CUPED: Welch's test on ``y − θ·(x − mean(x))`` with ``x`` the same metric before the experiment.

    ``θ = Cov(y, x) / Var(x)`` is pooled over both arms (the pre-period is unaffected by treatment),
    so the adjustment removes the share ``ρ²`` of the variance that the pre-period explains
    (Deng, Xu, Kohavi & Walker, WSDM 2013). The reported means are the adjusted ones; their
    difference estimates the same effect as :func:`welch` with a narrower interval.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> pre = rng.normal(10, 3, 4_000)
        >>> post = pre + rng.normal(0, 1, 4_000)
        >>> plain = welch(post[:2000], post[2000:])
        >>> adj = cuped(post[:2000], pre[:2000], post[2000:], pre[2000:])
        >>> adj.ci_high - adj.ci_low < 0.5 * (plain.ci_high - plain.ci_low)
        True
    """
    y_a, x_a, y_b, x_b = (_values(v, n) for v, n in ((a, "a"), (a_pre, "a_pre"), (b, "b"), (b_pre, "b_pre")))
    if x_a.size != y_a.size or x_b.size != y_b.size:
        raise ValueError("a_pre and b_pre must hold one pre-period value for each user of a and b")
    y, x = np.concatenate([y_a, y_b]), np.concatenate([x_a, x_b])
    var_x = float(x.var(ddof=1))
    theta = float(np.cov(y, x, ddof=1)[0, 1] / var_x) if var_x > 0 else 0.0
    mean_x = float(x.mean())
    return welch(y_a - theta * (x_a - mean_x), y_b - theta * (x_b - mean_x), alpha=alpha, metric=metric)


def srm(counts: Sequence[int], shares: Sequence[float], *, threshold: float = 0.001) -> SRM:
    """Sample-ratio-mismatch check: do the users per arm match the planned ``shares``?

    Pearson's chi-square test with ``len(counts) − 1`` degrees of freedom; ``shares`` are normalized
    to sum to one. A mismatch (``p < threshold``, 0.001 by convention) means assignment or logging is
    broken and the experiment's effects should not be trusted.

    Example:
        >>> srm([821_588, 815_482], [0.5, 0.5]).mismatch
        True
    """
    obs = np.asarray(counts, dtype=np.float64)
    planned = np.asarray(shares, dtype=np.float64)
    if obs.ndim != 1 or obs.size < 2 or obs.shape != planned.shape:
        raise ValueError(f"counts and shares need one entry per arm (at least two), got {obs.shape} and "
                         f"{planned.shape}")
    if np.any(obs < 0) or np.any(planned <= 0):
        raise ValueError("counts must be non-negative and shares positive")
    expected = obs.sum() * planned / planned.sum()
    chi2 = float(((obs - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(chi2, obs.size - 1))
    return SRM(chi2, p, p < threshold)


def adjust(p_values: ArrayLike, method: str = "holm") -> np.ndarray:
    """Adjusted p-values: ``"holm"`` (family-wise error) or ``"bh"`` (false discovery rate).

    Reject hypothesis ``i`` at level ``alpha`` when ``adjust(p)[i] <= alpha``. Values are those of
    ``statsmodels.stats.multitest.multipletests`` with ``holm`` / ``fdr_bh``.

    Example:
        >>> adjust([0.01, 0.04, 0.03], "holm").round(3).tolist()
        [0.03, 0.06, 0.06]
        >>> adjust([0.01, 0.04, 0.03], "bh").round(3).tolist()
        [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p_values must be a 1-D sequence of numbers in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    rank = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate((m - rank + 1) * ranked)
    elif method == "bh":
        adj = np.minimum.accumulate((m / rank * ranked)[::-1])[::-1]
    else:
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


@dataclass(frozen=True)
class Guardrail:
    """A "do no harm" verdict; truthy when the metric passed.

    ``worst_rel`` is the interval end on the harmful side of the relative lift; the check passes
    when that end stays within ``max_harm_rel`` of no change.
    """

    metric: str
    passed: bool
    worst_rel: float
    max_harm_rel: float
    higher_is_better: bool

    def __bool__(self) -> bool:
        return self.passed


def guardrail(effect: Effect, max_harm_rel: float, *, higher_is_better: bool = True) -> Guardrail:
    """Non-inferiority check: pass only if the interval rules out a harm larger than ``max_harm_rel``.

    For a metric where higher is better (minutes, retention) harm is a drop: the check passes when
    ``rel_ci_low > −max_harm_rel``. For one where lower is better (skip rate, latency) it passes when
    ``rel_ci_high < max_harm_rel``. Using the two-sided ``1 − alpha`` interval makes this a one-sided
    test at level ``alpha / 2``. An inconclusive, wide interval fails: absence of evidence of harm is
    not evidence of no harm.

    Example:
        >>> e = Effect("minutes", 100, 99.5, 10**5, 10**5, -0.5, -0.9, -0.1, 0.01,
        ...            -0.005, -0.009, -0.001, 0.05)
        >>> bool(guardrail(e, 0.01)), bool(guardrail(e, 0.005))
        (True, False)
    """
    if not max_harm_rel >= 0:
        raise ValueError(f"max_harm_rel must be a non-negative relative margin (0.01 = 1 %), "
                         f"got {max_harm_rel}")
    if higher_is_better:
        worst, passed = effect.rel_ci_low, effect.rel_ci_low > -max_harm_rel
    else:
        worst, passed = effect.rel_ci_high, effect.rel_ci_high < max_harm_rel
    return Guardrail(effect.metric, bool(passed), float(worst), float(max_harm_rel), higher_is_better)


@dataclass(frozen=True)
class LiftTrend:
    """Relative lift per period and a weighted linear trend of it over the periods.

    ``slope`` is the change of the relative lift per unit of ``periods`` with a ``1 − alpha``
    interval; ``fading`` is true when the interval shows the lift shrinking toward zero
    (a novelty effect) rather than holding or growing.
    """

    periods: tuple[float, ...]
    effects: tuple[Effect, ...]
    intercept: float
    slope: float
    slope_ci_low: float
    slope_ci_high: float
    fading: bool

    def lift_at(self, period: float) -> float:
        """The trend's relative lift at ``period``."""
        return self.intercept + self.slope * period


def lift_by_period(values_a: Sequence[ArrayLike], values_b: Sequence[ArrayLike], periods: Sequence[float], *,
                   alpha: float = 0.05, metric: str = "metric") -> LiftTrend:
    """Novelty / lift-decay tracking: a Welch effect per period and the trend of the relative lift.

    ``values_a[k]`` and ``values_b[k]`` are the per-user values of period ``periods[k]`` (e.g. week 0, 1, 2).
    The trend is an inverse-variance weighted least-squares line of ``rel_lift`` on the period; its
    slope's standard error is inflated by the residual dispersion when the points scatter more than
    their own errors allow (``chi²/(k − 2) > 1``), so a curved decay does not give a falsely narrow
    interval. The interval is normal.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(2)
        >>> a = [rng.normal(100, 20, 4_000) for _ in range(4)]
        >>> b = [rng.normal(100 * (1 + lift), 20, 4_000) for lift in (0.08, 0.05, 0.03, 0.01)]
        >>> lift_by_period(a, b, [0, 1, 2, 3]).fading
        True
    """
    _check_alpha(alpha)
    x = np.asarray(periods, dtype=np.float64)
    if not len(values_a) == len(values_b) == x.size or x.size < 2 or np.unique(x).size < 2:
        raise ValueError("values_a, values_b and periods need one entry per period, "
                         "at least two distinct periods")
    effects, rel_se = [], []
    for k in range(x.size):
        xa, xb = _values(values_a[k], f"values_a[{k}]"), _values(values_b[k], f"values_b[{k}]")
        effects.append(welch(xa, xb, alpha=alpha, metric=metric))
        (_, m_a, v_a), (_, m_b, v_b) = _moments(xa), _moments(xb)
        rel_se.append(_rel_se(m_a, m_b, v_a, v_b))
    y = np.array([e.rel_lift for e in effects])
    w = 1.0 / np.square(rel_se)
    if not np.all(np.isfinite(w)) or not np.all(np.isfinite(y)):
        raise ValueError("every period needs a non-zero control mean and some spread in the values")
    x_bar, y_bar = np.average(x, weights=w), np.average(y, weights=w)
    sxx = float(np.sum(w * (x - x_bar) ** 2))
    slope = float(np.sum(w * (x - x_bar) * (y - y_bar)) / sxx)
    intercept = float(y_bar - slope * x_bar)
    dispersion = 1.0
    if x.size > 2:
        dispersion = max(1.0, float(np.sum(w * (y - intercept - slope * x) ** 2)) / (x.size - 2))
    half = float(stats.norm.ppf(1 - alpha / 2) * np.sqrt(dispersion / sxx))
    lo, hi = slope - half, slope + half
    overall = y_bar
    fading = bool((overall > 0 and hi < 0) or (overall < 0 and lo > 0))
    return LiftTrend(tuple(float(p) for p in x), tuple(effects), intercept, slope, lo, hi, fading)
