"""Always-valid inference for a difference in means: the mixture sequential probability ratio test (mSPRT).

A fixed-horizon test checked every day has a false-positive rate far above its ``alpha``. The mSPRT of
Johari, Koomen, Pekelis & Walsh ("Peeking at A/B Tests", KDD 2017; "Always Valid Inference", Operations
Research 2022) mixes the likelihood ratio of ``θ = mean_b − mean_a`` over a normal prior ``N(0, τ²)``.
With ``V`` the variance of the observed difference ``Δ``:

    Λ = sqrt(V / (V + τ²)) · exp(Δ² τ² / (2 V (V + τ²)))

``Λ`` is a nonnegative martingale under ``θ = 0``, so by Ville's inequality ``P(sup Λ ≥ 1/alpha) ≤ alpha``:
the p-value ``min(1, 1/Λ)`` (running minimum over looks) and the matching confidence sequence can be
checked after every user. ``V`` uses the sample variances seen so far (a plug-in, as in the paper's
deployment), which is accurate once each arm has a few hundred users.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(10, 2, 20_000), rng.normal(10.1, 2, 20_000)
    >>> path = msprt_path(a, b, looks=40)
    >>> path.rejected, path.first_rejection is not None
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

__all__ = ["DEFAULT_TAU_SD", "Sequential", "SequentialPath", "msprt", "msprt_path", "planned_tau2"]

DEFAULT_TAU_SD = 0.05
"""Default prior scale: ``τ = 0.05`` pooled standard deviations of the metric (see :func:`planned_tau2`)."""


@dataclass(frozen=True)
class Sequential:
    """The mSPRT at one look: the difference, an always-valid interval and p-value, and the decision."""

    n_a: int
    n_b: int
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    likelihood_ratio: float
    reject: bool
    tau2: float
    alpha: float


@dataclass(frozen=True)
class SequentialPath:
    """The mSPRT at every look: p-values are running minima and intervals running intersections.

    ``likelihood_ratio`` is the mixture ratio ``Λ`` at each look (not a running maximum).
    """

    n_a: np.ndarray
    n_b: np.ndarray
    diff: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    likelihood_ratio: np.ndarray
    tau2: float
    alpha: float

    @property
    def rejected(self) -> bool:
        """Whether the test stopped for an effect at some look."""
        return bool(self.p_value[-1] < self.alpha)

    @property
    def first_rejection(self) -> int | None:
        """Index of the first look with ``p < alpha``, or None."""
        hits = np.flatnonzero(self.p_value < self.alpha)
        return int(hits[0]) if hits.size else None

    def at(self, look: int) -> Sequential:
        """The state after ``look`` (an index into the looks; -1 is the last)."""
        return Sequential(int(self.n_a[look]), int(self.n_b[look]), float(self.diff[look]),
                          float(self.ci_low[look]), float(self.ci_high[look]), float(self.p_value[look]),
                          float(self.likelihood_ratio[look]), bool(self.p_value[look] < self.alpha),
                          self.tau2, self.alpha)


def planned_tau2(sd: float, n_per_arm: int, *, alpha: float = 0.05, ratio: float = 1.0) -> float:
    """The ``τ²`` that makes the confidence sequence narrowest at a planned sample size.

    The half-width at variance ``V`` is ``sqrt(2 V (1 + 1/u) (log(1/alpha) + log(1 + u)/2))`` with
    ``u = τ²/V``; this minimizes it over ``u`` at ``V = sd² (1/n + 1/(ratio·n))``. For alpha = 0.05 the
    optimum is ``τ² ≈ 8.2 V``.

    Example:
        >>> round(planned_tau2(1.0, 5_000) ** 0.5, 3)
        0.057
    """
    if sd <= 0 or n_per_arm < 1 or ratio <= 0:
        raise ValueError("sd, n_per_arm and ratio must be positive")
    var = sd**2 * (1.0 / n_per_arm + 1.0 / (ratio * n_per_arm))
    log_a = np.log(1.0 / alpha)
    res = optimize.minimize_scalar(lambda lu: (1 + np.exp(-lu)) * (log_a + 0.5 * np.log1p(np.exp(lu))),
                                   bounds=(-5.0, 10.0), method="bounded")
    return float(np.exp(res.x) * var)


def _mixture(diff: np.ndarray, var: np.ndarray, tau2: float, alpha: float) -> tuple[np.ndarray, ...]:
    """Log likelihood ratio, and the half-width of the ``1 − alpha`` confidence sequence, per look."""
    log_lr = 0.5 * np.log(var / (var + tau2)) + diff**2 * tau2 / (2.0 * var * (var + tau2))
    half = np.sqrt(var * (var + tau2) / tau2 * (2.0 * np.log(1.0 / alpha) + np.log((var + tau2) / var)))
    return log_lr, half


def _stream(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a 1-D array of at least two finite per-user values (arrival order)")
    return arr


def _cumulative(x: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the mean of the first ``counts[k]`` values, for every k, in O(n)."""
    shifted = x - x[0]  # shifting keeps the running sums of squares well conditioned
    s1, s2 = np.cumsum(shifted)[counts - 1], np.cumsum(shifted**2)[counts - 1]
    mean = s1 / counts
    var = np.maximum(s2 - counts * mean**2, 0.0) / (counts - 1)
    return mean + x[0], var / counts


