"""LightGBM ranking over merged candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.candidates.als import ALS
from tastemaker.candidates.itemknn import ItemKNN
from tastemaker.errors import NotFittedError
from tastemaker.ranking.ltr import Ranker, merge_candidates


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
