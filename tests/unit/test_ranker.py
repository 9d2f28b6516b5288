"""LightGBM ranking over merged candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.candidates.als import ALS
from tastemaker.candidates.hybrid import Hybrid
from tastemaker.candidates.itemknn import ItemKNN
from tastemaker.errors import NotFittedError
from tastemaker.ranking.candidate_features import CoListening, FriendsListening
from tastemaker.ranking.ltr import Ranker, merge_candidates
from tastemaker.ranking.residual import CorrectionSearch, Pool, candidate_pool, fit_corrections, pool_ndcg


def _lists(users: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relevance hides in feature 1 (feature 0 is noise): the ranker must find it."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(users * n, 3)).astype(np.float32)
    labels = np.clip(np.round(features[:, 1] + 0.3 * rng.normal(size=users * n)), 0, 3)
    return features, labels, np.full(users, n)


def _dcg(k: int, ordered_labels: np.ndarray) -> float:
    top = ordered_labels[:k]
    return float(np.sum((2 ** top - 1) / np.log2(np.arange(2, len(top) + 2))))


def _ndcg_at(k: int, scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    out, start = [], 0
    for g in groups:
        s, y = scores[start:start + g], labels[start:start + g]
        ideal = _dcg(k, y[np.argsort(-y)])
        out.append(_dcg(k, y[np.argsort(-s)]) / ideal if ideal else 0.0)
        start += g
    return float(np.mean(out))


@pytest.mark.parametrize("objective", ["lambdarank", "rank_xendcg", "binary"])
def test_every_objective_learns_the_relevant_feature(objective: str, tmp_path: Path) -> None:
    F, y, g = _lists(200, 20, seed=0)
    Fv, yv, gv = _lists(50, 20, seed=1)
    ranker = Ranker(objective=objective, rounds=200, min_data_in_leaf=20).fit(F, y, g, valid=(Fv, yv, gv))
    learned = _ndcg_at(10, ranker.predict(Fv), yv, gv)
    noise = _ndcg_at(10, Fv[:, 0], yv, gv)
    assert learned > 0.9 and learned > noise + 0.3
    ranker.save(tmp_path / "r")
    assert np.array_equal(Ranker.load(tmp_path / "r").predict(Fv), ranker.predict(Fv))


def test_the_ranker_checks_its_input_and_its_state() -> None:
    F, y, g = _lists(10, 5, seed=0)
    with pytest.raises(ValueError, match="must agree"):
        Ranker().fit(F, y, g[:-1])
    with pytest.raises(ValueError, match="objective"):
        Ranker(objective="pointwise")
    with pytest.raises(NotFittedError):
        Ranker().predict(F)


def test_merged_candidates_skip_masked_items_and_describe_each_row() -> None:
    rows = [[1, 1, 1, 0, 0, 0]] * 6 + [[0, 0, 0, 1, 1, 1]] * 6 + [[1, 1, 0, 0, 0, 0]]
    X = sp.csr_matrix(np.array(rows, dtype=np.float32))
    models = {"als": ALS(factors=4, iterations=10).fit(X), "knn": ItemKNN(k=5).fit(X)}
    users = np.array([12, 0])
    items, features, names = merge_candidates(models, users, X, X, n=3)
    assert items.shape == (2, 3) and features.shape == (2, 3, len(names)) and len(names) == 6
    assert not set(items[0]) & {0, 1} and not set(items[1]) & {0, 1, 2}
    assert 2 in items[0]  # the co-listened item is a candidate for the user who lacks it
    with pytest.raises(ValueError, match="n must be"):
        merge_candidates(models, users, X, X, n=7)


def test_a_start_score_makes_the_trees_learn_corrections_only() -> None:
    F, y, g = _lists(200, 20, seed=0)
    start = F[:, 1].astype(np.float64) * 100.0  # the start already knows what matters, on a large scale
    ranker = Ranker(rounds=20, min_data_in_leaf=20).fit(F, y, g, init=start)
    corrections = ranker.predict(F)
    assert corrections.std() < 0.05 * start.std()  # predict gives the corrections, not start + corrections
    assert _ndcg_at(10, start + corrections, y, g) >= _ndcg_at(10, start, y, g) - 0.01
    with pytest.raises(ValueError, match="init needs one value per row"):
        Ranker().fit(F, y, g, init=start[:-1])


def _pool(users: int, n: int, seed: int, informative: bool) -> tuple[Pool, np.ndarray, np.ndarray]:
    """A pool whose blend ranks randomly; feature 0 tells relevance when ``informative``, else noise."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((users, n)) < 0.1).astype(np.float64)
    signal = labels if informative else rng.random((users, n))
    features = np.stack([signal + 0.1 * rng.normal(size=(users, n)), rng.normal(size=(users, n))], -1)
    start = rng.normal(size=(users, n))
    movable = np.ones((users, n), dtype=bool)
    items = np.tile(np.arange(n), (users, 1))
    return Pool(items, start, features.astype(np.float32), movable, ["f0", "f1"]), labels, labels.sum(axis=1) + 1


def test_corrections_are_kept_when_they_help_and_dropped_when_they_do_not() -> None:
    search = CorrectionSearch(scales=(1.0,), leaves=(7,), min_data_in_leaf=20, max_rounds=100)
    pool, labels, targets = _pool(200, 30, seed=0, informative=True)
    kept = fit_corrections(pool, labels, targets, search)
    assert kept.ranker is not None and kept.oof_ndcg > kept.blend_ndcg + 0.2
    assert pool_ndcg(kept.score(pool), labels, targets) > pool_ndcg(pool.start, labels, targets) + 0.2
    # a perfect start cannot be beaten: the result is the blend's own order
    perfect = Pool(pool.items, labels + 0.01 * pool.start, pool.features, pool.movable, pool.names)
    dropped = fit_corrections(perfect, labels, targets, search)
    assert dropped.ranker is None and np.array_equal(dropped.score(perfect), perfect.start)


