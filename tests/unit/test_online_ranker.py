"""The serving path's array scorer and ranker (ranking/online.py): same candidates as the model, no heard item,
features identical in training and serving, and a ranker that beats the model's order on held-out listeners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import scipy.sparse as sp

from tastemaker.candidates.ann import ItemIndex
from tastemaker.candidates.catalogue import create
from tastemaker.candidates.recommender import MatrixRecommender
from tastemaker.candidates.data import TrainingData
from tastemaker.features.interactions import interactions
from tastemaker.ranking.online import (FEATURES, CandidateScorer, OnlineRanker, RankerParams, item_stats,
                                       training_lists, train_online_ranker)
from tastemaker.simulate import World, WorldConfig


def _als() -> MatrixRecommender:
    return create("als", factors=16, iterations=8, regularization=1.0, alpha=3.0)


@pytest.fixture(scope="module")
def world_events() -> pl.DataFrame:
    world = World(WorldConfig(n_users=1200, n_tracks=2500, days=21, seed=3))
    return pl.from_arrow(pa.concat_tables(world.generate_events())).with_columns(count=pl.lit(1))


@pytest.fixture(scope="module")
def fitted(world_events: pl.DataFrame) -> tuple[MatrixRecommender, pl.DataFrame, dict[str, str]]:
    history = interactions(world_events.lazy(), per_user=True)
    artists = dict(zip(world_events["item_id"].to_list(), world_events["artist_id"].to_list(), strict=True))
    return _als().fit(TrainingData(history)), history, artists


def test_the_pool_is_the_models_own_top_k_minus_the_heard(fitted: tuple) -> None:
    model, history, artists = fitted
    scorer = CandidateScorer.of(model, artists, stats=item_stats(history))
    for user in history["user_id"].unique().sort().head(20).to_list():
        past = history.filter(pl.col("user_id") == user)
        rows, recency = scorer.known(past["item_id"].to_list(), past["recency"].to_numpy())
        pool = scorer.pool(scorer.user_row(user), rows, rows, recency, 50)
        expected = model.recommend([user], k=50, exclude=past.select("user_id", "item_id"))
        assert scorer.items[pool.rows].tolist() == expected["item_id"].to_list()
        assert not set(pool.rows.tolist()) & set(rows.tolist())
        assert pool.features.shape == (50, len(FEATURES)) and np.isfinite(pool.features).all()
        assert set(pool.because.tolist()) <= set(rows.tolist())  # the reason is a played track


def test_search_rows_agrees_with_search_on_both_index_kinds(fitted: tuple) -> None:
    model, _, _ = fitted
    vectors = model.item_vectors()
    user = model.model.user_factors_[5]
    for index in (ItemIndex().build(model.items_, vectors), ItemIndex(exact_below=10).build(model.items_, vectors)):
        banned = np.array([0, 3, 7, 11])
        rows, scores = index.search_rows(user, 20, banned)
        by_id = index.search(user, 20, exclude=[set(model.items_[banned].tolist())])
        assert model.items_[rows].tolist() == by_id["item_id"].to_list()
        assert scores == pytest.approx(by_id["score"].to_numpy(), rel=1e-5)
        assert np.allclose(vectors[rows] @ user, scores, rtol=1e-4, atol=1e-5)


def test_artist_share_and_similarity_features_read_the_history(fitted: tuple) -> None:
    model, history, artists = fitted
    scorer = CandidateScorer.of(model, artists)
    user = history.group_by("user_id").len().sort("len", descending=True)["user_id"][0]
    past = history.filter(pl.col("user_id") == user)
    rows, recency = scorer.known(past["item_id"].to_list(), past["recency"].to_numpy())
    candidates = rows[np.argsort(-recency)[:5]]  # recent heard items as candidates: values checkable by hand
    feats, because = scorer.features(candidates, np.ones(5, dtype=np.float32), rows, recency)
    share = FEATURES.index("artist_share")
    for row, value in zip(candidates.tolist(), feats[:, share].tolist(), strict=True):
        same = scorer.item_artist[rows] == scorer.item_artist[row]
        assert value == pytest.approx(recency[same].sum() / recency.sum(), rel=1e-5)
    assert feats[:, FEATURES.index("max_cos")] == pytest.approx(1.0, abs=1e-5)  # each is its own closest
    assert because.tolist() == candidates.tolist()


def test_a_ranker_learns_from_the_last_week_and_beats_the_models_order(world_events: pl.DataFrame,
                                                                        tmp_path: Path) -> None:
    artists = dict(zip(world_events["item_id"].to_list(), world_events["artist_id"].to_list(), strict=True))
    ranker = train_online_ranker(world_events, _als, artists, RankerParams(users=1200, candidates=100))
    held = ranker.meta["held_out_ndcg@10"]
    assert ranker.meta["held_out_lists"] >= 50
    assert held["ranker"] > held["model_order"]
    ranker.save(tmp_path / "r")
    again = OnlineRanker.load(tmp_path / "r")
    x = np.random.default_rng(0).normal(size=(30, len(FEATURES))).astype(np.float32)
    assert again.compiled is not None and (tmp_path / "r" / "ranker.so").exists()  # lleaves compiled it
    assert np.allclose(again.scores(x), ranker.scores(x), rtol=0, atol=1e-9)  # the trees, compiled or not


def test_training_lists_use_the_serving_features(fitted: tuple) -> None:
    model, history, artists = fitted
    scorer = CandidateScorer.of(model, artists, stats=item_stats(history))
    user = history["user_id"].sort()[0]
    unheard = scorer.items[~np.isin(scorer.items, history.filter(pl.col("user_id") == user)["item_id"])]
    labels = pl.DataFrame({"user_id": [user] * 3, "item_id": unheard[:3].tolist(), "label": [1, 2, 3]})
    past = history.filter(pl.col("user_id") == user)
    rows, recency = scorer.known(past["item_id"].to_list(), past["recency"].to_numpy())
    served = scorer.pool(scorer.user_row(user), rows, rows, recency, 40)
    if not set(unheard[:3].tolist()) & set(scorer.items[served.rows].tolist()):
        labels = labels.with_columns(pl.Series("item_id", scorer.items[served.rows[:3]].tolist()))
    X, y, groups, _ = training_lists(scorer, history, labels, 40)
    assert groups.tolist() == [40] and np.array_equal(X, served.features) and y.max() > 0


def test_explored_slots_log_the_probability_each_choice_had() -> None:
    from tastemaker.rerank.policies import epsilon_greedy as explore_slots

    rng = np.random.default_rng(7)
    ranked, epsilon, draws = np.array([30, 10, 20, 40]), 0.4, 20_000
    firsts, seconds = np.zeros(4), {}
    for _ in range(draws):
        chosen, chance, explored = explore_slots(ranked, 2, epsilon, rng)
        firsts[list(ranked).index(chosen[0])] += 1
        seconds.setdefault(chosen[0], []).append((chosen[1], chance[1]))
        assert explored[0] == (chosen[0] != 30)
    expected = [(1 - epsilon) + epsilon / 4] + [epsilon / 4] * 3  # what the first slot's propensity says
    assert firsts / draws == pytest.approx(expected, abs=0.01)
    after_best = seconds[30]  # the second slot given the best went first: 10 is the best left
    share = np.mean([c == 10 for c, _ in after_best])
    assert share == pytest.approx((1 - epsilon) + epsilon / 3, abs=0.015)
    assert {round(p, 9) for c, p in after_best if c == 10} == {round((1 - epsilon) + epsilon / 3, 9)}
    assert explore_slots(ranked, 3, 0.0, rng) == ([30, 10, 20], [1.0, 1.0, 1.0], [False, False, False])


def test_fold_in_is_implicits_half_step_and_a_new_play_moves_the_vector(fitted: tuple) -> None:
    model, history, artists = fitted
    scorer = CandidateScorer.of(model, artists)
    user = history["user_id"].sort()[3]
    past = history.filter(pl.col("user_id") == user)
    rows, ones = scorer.known(past["item_id"].to_list(), np.ones(past.height))
    mine = scorer.fold_in(rows, ones)
    x = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (np.zeros(len(rows), dtype=np.int64), rows)),
                      shape=(1, len(scorer.items)))
    reference = model.model.fold_in_factors(x)[0]  # implicit's recalculate_user
    assert mine == pytest.approx(reference, abs=1e-4)
    unheard = np.setdiff1d(np.arange(len(scorer.items)), rows)[:3]
    moved = scorer.fold_in(np.r_[rows, unheard], np.ones(len(rows) + 3))
    assert np.linalg.norm(moved - mine) > 1e-3
    before = scorer.pool(scorer.user_row(user), rows, rows, ones, 20, mine)
    after = scorer.pool(scorer.user_row(user), np.r_[rows, unheard], rows, ones, 20, moved)
    assert not set(after.rows.tolist()) & set(unheard.tolist()) and before.rows.tolist() != after.rows.tolist()
