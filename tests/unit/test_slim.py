"""SLIM on tiny made-up matrices: non-negative sparse weights, no self-prediction, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.candidates.slim import SLIM
from tastemaker.errors import NotFittedError

# items 0-2 are always listened together, items 3-5 together; user 12 has only items 0 and 1
ROWS = [[1, 1, 1, 0, 0, 0]] * 6 + [[0, 0, 0, 1, 1, 1]] * 6 + [[1, 1, 0, 0, 0, 0]]
X = sp.csr_matrix(np.array(ROWS, dtype=np.float32))


def test_the_missing_item_of_a_cluster_ranks_first_and_fold_in_agrees() -> None:
    model = SLIM(alpha=0.01, l1_ratio=0.1).fit(X)
    scores = model.score(np.array([12]), X)[0]
    assert max([2, 3, 4, 5], key=lambda i: scores[i]) == 2 and scores[2] > 0
    assert np.allclose(model.fold_in(X[[12]]), scores)
    assert np.allclose(model.score(np.array([12]), X * 5.0), scores)  # counts: any positive value is one visit


def test_weights_are_non_negative_never_self_and_stay_within_a_cluster() -> None:
    W = SLIM(alpha=0.01, l1_ratio=0.1).fit(X).similarity_.toarray()
    assert (W >= 0).all() and not W.diagonal().any()
    assert not W[:3, 3:].any() and not W[3:, :3].any()  # the clusters never share a listener
    assert W[0, 2] > 0 and W[3, 5] > 0


def test_stronger_l1_leaves_fewer_weights() -> None:
    rng = np.random.default_rng(0)
    M = sp.csr_matrix((rng.random((200, 30)) < 0.2).astype(np.float32))
    loose = SLIM(alpha=0.001, l1_ratio=0.5).fit(M).similarity_.nnz
    tight = SLIM(alpha=0.05, l1_ratio=0.5).fit(M).similarity_.nnz
    assert tight < loose


def test_bad_parameters_large_catalogs_and_use_before_fit_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="alpha > 0"):
        SLIM(alpha=0.0).fit(X)
    with pytest.raises(ValueError, match="l1_ratio"):
        SLIM(l1_ratio=1.5).fit(X)
    with pytest.raises(ValueError, match="6 regressions"):
        SLIM(max_items=5).fit(X)
    with pytest.raises(NotFittedError):
        SLIM().score(np.array([0]), X)
    with pytest.raises(ValueError, match="item columns"):
        SLIM(alpha=0.01).fit(X).fold_in(X[:, :4])
