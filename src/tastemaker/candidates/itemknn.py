"""Item-item co-listening: cosine or BM25-weighted neighbours through ``implicit``."""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np
import scipy.sparse as sp

from tastemaker.errors import NotFittedError


class ItemKNN:
    """Score = the user's history times a sparse item-item similarity (top ``k`` neighbours per item).

    >>> ItemKNN(k=200, weighting="bm25").fit(X).score(np.array([0]), X)  # doctest: +SKIP
    """

    name = "itemknn"

    def __init__(self, k: int = 100, weighting: str = "cosine") -> None:
        self.k = k
        self.weighting = weighting

    def fit(self, X: sp.csr_matrix) -> Self:
        """Build the neighbour matrix from interactions ``X`` (users × items)."""
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        kinds = {"cosine": CosineRecommender, "bm25": BM25Recommender}
        if self.weighting not in kinds:
            raise ValueError(f"weighting must be one of {sorted(kinds)}, got {self.weighting!r}")
        model = kinds[self.weighting](K=self.k)
        with warnings.catch_warnings():  # implicit converts its own weighted copy and warns about it
            warnings.simplefilter("ignore")
            model.fit(X.tocsr().astype(np.float32), show_progress=False)
        self.similarity_ = model.similarity.tocsr()
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for the given user rows of ``X``."""
        if not hasattr(self, "similarity_"):
            raise NotFittedError("ItemKNN is not fitted: call fit() first")
        return np.asarray((X[users] @ self.similarity_).todense())

    def fold_in(self, X_rows: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for users not seen in training, from their rows (same item columns)."""
        if not hasattr(self, "similarity_"):
            raise NotFittedError("ItemKNN is not fitted: call fit() first")
        return np.asarray((X_rows @ self.similarity_).todense())
