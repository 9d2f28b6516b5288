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
