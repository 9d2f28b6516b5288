"""Paired comparison and beyond-accuracy metrics on hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from tastemaker.evaluation.metrics import beyond_accuracy
from tastemaker.evaluation.significance import mean_interval, paired


def _per_user(values: list[float], users: list[int] | None = None) -> pl.DataFrame:
    return pl.DataFrame({"user_id": users or list(range(len(values))), "ndcg@10": values})


def test_identical_models_differ_by_nothing_and_a_clear_gain_is_significant() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(200)
    same = paired(_per_user(list(base)), _per_user(list(base)))
    assert same.diff == 0 and same.t_p == 1.0 and same.ci_low == same.ci_high == 0
    better = paired(_per_user(list(base)), _per_user(list(base + 0.05 + rng.normal(0, 0.01, 200))))
    assert better.diff == pytest.approx(0.05, abs=0.005) and better.ci_low > 0 and better.t_p < 1e-6


def test_only_users_in_both_frames_are_compared() -> None:
    result = paired(_per_user([0.1, 0.2, 0.3], [1, 2, 3]), _per_user([0.5, 0.6, 0.9], [2, 3, 4]))
    assert result.users == 2 and result.diff == pytest.approx(0.3)
    with pytest.raises(ValueError, match="two shared users"):
        paired(_per_user([0.1], [1]), _per_user([0.2], [2]))


def test_mean_interval_brackets_the_mean_and_has_the_normal_width() -> None:
    values = np.random.default_rng(1).normal(0.3, 0.2, 2000)
    low, high = mean_interval(values)
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * values.std() / math.sqrt(len(values)), rel=0.15)
    assert mean_interval(np.full(10, 0.4)) == pytest.approx((0.4, 0.4))
    with pytest.raises(ValueError, match="two values"):
        mean_interval(np.array([0.5]))


def test_beyond_accuracy_on_a_hand_counted_example() -> None:
    train = pl.DataFrame({"user_id": [1, 2, 3, 4, 1], "item_id": ["a", "a", "a", "a", "b"]})  # a: 4 users, b: 1
    recs = pl.DataFrame({"user_id": [1, 2], "item_id": ["a", "a"], "rank": [1, 1]})
    got = beyond_accuracy(recs, train, n_items=4, k=1)
    assert got["coverage@1"] == 0.25
    assert got["novelty@1"] == pytest.approx(-math.log2(4 / 4))
    assert got["popularity_lift@1"] == pytest.approx(4 / (5 / 4))
    assert got["gini@1"] == pytest.approx(0.75)  # all exposure on one of four items: (n-1)/n
    spread = pl.DataFrame({"user_id": [1, 2, 3, 4], "item_id": ["a", "b", "c", "d"], "rank": [1, 1, 1, 1]})
    assert beyond_accuracy(spread, train, n_items=4, k=1)["gini@1"] == pytest.approx(0.0)
