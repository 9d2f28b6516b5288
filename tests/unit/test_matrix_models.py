"""Matrix models on a tiny made-up matrix: they learn co-occurrence and refuse what cannot fit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.candidates.als import ALS
from tastemaker.candidates.ease import EASE
from tastemaker.errors import NotFittedError

# items 0-2 are always listened together, items 3-5 together; user 6 has only items 0 and 1
ROWS = [[1, 1, 1, 0, 0, 0]] * 6 + [[0, 0, 0, 1, 1, 1]] * 6 + [[1, 1, 0, 0, 0, 0]]
X = sp.csr_matrix(np.array(ROWS, dtype=np.float32))


@pytest.mark.parametrize("model", [EASE(l2=1.0), ALS(factors=4, regularization=0.01, alpha=10.0, iterations=30)])
def test_the_missing_item_of_a_cluster_ranks_first(model) -> None:  # type: ignore[no-untyped-def]
    scores = model.fit(X).score(np.array([12]), X)[0]
    unseen = [2, 3, 4, 5]
    assert max(unseen, key=lambda i: scores[i]) == 2


def test_ease_refuses_a_catalog_that_would_not_fit_and_says_what_to_use() -> None:
    with pytest.raises(ValueError, match="ALS"):
        EASE(max_memory_gb=1e-9).fit(X)


def test_scoring_before_fit_is_a_clear_error() -> None:
    with pytest.raises(NotFittedError):
        EASE().score(np.array([0]), X)
    with pytest.raises(NotFittedError):
        ALS().score(np.array([0]), X)


def test_itemknn_ranks_the_co_listened_item_first_and_checks_its_weighting() -> None:
    from tastemaker.candidates.itemknn import ItemKNN

    for weighting in ("cosine", "bm25"):
        scores = ItemKNN(k=5, weighting=weighting).fit(X).score(np.array([12]), X)[0]
        assert max([2, 3, 4, 5], key=lambda i: scores[i]) == 2
    with pytest.raises(ValueError, match="weighting"):
        ItemKNN(weighting="jaccard").fit(X)


def test_history_ranks_own_plays_by_count_then_popularity() -> None:
    from tastemaker.candidates.history import PersonalHistory

    counts = sp.csr_matrix(np.array([[5, 0, 1, 0], [0, 2, 0, 0], [0, 3, 0, 1]], dtype=np.float32))
    scores = PersonalHistory().fit(counts).score(np.array([0]), counts)[0]
    assert list(np.argsort(-scores)) == [0, 2, 1, 3]  # own 5 > own 1 > unheard but popular (2 users) > 1 user


def test_hybrid_blends_standardised_scores_and_tuning_finds_the_better_member() -> None:
    from tastemaker.candidates.history import PersonalHistory
    from tastemaker.candidates.hybrid import Hybrid, standardise, tune_weights

    assert np.allclose(standardise(np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])), [[-1.2247, 0, 1.2247], [0, 0, 0]],
                       atol=1e-4)
    # history fitted where item 3 is the most popular unheard item, so alone it would pick item 3
    crowd = sp.vstack([X, sp.csr_matrix(np.array([[0, 0, 0, 1, 0, 0]] * 3, dtype=np.float32))]).tocsr()
    ease, hist = EASE(l2=1.0).fit(X), PersonalHistory().fit(crowd)
    with pytest.raises(ValueError, match="one weight per model"):
        Hybrid([ease, hist], [1.0])
    blended = Hybrid([hist, ease], [0.0, 1.0]).score(np.array([12]), X)[0]
    assert np.allclose(blended, standardise(ease.score(np.array([12]), X))[0])
    # objective: how high item 2 (the missing cluster member) ranks for user 12 — only EASE puts it first
    objective = lambda h: float(np.argsort(-np.where(X[12].toarray()[0] > 0, -np.inf, h.score(np.array([12]), X)[0]))[0] == 2)  # noqa: E731
    assert objective(Hybrid([hist, ease], [1.0, 0.0])) == 0.0
    weights, value = tune_weights([hist, ease], objective, grid=(0.0, 1.0, 4.0))
    assert value == 1.0 and weights[1] > 0


def test_reciprocal_rank_fusion_ranks_by_position_not_scale() -> None:
    from tastemaker.candidates.hybrid import Hybrid, reciprocal_ranks

    rr = reciprocal_ranks(np.array([[0.1, 9.0, 5.0]]), k0=0.0)
    assert np.allclose(rr, [[1 / 3, 1.0, 1 / 2]])

    class Fixed:
        def __init__(self, row: list[float]) -> None:
            self.row = np.array([row])

        def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
            return self.row

    loud, quiet = Fixed([1000.0, 0.0, 999.0]), Fixed([0.0, 0.2, 0.1])  # same weight, wildly different scales
    fused = Hybrid([loud, quiet], [1.0, 1.0], fusion="rrf").score(np.array([0]), X[:1, :3])[0]
    assert np.allclose(fused, [1 / 61 + 1 / 63, 1 / 63 + 1 / 61, 2 / 62])
    louder = Fixed([1e9, 0.0, 9.99e8])  # rescaling a member changes nothing under RRF
    assert np.allclose(Hybrid([louder, quiet], [1.0, 1.0], fusion="rrf").score(np.array([0]), X[:1, :3])[0], fused)
    with pytest.raises(ValueError, match="fusion"):
        Hybrid([loud], [1.0], fusion="mean")


def test_segments_split_users_by_history_length() -> None:
    from tastemaker.evaluation.fixed_split import SEGMENTS

    bounds = [(low, high) for low, high, _ in SEGMENTS]
    assert all(a[1] + 1 == b[0] for a, b in zip(bounds, bounds[1:], strict=False)) and bounds[0][0] == 1
