"""Blend weights by coordinate ascent, and blending scores a caller already has."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.candidates.hybrid import Hybrid, coordinate_weights, tune_weights


class Fixed:
    """A model whose scores are given (one row, every user alike)."""

    def __init__(self, row: list[float]) -> None:
        self.row = np.array([row])

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        return np.repeat(self.row, len(users), axis=0)


X = sp.csr_matrix((1, 4))
# the wanted order is item 3, then 2: only a blend of the last two members gives it
MODELS = [Fixed([4.0, 3.0, 2.0, 1.0]), Fixed([0.0, 0.0, 0.0, 1.0]), Fixed([0.0, 0.0, 3.0, 0.0]),
          Fixed([9.0, 0.0, 0.0, 0.0])]


def _objective(h: Hybrid) -> float:
    order = np.argsort(-h.score(np.array([0]), X)[0], kind="stable")
    return float(order[0] == 3) + 0.5 * float(order[1] == 2)


def test_coordinate_ascent_finds_the_blend_and_leaves_the_useless_member_out() -> None:
    weights, value = coordinate_weights(MODELS, _objective, grid=(0.0, 1.0, 5.0))
    assert value == 1.5 and weights[0] == 1.0 and weights[1] > 0 and weights[2] > 0 and weights[3] == 0.0
    full, full_value = tune_weights(MODELS, _objective, grid=(0.0, 1.0, 5.0))
    assert full_value == value  # as good as the full grid here, with 9 blends per sweep instead of 27
    with pytest.raises(ValueError, match="at least one model"):
        coordinate_weights([], _objective)


def test_blend_of_given_scores_equals_scoring_and_needs_every_weighted_member() -> None:
    hybrid = Hybrid(MODELS[:3], [1.0, 0.0, 2.0], fusion="rrf")
    raws = [m.score(np.array([0, 0]), X) for m in MODELS[:3]]
    assert np.allclose(hybrid.blend([raws[0], None, raws[2]], (2, 4)), hybrid.score(np.array([0, 0]), X))
    with pytest.raises(ValueError, match="needs its scores"):
        hybrid.blend([None, None, raws[2]], (2, 4))
    assert np.array_equal(Hybrid(MODELS[:1], [0.0]).score(np.array([0, 0]), X), np.zeros((2, 4)))