def _default_tau2(x: np.ndarray, y: np.ndarray) -> float:
    pooled = 0.5 * (x.var(ddof=1) + y.var(ddof=1))
    return float((DEFAULT_TAU_SD**2) * pooled) if pooled > 0 else 1.0


def msprt_path(a: ArrayLike, b: ArrayLike, *, looks: int = 50, tau2: float | None = None, alpha: float = 0.05,
               min_n: int = 2) -> SequentialPath:
    """Run the mSPRT at ``looks`` equally spaced looks over the arrival-ordered streams ``a`` and ``b``.

    Look ``k`` (1..looks) sees the first ``ceil(k/looks)`` share of each arm, so unequal arms are
    handled; the last look sees everything. Looks where an arm has fewer than ``min_n`` users are
    dropped. ``tau2=None`` uses ``(0.05 · pooled sd)²`` from the full streams; for a planned horizon
    :func:`planned_tau2` is the better choice.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(3)
        >>> p = msprt_path(rng.normal(0, 1, 3_000), rng.normal(0, 1, 3_000), looks=30)
        >>> bool(np.all(np.diff(p.p_value) <= 0)), p.rejected
        (True, False)
    """
    x, y = _stream(a, "a"), _stream(b, "b")
    if looks < 1:
        raise ValueError(f"looks must be at least 1, got {looks}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    share = np.arange(1, looks + 1) / looks
    n_a = np.ceil(share * x.size).astype(np.int64)
    n_b = np.ceil(share * y.size).astype(np.int64)
    keep = (n_a >= max(min_n, 2)) & (n_b >= max(min_n, 2))
    n_a, n_b = n_a[keep], n_b[keep]
    if n_a.size == 0:
        raise ValueError("no look has min_n users in both arms; use fewer looks or a smaller min_n")
    t2 = _default_tau2(x, y) if tau2 is None else float(tau2)
    if t2 <= 0:
        raise ValueError(f"tau2 must be positive, got {tau2}")
    (m_a, v_a), (m_b, v_b) = _cumulative(x, n_a), _cumulative(y, n_b)
    diff, var = m_b - m_a, np.maximum(v_a + v_b, np.finfo(float).tiny)
    log_lr, half = _mixture(diff, var, t2, alpha)
    p = np.minimum.accumulate(np.minimum(1.0, np.exp(-log_lr)))
    lo = np.maximum.accumulate(diff - half)
    hi = np.minimum.accumulate(diff + half)
    return SequentialPath(n_a, n_b, diff, lo, hi, p, np.exp(log_lr), t2, alpha)


def msprt(a: ArrayLike, b: ArrayLike, *, tau2: float | None = None, alpha: float = 0.05) -> Sequential:
    """The mSPRT over the data seen so far (one look), as a dashboard would show it today.

    The p-value ``min(1, 1/Λ)`` and interval are valid at this look whatever the number of earlier
    looks; to carry the running minimum and intersection across looks use :func:`msprt_path` or
    keep the best values yourself. ``tau2=None`` uses ``(0.05 · pooled sd)²``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(4)
        >>> s = msprt(rng.normal(0, 1, 2_000), rng.normal(0, 1, 2_000), tau2=0.01)
        >>> s.reject, s.ci_low < 0 < s.ci_high
        (False, True)
    """
    x, y = _stream(a, "a"), _stream(b, "b")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    t2 = _default_tau2(x, y) if tau2 is None else float(tau2)
    if t2 <= 0:
        raise ValueError(f"tau2 must be positive, got {tau2}")
    diff = float(y.mean() - x.mean())
    var = max(float(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size), np.finfo(float).tiny)
    log_lr, half = (float(v) for v in _mixture(np.array(diff), np.array(var), t2, alpha))
    p = float(min(1.0, np.exp(-log_lr)))
    return Sequential(x.size, y.size, diff, diff - half, diff + half, p, float(np.exp(log_lr)), p < alpha, t2,
                      alpha)