def test_lists_of_an_earlier_period_train_the_corrections_but_only_valid_lists_judge_them() -> None:
    search = CorrectionSearch(scales=(1.0,), leaves=(7,), min_data_in_leaf=20, max_rounds=100)
    pool, labels, targets = _pool(4, 30, seed=2, informative=True)  # too few lists to learn much from
    alone = fit_corrections(pool, labels, targets, search)
    early, early_labels, _ = _pool(300, 30, seed=3, informative=True)
    both = fit_corrections(pool, labels, targets, search, extra=(early, early_labels))
    assert both.blend_ndcg == alone.blend_ndcg == pool_ndcg(pool.start, labels, targets)
    assert both.ranker is not None and both.oof_ndcg > alone.oof_ndcg + 0.2
    assert both.score(pool).shape == pool.items.shape
    renamed = Pool(early.items, early.start, early.features, early.movable, ["f0", "other"])
    with pytest.raises(ValueError, match=r"extra lists must have 30 candidates with the features \['f0', 'f1'\]"):
        fit_corrections(pool, labels, targets, search, extra=(renamed, early_labels))
    with pytest.raises(ValueError, match="extra labels must be"):
        fit_corrections(pool, labels, targets, search, extra=(early, early_labels[:, :5]))


def test_items_without_history_plays_keep_the_blends_order() -> None:
    search = CorrectionSearch(scales=(1.0,), leaves=(7,), min_data_in_leaf=20, max_rounds=100)
    pool, labels, targets = _pool(200, 30, seed=1, informative=True)
    movable = np.ones_like(pool.movable)
    movable[:, :5] = False
    pool = Pool(pool.items, pool.start, pool.features, movable, pool.names)
    scores = fit_corrections(pool, labels, targets, search).score(pool)
    assert np.allclose(scores[:, :5], pool.start[:, :5])
    assert not np.allclose(scores[:, 5:], pool.start[:, 5:])


def test_the_candidate_pool_follows_the_hybrid_and_leaves_masked_items_out() -> None:
    rows = [[1, 1, 1, 0, 0, 0]] * 6 + [[0, 0, 0, 1, 1, 1]] * 6 + [[1, 1, 0, 0, 0, 0]]
    X = sp.csr_matrix(np.array(rows, dtype=np.float32))
    members = {"als": ALS(factors=4, iterations=10).fit(X), "knn": ItemKNN(k=5).fit(X)}
    hybrid = Hybrid(list(members.values()), [1.0, 0.5])
    users = np.array([12, 0])
    pool = candidate_pool(hybrid, members, users, X, X, n=3, sources=[CoListening(X)])
    assert pool.items[0, 0] == 2 and not set(pool.items[0]) & {0, 1} and not set(pool.items[1]) & {0, 1, 2}
    blend = hybrid.score(users, X)
    assert all(np.all(np.diff(blend[r, pool.items[r]]) <= 0) for r in range(2))  # best blend first
    assert pool.features.shape == (2, 3, len(pool.names)) and pool.names[-1] == "colisten_mean"
    assert pool.movable.all()
    with pytest.raises(ValueError, match="members must name"):
        candidate_pool(hybrid, {"als": members["als"]}, users, X, X, n=3)


def test_weighted_co_listening_follows_the_users_most_played_items() -> None:
    # items 0 and 1 are each co-listened with one other item only: 0 with 2, 1 with 3
    X = sp.csr_matrix(np.array([[1, 0, 1, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=np.float32))
    W = sp.csr_matrix(np.array([[1, 0, 1, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 1, 0, 1], [0, 0, 9, 1]], dtype=np.float32))
    plain, weighted = CoListening(X), CoListening(X, weights=W)
    assert plain.names == ["colisten_mean"] and weighted.names == ["colisten_mean", "colisten_weighted"]
    values = weighted(np.array([4]), np.array([[0, 1]]))[0]
    assert values.shape == (2, 2)
    assert np.isclose(values[0, 0], values[1, 0])  # plain: items 2 and 3 count alike
    assert values[0, 1] > 3 * values[1, 1]  # weighted: item 2, played nine times, pulls item 0 up
    assert np.allclose(plain(np.array([4]), np.array([[0, 1]]))[0, :, 0], values[:, 0])
    with pytest.raises(ValueError, match="history's shape"):
        CoListening(X, weights=W[:, :3])


def test_friends_listening_counts_the_friends_who_have_the_candidate() -> None:
    X = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32))
    F = sp.csr_matrix(np.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))  # 0 follows 1, 2
    source = FriendsListening(X, F)
    values = source(np.array([0, 2]), np.array([[0, 1, 2], [0, 1, 2]]))
    assert values.shape == (2, 3, len(source.names))
    assert np.allclose(values[0, :, 0], [1.0, 0.5, 0.0])  # both friends have item 0, one has item 1, none item 2
    assert np.allclose(values[0, :, 1], np.log1p([2, 1, 0]))
    assert np.allclose(values[1], 0.0)  # user 2 follows no one
    with pytest.raises(ValueError, match="users × users"):
        FriendsListening(X, F[:, :3])


