"""Power planning against statsmodels and the published rule of thumb; the mSPRT against direct integration
and simulated peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.power import NormalIndPower

from tastemaker.experiments.power import duration_days, mde, power, ratio_sd, sample_size
from tastemaker.experiments.sequential import msprt, msprt_path, planned_tau2
from tastemaker.experiments.stats import welch


@pytest.mark.parametrize(("n", "sd", "diff", "alpha", "ratio"),
                         [(1_000, 10.0, 1.0, 0.05, 1.0), (250, 3.0, -0.4, 0.01, 1.0),
                          (5_000, 80.0, 3.0, 0.1, 2.5), (40, 1.0, 0.05, 0.05, 0.5)])
def test_power_matches_statsmodels(n: int, sd: float, diff: float, alpha: float, ratio: float) -> None:
    ref = NormalIndPower().power(effect_size=abs(diff) / sd, nobs1=n, alpha=alpha, ratio=ratio)
    assert power(n, sd, diff, alpha=alpha, ratio=ratio) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize(("sd", "delta", "alpha", "target", "ratio"),
                         [(1.0, 0.1, 0.05, 0.8, 1.0), (45.0, 1.5, 0.05, 0.9, 1.0),
                          (2.0, 0.03, 0.01, 0.8, 3.0), (1.0, 0.8, 0.05, 0.8, 1.0)])
def test_sample_size_matches_statsmodels(sd: float, delta: float, alpha: float, target: float,
                                         ratio: float) -> None:
    ref = NormalIndPower().solve_power(effect_size=delta / sd, alpha=alpha, power=target, ratio=ratio)
    n = sample_size(sd, delta, alpha=alpha, power=target, ratio=ratio)
    assert n == math.ceil(ref - 1e-6)
    assert power(n, sd, delta, alpha=alpha, ratio=ratio) >= target
    assert power(n - 1, sd, delta, alpha=alpha, ratio=ratio) < target
    assert mde(ref, sd, alpha=alpha, power=target, ratio=ratio) == pytest.approx(delta, rel=1e-6)


def test_sample_size_follows_the_rule_of_thumb() -> None:
    """Published rule: n ≈ 16 σ²/Δ² users per variant for alpha 0.05 (two-sided) and power 0.8 —
    van Belle, "Statistical Rules of Thumb" (2002), ch. 2 (rule 2.3), as used in Kohavi, Tang & Xu,
    "Trustworthy Online Controlled Experiments" (2020), ch. 17. The exact normal answer is
    2 (1.95996 + 0.84162)² ≈ 15.70 σ²/Δ², within 2 % of 16."""
    for sd, delta in [(1.0, 0.1), (30.0, 0.5), (0.45, 0.01)]:
        rule = 16 * sd**2 / delta**2
        assert sample_size(sd, delta) == pytest.approx(rule, rel=0.02)
        assert sample_size(sd, delta) < rule


def test_ratio_sd_plans_a_ratio_metric() -> None:
    rng = np.random.default_rng(0)
    plays = rng.poisson(30, 20_000) + 1
    skips = rng.binomial(plays, rng.beta(1.2, 2.8, 20_000))
    sd = ratio_sd(skips, plays)
    r = skips.sum() / plays.sum()
    assert sd == pytest.approx(np.std(skips - r * plays, ddof=1) / plays.mean(), rel=1e-12)
    # simulate many experiments of 500 users: the ratio's spread is ratio_sd / sqrt(500)
    idx = rng.integers(0, 20_000, (3_000, 500))
    spread = (skips[idx].sum(1) / plays[idx].sum(1)).std()
    assert spread == pytest.approx(sd / math.sqrt(500), rel=0.06)


def test_duration_days() -> None:
    assert duration_days(10_000, 5_000) == 4
    assert duration_days(10_000, 5_000, arms=3) == 6
    assert duration_days(10_000, 5_000, share=0.5) == 8
    assert duration_days(10_000, 5_000, whole_weeks=True) == 7
    assert duration_days(15_000, 5_000, arms=2) == 6
    with pytest.raises(ValueError, match="daily_users"):
        duration_days(100, 0)


def test_planning_errors() -> None:
    with pytest.raises(ValueError, match="sd"):
        sample_size(0.0, 1.0)
    with pytest.raises(ValueError, match="mde"):
        sample_size(1.0, 0.0)
    with pytest.raises(ValueError, match="power"):
        sample_size(1.0, 0.1, power=0.01)


def test_mixture_likelihood_ratio_matches_numerical_integration() -> None:
    """Λ = ∫ N(Δ; θ, V) N(θ; 0, τ²) dθ / N(Δ; 0, V), the definition in Johari et al. (2017)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(5, 2, 800), rng.normal(5.3, 2.5, 900)
    tau2 = 0.04
    s = msprt(a, b, tau2=tau2)
    diff = b.mean() - a.mean()
    v = a.var(ddof=1) / a.size + b.var(ddof=1) / b.size
    def joint(t: float) -> float:
        return stats.norm.pdf(diff, t, math.sqrt(v)) * stats.norm.pdf(t, 0, math.sqrt(tau2))

    num, _ = integrate.quad(joint, -3, 3, points=[0.0, diff], epsabs=1e-14)
    lr = num / stats.norm.pdf(diff, 0, math.sqrt(v))
    assert s.likelihood_ratio == pytest.approx(lr, rel=1e-6)
    assert s.p_value == pytest.approx(min(1.0, 1 / lr), rel=1e-6)
    # the interval's ends are where the ratio against a shifted null reaches 1/alpha
    for end in (s.ci_low, s.ci_high):
        shifted = msprt(a, b - end, tau2=tau2)
        assert shifted.likelihood_ratio == pytest.approx(1 / 0.05, rel=1e-6)


