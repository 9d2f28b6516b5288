"""Implicit-feedback matrix factorisation (ALS, Hu/Koren/Volinsky 2008) through ``implicit``."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tastemaker.errors import NotFittedError


class ALS:
    """Alternating least squares with confidence ``1 + alpha * x``.

    >>> ALS(factors=64, regularization=30.0, alpha=3.0).fit(X).score(np.array([0]), X)  # doctest: +SKIP
    """

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 10.0, alpha: float = 1.0,
                 iterations: int = 15, random_state: int = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def fit(self, X: sp.csr_matrix) -> Self:
        """Factorise interactions ``X`` (users × items)."""
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads would fight it
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            alpha=self.alpha, iterations=self.iterations,
                                            random_state=self.random_state)
            model.fit(X.tocsr().astype(np.float32), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for the given users (``X`` is unused: the factors hold the history)."""
        if not hasattr(self, "user_factors_"):
            raise NotFittedError("ALS is not fitted: call fit() first")
        return self.user_factors_[users] @ self.item_factors_.T

    def fold_in(self, X_rows: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for users not seen in training, item factors held fixed.

        Each user's factors are the exact least-squares solution of one ALS half-step on their
        row of ``X_rows`` (same item columns as ``fit``; ``implicit``'s ``recalculate_user``, with
        the same regularization and confidence ``alpha * x``).
        """
        return self.fold_in_factors(X_rows) @ self.item_factors_.T

    def fold_in_factors(self, X_rows: sp.csr_matrix) -> np.ndarray:
        """The user factors :meth:`fold_in` solves for, one row per row of ``X_rows``."""
        from implicit.cpu.als import AlternatingLeastSquares

        if not hasattr(self, "item_factors_"):
            raise NotFittedError("ALS is not fitted: call fit() first")
        if X_rows.shape[1] != self.item_factors_.shape[0]:
            raise ValueError(f"X_rows has {X_rows.shape[1]} item columns, the model {self.item_factors_.shape[0]}")
        with threadpool_limits(1, "blas"):
            solver = AlternatingLeastSquares(factors=self.item_factors_.shape[1], regularization=self.regularization,
                                             alpha=self.alpha)
            solver.item_factors = np.ascontiguousarray(self.item_factors_, dtype=np.float32)
            rows = sp.csr_matrix(X_rows, dtype=np.float32)
            return np.asarray(solver.recalculate_user(np.arange(rows.shape[0]), rows))
