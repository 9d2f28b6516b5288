"""Personal history: what the listener already plays most — the backbone of familiar surfaces."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from tastemaker.errors import NotFittedError


class PersonalHistory:
    """Score = the user's own play count of each item, ties broken by global popularity.

    Fit it on play counts (not a binary matrix) to rank re-listening by volume.
    """

    name = "history"

    def fit(self, X: sp.csr_matrix) -> Self:
        """Keep the users' counts and the items' popularity from ``X``."""
        self.counts_ = X.tocsr().astype(np.float64)
        popularity = np.asarray((X > 0).sum(axis=0), dtype=np.float64).ravel()
        self.tiebreak_ = popularity / (popularity.max() + 1.0)
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Own counts plus a popularity fraction below one play."""
        if not hasattr(self, "counts_"):
            raise NotFittedError("PersonalHistory is not fitted: call fit() first")
        return self.counts_[users].toarray() + self.tiebreak_[None, :]

    def fold_in(self, X_rows: sp.csr_matrix) -> np.ndarray:
        """The same score for users not seen in training: their own counts in ``X_rows``."""
        if not hasattr(self, "counts_"):
            raise NotFittedError("PersonalHistory is not fitted: call fit() first")
        return sp.csr_matrix(X_rows, dtype=np.float64).toarray() + self.tiebreak_[None, :]
