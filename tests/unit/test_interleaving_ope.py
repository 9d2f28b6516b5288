"""Team-draft interleaving and off-policy estimators: hand computations, error rates and coverage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tastemaker.experiments.interleaving import compare, credit, preferences, team_draft
from tastemaker.experiments.ope import dr, from_impressions, ips, snips
from tastemaker.simulate.world import World, WorldConfig

# --- interleaving -------------------------------------------------------------------------------


def test_team_draft_keeps_each_rankers_order_and_balances_teams() -> None:
    rng = np.random.default_rng(0)
    a, b = list("abcdefgh"), list("hgfedcba")
    for _ in range(200):
        mixed = team_draft(a, b, 6, rng)
        assert len(mixed.items) == len(set(mixed.items)) == 6
        for team, ranking in ((0, a), (1, b)):
            mine = [x for x, t in zip(mixed.items, mixed.teams, strict=True) if t == team]
            assert mine == sorted(mine, key=ranking.index)  # each team's picks in its own order
        counts = np.cumsum(np.where(mixed.teams == 0, 1, -1))
        assert np.abs(counts).max() <= 1  # captains alternate: never two picks ahead
        assert mixed.items[0] in {"a", "h"}


def test_team_draft_first_pick_is_a_fair_coin() -> None:
    rng = np.random.default_rng(1)
    first = np.array([team_draft(["a", "b"], ["b", "a"], 2, rng).teams[0] for _ in range(4000)])
    assert abs(first.mean() - 0.5) < 4 * 0.5 / np.sqrt(first.size)


def test_team_draft_fills_from_the_longer_ranking() -> None:
    mixed = team_draft(["a"], ["a", "b", "c"], 5, np.random.default_rng(2))
    assert sorted(mixed.items) == ["a", "b", "c"]
    assert mixed.teams.tolist()[1:] == [1, 1]


def test_credit_and_preferences_by_hand() -> None:
    teams = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, -1, -1]])
    clicks = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]], bool)
    cr = credit(teams, clicks)
    assert cr.tolist() == [[2, 0], [0, 1], [1, 1]]
    # u1 has two impressions: A 2 + 0, B 0 + 1 -> prefers A; u2 ties
    assert preferences(["u1", "u1", "u2"], cr).tolist() == [1, 0]


def test_compare_by_hand() -> None:
    res = compare(np.array([1] * 60 + [-1] * 30 + [0] * 10))
    assert (res.n, res.wins_a, res.wins_b, res.ties) == (100, 60, 30, 10)
    assert res.delta == pytest.approx((60 + 5) / 100 - 0.5)
    assert res.ci_low < res.delta < res.ci_high
    from scipy.stats import binomtest
    assert res.p_value == pytest.approx(binomtest(60, 90).pvalue)


def _position_clicks(rng: np.random.Generator, relevance: np.ndarray) -> np.ndarray:
    """Cascade-free position-biased click model: P(click) = relevance * 1 / (1 + position)."""
    exam = 1.0 / (1.0 + np.arange(relevance.shape[-1]))
    return rng.random(relevance.shape) < relevance * exam


def test_identical_rankers_reject_at_about_alpha() -> None:
    rng = np.random.default_rng(3)
    pool, k, users, trials = 30, 8, 150, 300
    p_values, covered = [], 0
    for t in range(trials):
        relevance = rng.random((users, pool))
        credits = np.zeros((users, 2), np.int64)
        for u in range(users):
            ranking = list(np.argsort(-relevance[u] + rng.normal(0, 0.3, pool)))
            mixed = team_draft(ranking, ranking, k, rng)
            clicks = _position_clicks(rng, relevance[u, mixed.items])
            credits[u] = credit(mixed.teams, clicks)
        res = compare(preferences(list(range(users)), credits), n_boot=500, seed=t)
        p_values.append(res.p_value)
        covered += res.ci_low <= 0 <= res.ci_high
    false_positive = np.mean(np.array(p_values) < 0.05)
    assert 0.01 <= false_positive <= 0.09, false_positive  # the sign test is exact, so at most about alpha
    assert covered / trials >= 0.9


def test_better_ranker_wins_with_a_click_model() -> None:
    rng = np.random.default_rng(4)
    pool, k, users = 40, 10, 400
    relevance = rng.beta(1, 3, (users, pool))
    credits = np.zeros((users, 2), np.int64)
    for u in range(users):
        good = list(np.argsort(-relevance[u]))
        random = list(rng.permutation(pool))
        mixed = team_draft(good, random, k, rng)
        credits[u] = credit(mixed.teams, _position_clicks(rng, relevance[u, mixed.items]))
    res = compare(preferences(list(range(users)), credits))
    assert res.delta > 0 and res.ci_low > 0 and res.p_value < 1e-3


def test_better_ranker_wins_in_the_listener_world() -> None:
    world = World(WorldConfig(n_users=300, n_tracks=800, days=1, new_user_share=0.0))
    rng = np.random.default_rng(5)
    users, pool, k = np.arange(300), 60, 10
    candidates = rng.choice(800, (users.size, pool))
    match = world.match(np.repeat(users, pool), candidates.ravel()).reshape(users.size, pool)
    lists, teams = np.full((users.size, k), -1), np.full((users.size, k), -1)
    for u in users:  # A: the hidden taste match (an oracle); B: the candidates in random order
        mixed = team_draft(list(candidates[u, np.argsort(-match[u])]), list(candidates[u]), k, rng)
        lists[u, : len(mixed.items)], teams[u, : len(mixed.items)] = mixed.items, mixed.teams
    out = world.respond(users, lists, 0, rng, update=False)
    res = compare(preferences(users.tolist(), credit(teams, out.played & (out.ms_played >= 30_000))))
    assert res.delta > 0 and res.p_value < 0.01, res


# --- off-policy evaluation ----------------------------------------------------------------------


def test_estimators_by_hand() -> None:
    r, p, pi = [1.0, 0.0, 1.0, 0.5], [0.5, 0.2, 0.25, 0.5], [0.5, 0.8, 0.5, 1.0]
    # weights 1, 4, 2, 2; w*r = 1, 0, 2, 1
    e = ips(r, p, pi)
    assert e.value == pytest.approx(4 / 4)
    terms = np.array([1, 0, 2, 1.0])
    se = terms.std(ddof=1) / 2
    assert (e.ci_low, e.ci_high) == pytest.approx((1 - 1.959964 * se, 1 + 1.959964 * se), rel=1e-5)
    assert e.ess == pytest.approx(9**2 / 25)
    assert snips(r, p, pi).value == pytest.approx(4 / 9)
    probs = np.array([[0.5, 0.5], [0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    preds = np.array([[0.4, 0.6], [0.1, 0.3], [0.2, 0.2], [0.5, 0.9]])
    logged = [0, 1, 1, 0]
    # direct: .5, .26, .2, .5; corrections: 1*(1-.4), 4*(0-.3), 2*(1-.2), 2*(.5-.5)
    expected = (0.5 + 0.6 + 0.26 - 1.2 + 0.2 + 1.6 + 0.5) / 4
    assert dr(r, p, logged, probs, preds).value == pytest.approx(expected)


def test_estimators_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="logging_propensity"):
        ips([1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="one length"):
        ips([1.0, 0.0], [0.5], [1.0])
    with pytest.raises(ValueError, match="index"):
        dr([1.0], [0.5], [2], np.ones((1, 2)) / 2, np.zeros((1, 2)))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_estimators_cover_the_true_value_of_a_synthetic_bandit() -> None:
    world = np.random.default_rng(6)
    contexts, actions = 8, 6
    mu = world.uniform(0.05, 0.9, (contexts, actions))  # true click probability of each (context, action)
    feature = world.normal(size=(contexts, actions))
    logging = _softmax(feature)  # explores every action
    target = _softmax(3 * mu + feature)  # a different, better policy
    truth = float((target * mu).sum(axis=1).mean())  # contexts are uniform
    model = np.clip(mu + world.normal(0, 0.1, mu.shape), 0, 1)  # an imperfect reward model
    seeds, n, covered = 150, 2000, {"ips": 0, "snips": 0, "dr": 0}
    for s in range(seeds):
        rng = np.random.default_rng(100 + s)
        x = rng.integers(0, contexts, n)
        a = (rng.random(n)[:, None] > np.cumsum(logging[x], axis=1)).sum(axis=1)
        r = (rng.random(n) < mu[x, a]).astype(float)
        for est in (ips(r, logging[x, a], target[x, a]), snips(r, logging[x, a], target[x, a]),
                    dr(r, logging[x, a], a, target[x], model[x])):
            covered[est.estimator] += est.ci_low <= truth <= est.ci_high
    for name, hits in covered.items():
        assert hits / seeds >= 0.9, (name, hits / seeds)
    logged_mean = float((logging * mu).sum(axis=1).mean())
    assert abs(truth - logged_mean) > 0.05  # the test is not trivial: the target differs from the logger


def _frame(rows: list[tuple[str, str, str, int, int | None, float | None]]) -> pl.DataFrame:
    t0 = datetime(2024, 2, 1, tzinfo=UTC)
    return pl.DataFrame(
        [{"user_id": u, "item_id": i, "type": kind, "ts": t0 + timedelta(minutes=m), "ms_played": ms,
          "position": 1 if kind == "impression" else None, "propensity": p} for u, i, kind, m, ms, p in rows],
        schema_overrides={"ms_played": pl.Int64, "propensity": pl.Float64})


def test_from_impressions_joins_the_following_listen() -> None:
    events = _frame([
        ("u1", "x", "impression", 0, None, 0.5),
        ("u1", "x", "play", 2, 100_000, None),    # played >= 30 s soon after: reward 1
        ("u1", "y", "impression", 0, None, 0.25),
        ("u1", "y", "play", 5, 10_000, None),     # skipped after 10 s: reward 0
        ("u2", "x", "impression", 0, None, 0.1),
        ("u2", "x", "play", 120, 200_000, None),  # two hours later: outside the window, reward 0
        ("u2", "z", "play", -5, 200_000, None),   # before its impression: not its reward
        ("u2", "z", "impression", 0, None, 1.0),
    ])
    out = from_impressions(events).sort("user_id", "item_id")
    assert out.columns == ["user_id", "item_id", "ts", "position", "propensity", "reward"]
    assert list(zip(out["item_id"], out["reward"], out["propensity"], strict=True)) == [
        ("x", 1, 0.5), ("y", 0, 0.25), ("x", 0, 0.1), ("z", 0, 1.0)]
    wide = from_impressions(events, window=timedelta(hours=3)).sort("user_id", "item_id")
    assert wide["reward"].to_list() == [1, 0, 1, 0]


def test_from_impressions_needs_propensities() -> None:
    events = _frame([("u1", "x", "impression", 0, None, 0.5)])
    with pytest.raises(ValueError, match="propensity"):
        from_impressions(events.drop("propensity"))
    with pytest.raises(ValueError, match="outside"):
        from_impressions(events.with_columns(pl.lit(0.0).alias("propensity")))
