"""Scoring shared by the models whose whole state is an items × items weight matrix ``similarity_``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tastemaker.errors import NotFittedError


class ItemItemScores:
    """``score`` and ``fold_in`` as a user's binary row times ``similarity_`` (any positive value counts as 1)."""

    similarity_: sp.csr_matrix

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for the given user rows of ``X``."""
        return self.fold_in(X[users])

    def fold_in(self, X_rows: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for users not seen in training, from their rows (same item columns)."""
        if not hasattr(self, "similarity_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")
        if X_rows.shape[1] != self.similarity_.shape[0]:
            raise ValueError(f"X_rows has {X_rows.shape[1]} item columns, the model {self.similarity_.shape[0]}")
        binary = sp.csr_matrix(X_rows, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        return np.asarray((binary @ self.similarity_).todense())
