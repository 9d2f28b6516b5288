"""EASE (Steck 2019): a closed-form item-item model, strong on small catalogs.

``B = I - P / diag(P)`` with ``P = (XᵀX + λI)⁻¹`` and a zero diagonal; a user's scores are
their interaction row times ``B``. It needs several dense items × items matrices, so ``fit``
refuses catalogs that would not fit in ``max_memory_gb`` and says so.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from tastemaker.errors import NotFittedError


class EASE:
    """Embarrassingly shallow autoencoder over a user × item matrix.

    >>> EASE(l2=500.0).fit(X).score(np.array([0, 1]), X).shape  # doctest: +SKIP
    """

    name = "ease"

    def __init__(self, l2: float = 500.0, max_memory_gb: float = 8.0) -> None:
        self.l2 = l2
        self.max_memory_gb = max_memory_gb

    def fit(self, X: sp.csr_matrix) -> Self:
        """Learn the item-item weights from interactions ``X`` (users × items)."""
        if self.l2 <= 0:
            raise ValueError(f"l2 must be positive, got {self.l2}")
        n = X.shape[1]
        need_gb = 3 * n * n * 8 / 2**30  # Gram matrix, its inverse, and B, in float64
        if need_gb > self.max_memory_gb:
            raise ValueError(
                f"EASE on {n:,} items needs about {need_gb:,.0f} GB (limit {self.max_memory_gb:g} GB, "
                "max_memory_gb): use ALS or item-item co-listening for catalogs this large"
            )
        gram = (X.T @ X).toarray().astype(np.float64)
        gram[np.diag_indices(n)] += self.l2
        p = np.linalg.inv(gram)
        del gram
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0.0)
        self.weights_ = b
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for the given user rows of ``X``."""
        if not hasattr(self, "weights_"):
            raise NotFittedError("EASE is not fitted: call fit() first")
        return np.asarray(X[users] @ self.weights_)

    def fold_in(self, X_rows: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for users not seen in training, from their rows (same item columns)."""
        if not hasattr(self, "weights_"):
            raise NotFittedError("EASE is not fitted: call fit() first")
        return np.asarray(X_rows @ self.weights_)
