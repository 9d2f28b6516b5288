"""Paired comparison of two models over the same users: is the difference real?"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from scipy import stats


@dataclass(frozen=True, slots=True)
class PairedResult:
    """Mean of B minus A over users, a bootstrap 95 % interval, and two paired tests' p-values."""

    metric: str
    users: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    t_p: float
    wilcoxon_p: float

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain JSON-able form."""
        return asdict(self)


def mean_interval(values: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A bootstrap 95 % interval (percentile) of the mean of ``values``, e.g. one metric per user.

    >>> mean_interval(per_user["ndcg@10"].to_numpy())  # doctest: +SKIP
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        raise ValueError(f"need at least two values for an interval, got {len(values)}")
    boots = values[np.random.default_rng(seed).integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    return float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def paired(a: pl.DataFrame, b: pl.DataFrame, metric: str = "ndcg@10", n_boot: int = 2000,
           seed: int = 0) -> PairedResult:
    """Compare per-user metric frames ``a`` and ``b`` (``user_id`` + metric columns) on shared users.

    >>> paired(per_user_als, per_user_ease).t_p  # doctest: +SKIP
    """
    joined = a.select("user_id", pl.col(metric).alias("a")).join(
        b.select("user_id", pl.col(metric).alias("b")), on="user_id", how="inner")
    if joined.height < 2:
        raise ValueError(f"need at least two shared users to compare, got {joined.height}")
    x, y = joined["a"].to_numpy(), joined["b"].to_numpy()
    d = y - x
    same = not np.any(d)
    return PairedResult(
        metric, len(d), float(x.mean()), float(y.mean()), float(d.mean()), *mean_interval(d, n_boot, seed),
        1.0 if same else float(stats.ttest_rel(y, x).pvalue),
        1.0 if same else float(stats.wilcoxon(y, x).pvalue),
    )
