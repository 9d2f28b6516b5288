"""RP3beta on tiny made-up matrices: it learns co-occurrence, penalises popularity, keeps k neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.candidates.rp3beta import RP3Beta, top_k_per_row
from tastemaker.errors import NotFittedError

# items 0-2 are always listened together, items 3-5 together; user 12 has only items 0 and 1
ROWS = [[1, 1, 1, 0, 0, 0]] * 6 + [[0, 0, 0, 1, 1, 1]] * 6 + [[1, 1, 0, 0, 0, 0]]
X = sp.csr_matrix(np.array(ROWS, dtype=np.float32))


def test_the_missing_item_of_a_cluster_ranks_first_and_fold_in_agrees() -> None:
    model = RP3Beta(alpha=1.0, beta=0.5, k=5).fit(X)
    scores = model.score(np.array([12]), X)[0]
    assert max([2, 3, 4, 5], key=lambda i: scores[i]) == 2
    assert np.allclose(model.fold_in(X[[12]]), scores)
    assert np.allclose(model.score(np.array([12]), X * 5.0), scores)  # counts: any positive value is one visit


def test_beta_moves_the_long_tail_up() -> None:
    # users listening to item 0 also have item 1 (everyone's) or item 2 (few people's)
    rows = [[1, 1, 0]] * 4 + [[1, 0, 1]] * 2 + [[0, 1, 0]] * 6 + [[1, 0, 0]]
    M = sp.csr_matrix(np.array(rows, dtype=np.float32))
    plain = RP3Beta(alpha=1.0, beta=0.0, k=2).fit(M).score(np.array([12]), M)[0]
    penalised = RP3Beta(alpha=1.0, beta=1.0, k=2).fit(M).score(np.array([12]), M)[0]
    assert plain[1] > plain[2] and penalised[2] > penalised[1]


def test_each_item_keeps_its_k_strongest_neighbours() -> None:
    model = RP3Beta(alpha=1.0, beta=0.0, k=1).fit(X)
    assert np.diff(model.similarity_.indptr).max() == 1 and model.similarity_.diagonal().sum() == 0
    W = sp.csr_matrix(np.array([[0.2, 0.9, 0.5, 0.9], [0.0, 0.0, 0.0, 0.1]]))
    assert top_k_per_row(W, 2).toarray().tolist() == [[0.0, 0.9, 0.0, 0.9], [0.0, 0.0, 0.0, 0.1]]


def test_bad_parameters_and_use_before_fit_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="alpha"):
        RP3Beta(alpha=0.0).fit(X)
    with pytest.raises(ValueError, match="k >= 1"):
        RP3Beta(k=0).fit(X)
    with pytest.raises(NotFittedError):
        RP3Beta().score(np.array([0]), X)
    with pytest.raises(ValueError, match="item columns"):
        RP3Beta(k=5).fit(X).fold_in(X[:, :4])
