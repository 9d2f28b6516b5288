"""SLIM (Ning & Karypis 2011): sparse item-item weights learnt by elastic-net regression.

Each item's column of ``W`` predicts that item from the user's other items::

    min_w  ½‖x_j − X w‖² / n_users + alpha · (l1_ratio · ‖w‖₁ + ½ (1 − l1_ratio) · ‖w‖²),  w ≥ 0, w_j = 0

solved by scikit-learn's coordinate descent (``ElasticNet``, ``positive=True``), one item at a
time with the item's own column emptied. Unlike EASE's closed form the weights are non-negative
and sparse, so it blends well with it; the price is one regression per item, so ``fit``
refuses catalogs above ``max_items`` and says so.
"""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np
import scipy.sparse as sp

from tastemaker.candidates.item_item import ItemItemScores


class SLIM(ItemItemScores):
    """Sparse linear item-item model on binary interactions.

    ``alpha`` and ``l1_ratio`` are scikit-learn's elastic-net strength and L1 share.

    >>> SLIM(alpha=0.05, l1_ratio=0.01).fit(X).score(np.array([0]), X)  # doctest: +SKIP
    """

    name = "slim"

    def __init__(self, alpha: float = 0.05, l1_ratio: float = 0.05, max_iter: int = 100,
                 max_items: int = 5_000) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.max_items = max_items

    def fit(self, X: sp.csr_matrix) -> Self:
        """Learn the item-item weights from interactions ``X`` (users × items; any positive value counts as 1)."""
        if self.alpha <= 0 or not 0 <= self.l1_ratio <= 1:
            raise ValueError(f"need alpha > 0 and 0 <= l1_ratio <= 1, got alpha={self.alpha}, "
                             f"l1_ratio={self.l1_ratio}")
        n = X.shape[1]
        if n > self.max_items:
            raise ValueError(f"SLIM on {n:,} items fits {n:,} regressions (limit {self.max_items:,}, max_items): "
                             "use EASE, ALS or item-item co-listening for catalogs this large")
        from sklearn.exceptions import ConvergenceWarning  # here: importing scikit-learn costs every CLI call a second
        from sklearn.linear_model import ElasticNet

        binary = sp.csc_matrix(X, dtype=np.float64, copy=True)
        binary.eliminate_zeros()
        binary.data[:] = 1.0
        regression = ElasticNet(alpha=self.alpha, l1_ratio=self.l1_ratio, positive=True, fit_intercept=False,
                                copy_X=False, max_iter=self.max_iter, tol=1e-4, selection="random", random_state=0)
        rows, cols, values = [], [], []
        with warnings.catch_warnings():  # a few items stop at max_iter; their weights are still usable
            warnings.simplefilter("ignore", ConvergenceWarning)
            for j in np.flatnonzero(np.diff(binary.indptr)):
                lo, hi = binary.indptr[j], binary.indptr[j + 1]
                target = binary[:, [j]].toarray().ravel()
                binary.data[lo:hi] = 0.0  # the item may not predict itself
                regression.fit(binary, target)
                binary.data[lo:hi] = 1.0
                found = np.flatnonzero(regression.coef_)
                rows.append(found)
                cols.append(np.full(len(found), j))
                values.append(regression.coef_[found])
        self.similarity_ = sp.csr_matrix(
            (np.concatenate(values or [np.empty(0)]), (np.concatenate(rows or [np.empty(0, int)]),
                                                       np.concatenate(cols or [np.empty(0, int)]))),
            shape=(n, n), dtype=np.float32)
        return self