def test_path_last_look_is_the_single_look() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.lognormal(3, 1, 3_001), rng.lognormal(3, 1, 2_500)
    path = msprt_path(a, b, looks=7, tau2=2.0)
    single = msprt(a, b, tau2=2.0)
    assert (path.n_a[-1], path.n_b[-1]) == (3_001, 2_500)
    assert path.diff[-1] == pytest.approx(single.diff, rel=1e-9)
    assert path.likelihood_ratio[-1] == pytest.approx(single.likelihood_ratio, rel=1e-6)
    mid = msprt(a[: path.n_a[3]], b[: path.n_b[3]], tau2=2.0)
    assert path.likelihood_ratio[3] == pytest.approx(mid.likelihood_ratio, rel=1e-6)
    assert np.all(np.diff(path.p_value) <= 0) and np.all(np.diff(path.ci_high - path.ci_low) <= 0)


def test_msprt_keeps_alpha_under_continuous_peeking() -> None:
    rng = np.random.default_rng(3)
    runs, n, looks = 300, 5_000, 50
    seq = naive = 0
    for _ in range(runs):
        a, b = rng.lognormal(3, 1, n) * (rng.random(n) < 0.7), rng.lognormal(3, 1, n) * (rng.random(n) < 0.7)
        seq += msprt_path(a, b, looks=looks).rejected
        naive += any(welch(a[:k], b[:k]).p_value < 0.05 for k in range(n // looks, n + 1, n // looks))
    assert seq / runs <= 0.05
    assert naive / runs > 0.12  # peeking at a fixed-horizon test does inflate the error


def test_msprt_detects_a_real_effect_and_covers_it() -> None:
    rng = np.random.default_rng(4)
    hits = covered = 0
    for _ in range(50):
        a, b = rng.normal(10, 2, 10_000), rng.normal(10.1, 2, 10_000)  # fixed-horizon power 0.94
        path = msprt_path(a, b, looks=50, tau2=planned_tau2(2.0, 10_000))
        hits += path.rejected
        covered += bool(np.all((path.ci_low <= 0.1) & (0.1 <= path.ci_high)))
    assert hits >= 30
    assert covered >= 47


def test_planned_tau2_gives_the_narrowest_interval_at_the_horizon() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 3, 4_000), rng.normal(0, 3, 4_000)
    tau2 = planned_tau2(3.0, 4_000)
    width = {k: (s := msprt(a, b, tau2=tau2 * k)).ci_high - s.ci_low for k in (0.5, 1.0, 2.0)}
    assert width[1.0] < width[0.5] and width[1.0] < width[2.0]
    with pytest.raises(ValueError, match="tau2"):
        msprt(a, b, tau2=0.0)
