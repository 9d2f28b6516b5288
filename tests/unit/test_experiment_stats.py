"""Fixed-horizon experiment statistics against scipy/statsmodels, published examples and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.regression.linear_model import WLS
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from tastemaker.experiments.impact import Assumptions, impact
from tastemaker.experiments.stats import Effect, adjust, cuped, guardrail, lift_by_period, ratio, srm, welch


def _minutes(rng: np.random.Generator, n: int, active: float = 0.7, sigma: float = 1.0) -> np.ndarray:
    """Zero-inflated lognormal listening minutes per user."""
    return (rng.random(n) < active) * rng.lognormal(np.log(60.0), sigma, n)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_welch_matches_scipy_and_statsmodels(alpha: float) -> None:
    rng = np.random.default_rng(0)
    a, b = _minutes(rng, 700), _minutes(rng, 1_100, sigma=1.3) + 3.0
    e = welch(a, b, alpha=alpha, metric="minutes")
    ref = stats.ttest_ind(b, a, equal_var=False)
    lo, hi = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(alpha=alpha, usevar="unequal")
    assert e.p_value == pytest.approx(ref.pvalue, abs=1e-9, rel=1e-6)
    assert e.diff == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert (e.ci_low, e.ci_high) == pytest.approx((lo, hi), rel=1e-6, abs=1e-9)
    assert (e.n_a, e.n_b, e.metric, e.alpha) == (700, 1_100, "minutes", alpha)


def test_welch_on_students_sleep_data() -> None:
    """Published example: Cushny & Peebles' sleep data as printed by Student (1908), "The probable error
    of a mean", Biometrika 6(1), and shipped as R's ``datasets::sleep``. R's documented
    ``t.test(extra ~ group, data = sleep)`` (Welch) prints t = -1.8608, df = 17.776, p-value = 0.07939,
    95 % CI -3.3654832 0.2054832 for group 1 minus group 2, means 0.75 and 2.33. Here B − A = group 2 −
    group 1, so the signs flip.
    """
    group1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    group2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    e = welch(group1, group2)
    assert (e.mean_a, e.mean_b) == pytest.approx((0.75, 2.33))
    assert e.diff == pytest.approx(1.58)
    assert e.p_value == pytest.approx(0.07939, abs=5e-6)
    assert e.ci_low == pytest.approx(-0.2054832, abs=5e-7)
    assert e.ci_high == pytest.approx(3.3654832, abs=5e-7)


def test_relative_lift_interval_is_the_delta_method() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(50, 10, 2_000), rng.normal(52, 12, 3_000)
    e = welch(a, b)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(vb / a.mean() ** 2 + b.mean() ** 2 * va / a.mean() ** 4)
    crit = (e.ci_high - e.diff) / math.sqrt(va + vb)
    assert e.rel_lift == pytest.approx(b.mean() / a.mean() - 1, rel=1e-12)
    assert (e.rel_ci_low, e.rel_ci_high) == pytest.approx((e.rel_lift - crit * se, e.rel_lift + crit * se))


def test_welch_interval_covers_over_aa_draws() -> None:
    rng = np.random.default_rng(7)
    true_mean = 0.7 * 60.0 * math.exp(0.8**2 / 2)
    covered = 0
    for _ in range(2_000):
        a, b = _minutes(rng, 400, sigma=0.8), _minutes(rng, 400, sigma=0.8)
        e = welch(a, b)
        covered += e.ci_low <= 0.0 <= e.ci_high
        assert e.mean_a == pytest.approx(true_mean, rel=0.25)
    assert 0.935 <= covered / 2_000 <= 0.965


def _skips(rng: np.random.Generator, n: int, base: float) -> tuple[np.ndarray, np.ndarray]:
    """Plays and skips per user; each user has their own skip propensity, so events are correlated."""
    plays = rng.poisson(rng.gamma(2.0, 15.0, n)) + 1
    p_user = rng.beta(base * 4, (1 - base) * 4, n)
    return rng.binomial(plays, p_user).astype(float), plays.astype(float)


def test_ratio_variance_matches_the_direct_delta_formula() -> None:
    rng = np.random.default_rng(2)
    (sa, pa), (sb, pb) = _skips(rng, 1_500, 0.3), _skips(rng, 2_500, 0.32)
    e = ratio(sa, pa, sb, pb, metric="skip rate")

    def direct(x: np.ndarray, y: np.ndarray) -> float:
        mx, my, n = x.mean(), y.mean(), x.size
        cov = np.cov(x, y, ddof=1)
        return (cov[0, 0] / my**2 - 2 * mx * cov[0, 1] / my**3 + mx**2 * cov[1, 1] / my**4) / n

    se = math.sqrt(direct(sa, pa) + direct(sb, pb))
    z = stats.norm.ppf(0.975)
    assert (e.mean_a, e.mean_b) == pytest.approx((sa.sum() / pa.sum(), sb.sum() / pb.sum()), rel=1e-12)
    assert (e.ci_low, e.ci_high) == pytest.approx((e.diff - z * se, e.diff + z * se), rel=1e-6)
    assert e.p_value == pytest.approx(2 * stats.norm.sf(abs(e.diff) / se), rel=1e-6)


def test_ratio_standard_error_agrees_with_a_user_bootstrap() -> None:
    rng = np.random.default_rng(3)
    (sa, pa), (sb, pb) = _skips(rng, 2_000, 0.3), _skips(rng, 2_000, 0.3)
    e = ratio(sa, pa, sb, pb)
    se = (e.ci_high - e.ci_low) / (2 * stats.norm.ppf(0.975))
    ia, ib = rng.integers(0, 2_000, (2_000, 2_000)), rng.integers(0, 2_000, (2_000, 2_000))
    boot = sb[ib].sum(1) / pb[ib].sum(1) - sa[ia].sum(1) / pa[ia].sum(1)
    assert se == pytest.approx(boot.std(ddof=1), rel=0.06)
    # treating plays as independent trials would understate the error: the unit matters
    naive = math.sqrt(sum(r * (1 - r) / p.sum() for r, p in ((e.mean_a, pa), (e.mean_b, pb))))
    assert naive < 0.8 * se


def test_cuped_removes_rho_squared_of_the_variance() -> None:
    """Deng, Xu, Kohavi & Walker (WSDM 2013), section 3: with the optimal θ the adjusted metric's variance
    is Var(Y)(1 − ρ²), ρ the correlation of the metric with its pre-period value."""
    rng = np.random.default_rng(4)
    rho, n = 0.7, 20_000
    pre = rng.normal(100, 20, 2 * n)
    post = 100 + rho * (pre - 100) + rng.normal(0, 20 * math.sqrt(1 - rho**2), 2 * n)
    post[n:] += 1.0
    plain = welch(post[:n], post[n:])
    adj = cuped(post[:n], pre[:n], post[n:], pre[n:])
    reduction = ((adj.ci_high - adj.ci_low) / (plain.ci_high - plain.ci_low)) ** 2
    assert reduction == pytest.approx(1 - rho**2, abs=0.02)
    assert adj.ci_low < 1.0 < adj.ci_high
    assert adj.diff == pytest.approx(plain.diff, abs=3 * (plain.ci_high - plain.ci_low) / 3.92)


def test_cuped_with_an_uninformative_covariate_changes_little() -> None:
    rng = np.random.default_rng(5)
    a, b = _minutes(rng, 3_000), _minutes(rng, 3_000)
    e0 = welch(a, b)
    e1 = cuped(a, rng.normal(size=3_000), b, rng.normal(size=3_000))
    assert (e1.ci_high - e1.ci_low) == pytest.approx(e0.ci_high - e0.ci_low, rel=0.01)
    assert cuped(a, np.ones(3_000), b, np.ones(3_000)) == e0


def test_srm_matches_scipy_chisquare() -> None:
    counts, shares = [10_120, 9_870, 20_305], [0.25, 0.25, 0.5]
    ref = stats.chisquare(counts, np.array(shares) * sum(counts))
    res = srm(counts, shares)
    assert (res.chi2, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-9)
    assert srm(counts, [1, 1, 2]) == res
    assert not res.mismatch


def test_srm_on_the_published_example() -> None:
    """Kohavi, Tang & Xu, "Trustworthy Online Controlled Experiments" (2020), ch. 21 (Sample Ratio
    Mismatch): 821,588 vs 815,482 users with an equal split designed give p ≈ 1.8e-6. By hand: expected
    818,535 each, chi² = 2·3,053²/818,535 ≈ 22.77."""
    res = srm([821_588, 815_482], [0.5, 0.5])
    assert res.chi2 == pytest.approx(2 * 3_053**2 / 818_535, rel=1e-9)
    assert 1.7e-6 < res.p_value < 1.9e-6
    assert res.mismatch


@pytest.mark.parametrize(("method", "ref"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjust_matches_statsmodels(method: str, ref: str) -> None:
    rng = np.random.default_rng(6)
    p = np.concatenate([rng.random(30) ** 3, [0.01, 0.01, 0.5, 1.0, 0.0]])
    expected = multipletests(p, alpha=0.05, method=ref)[1]
    np.testing.assert_allclose(adjust(p, method), expected, rtol=1e-9, atol=1e-12)


def test_adjust_on_benjamini_hochberg_example() -> None:
    """Benjamini & Hochberg (1995), JRSS B 57(1), section 4.2: 15 p-values from a study of myocardial
    infarction treatment. At q = 0.05 the FDR procedure rejects the four smallest; by hand, Holm
    (Bonferroni step-down) stops at the fourth (0.0095 > 0.05/12) and rejects three."""
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
         0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]
    assert int((adjust(p, "bh") <= 0.05).sum()) == 4
    assert int((adjust(p, "holm") <= 0.05).sum()) == 3


def _effect(rel_lo: float, rel_hi: float) -> Effect:
    return Effect("m", 100.0, 100.0, 10, 10, 0.0, rel_lo * 100, rel_hi * 100, 1.0, (rel_lo + rel_hi) / 2,
                  rel_lo, rel_hi, 0.05)


def test_guardrail_is_a_non_inferiority_check() -> None:
    assert guardrail(_effect(-0.008, 0.004), 0.01)
    assert not guardrail(_effect(-0.015, 0.004), 0.01)
    assert not guardrail(_effect(-0.2, 0.3), 0.01)  # inconclusive is not safe
    assert guardrail(_effect(-0.2, 0.008), 0.01, higher_is_better=False)
    lower = guardrail(_effect(-0.2, 0.012), 0.01, higher_is_better=False)
    assert not lower and lower.worst_rel == 0.012
    with pytest.raises(ValueError, match="max_harm_rel"):
        guardrail(_effect(0, 0), -0.1)


def test_lift_by_period_finds_a_fading_novelty_effect() -> None:
    rng = np.random.default_rng(8)
    a = [rng.normal(100, 30, 5_000) for _ in range(5)]
    b = [rng.normal(100 * (1 + lift), 30, 5_000) for lift in (0.06, 0.04, 0.025, 0.015, 0.01)]
    trend = lift_by_period(a, b, [0, 1, 2, 3, 4], metric="minutes")
    assert trend.fading and trend.slope_ci_high < 0
    assert [e.rel_lift for e in trend.effects] == [welch(x, y).rel_lift for x, y in zip(a, b, strict=True)]
    steady = lift_by_period(a, [x * 1.03 + rng.normal(0, 1, x.size) for x in a], [0, 1, 2, 3, 4])
    assert not steady.fading and steady.slope_ci_low < 0 < steady.slope_ci_high


def test_lift_trend_is_weighted_least_squares() -> None:
    rng = np.random.default_rng(9)
    a = [rng.normal(100, 30, n) for n in (3_000, 2_000, 4_000, 1_000)]
    b = [rng.normal(100 * (1 + lift), 30, x.size) for lift, x in zip((0.08, 0.01, 0.05, 0.0), a, strict=True)]
    trend = lift_by_period(a, b, [1, 2, 3, 4])
    y = np.array([e.rel_lift for e in trend.effects])
    se = np.array([(e.rel_ci_high - e.rel_ci_low) / (2 * stats.t.ppf(0.975, _welch_df(x, z)))
                   for e, x, z in zip(trend.effects, a, b, strict=True)])
    X = np.column_stack([np.ones(4), [1, 2, 3, 4]])
    fit = WLS(y, X, weights=1 / se**2).fit()
    scale = max(1.0, fit.scale)
    ref = WLS(y, X, weights=1 / se**2).fit(cov_type="fixed scale", cov_kwds={"scale": scale})
    lo, hi = ref.conf_int(alpha=0.05)[1]
    assert trend.slope == pytest.approx(ref.params[1], rel=1e-6)
    assert (trend.slope_ci_low, trend.slope_ci_high) == pytest.approx((lo, hi), rel=1e-6)


def _welch_df(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    return (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))


def test_clear_errors_on_bad_input() -> None:
    with pytest.raises(ValueError, match="1-D"):
        welch(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        welch([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        welch([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="one value per user"):
        ratio([1, 2], [1, 2, 3], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="a_pre and b_pre"):
        cuped([1, 2, 3], [1, 2], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="method"):
        adjust([0.1, 0.2], "bonferroni")
    with pytest.raises(ValueError, match="one entry per arm"):
        srm([10, 20], [1.0])
    with pytest.raises(ValueError, match="alpha"):
        welch([1, 2], [1, 2], alpha=1.5)


def test_impact_propagates_the_interval() -> None:
    e = Effect("minutes", 200.0, 204.0, 10**4, 10**4, 4.0, 1.0, 7.0, 0.01, 0.02, 0.005, 0.035, 0.05)
    asm = Assumptions(users=2_000_000, arpu=25.0, share_of_minutes_influenced=0.4, period_days=28,
                      metric_days=14)
    imp = impact(e, asm)
    # 4 minutes per 14 days → 8 minutes per user over 28 days; ×2M users / 60 → 266,667 hours
    assert (imp.minutes_per_user.estimate, imp.minutes_per_user.low, imp.minutes_per_user.high) == \
        pytest.approx((8.0, 2.0, 14.0))
    assert (imp.hours.low, imp.hours.high) == pytest.approx((2.0 * 2e6 / 60, 14.0 * 2e6 / 60))
    # 2 % lift on 40 % of listening → 0.8 % of listening → 0.8 % of 2M × 25 = 400,000
    assert (imp.revenue.estimate, imp.revenue.low, imp.revenue.high) == \
        pytest.approx((400_000.0, 100_000.0, 700_000.0))
    assert imp.confidence == pytest.approx(0.95)
    churny = impact(e, Assumptions(1_000, 10.0, 1.0, 30, revenue_elasticity=-0.5))
    assert churny.revenue.low < churny.revenue.estimate < churny.revenue.high < 0
    with pytest.raises(ValueError, match="share_of_minutes_influenced"):
        Assumptions(users=1, arpu=1.0, share_of_minutes_influenced=1.5, period_days=1)
