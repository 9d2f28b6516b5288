"""RP3beta (Paudel et al. 2016; Dacrema et al. 2019): a three-step random walk, popularity penalised.

A walk goes item ``i`` → a user who has ``i`` → another item ``j`` of that user; each step's
transition probabilities are raised to ``alpha`` and the arrival item's probability divided by
its popularity to the power ``beta``::

    W[i, j] = Σ_u P(u | i)^alpha · P(j | u)^alpha / pop(j)^beta

Each item keeps its ``k`` strongest neighbours; a user's scores are their interaction row
(binary) times ``W``. ``beta = 0`` is plain P3alpha; larger ``beta`` lifts the long tail.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from tastemaker.candidates.item_item import ItemItemScores


def _row_stochastic(M: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """Each row divided by its sum, then every entry raised to ``alpha`` (empty rows stay empty)."""
    sums = np.asarray(M.sum(axis=1), dtype=np.float64).ravel()
    out = (sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ M).tocsr()
    out.data **= alpha
    return out


def top_k_per_row(W: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """``W`` with only each row's ``k`` largest entries kept (ties: the lower column index).

    >>> top_k_per_row(sp.csr_matrix([[0.1, 0.5, 0.3], [1.0, 0.0, 2.0]]), 1).toarray().tolist()
    [[0.0, 0.5, 0.0], [0.0, 0.0, 2.0]]
    """
    W = W.tocsr()
    W.sort_indices()
    counts = np.diff(W.indptr)
    keep = np.ones(W.nnz, dtype=bool)
    for row in np.flatnonzero(counts > k):  # only rows with more than k neighbours need cutting
        lo, hi = W.indptr[row], W.indptr[row + 1]
        order = np.lexsort((W.indices[lo:hi], -W.data[lo:hi]))
        keep[lo + order[k:]] = False
    rows = np.repeat(np.arange(W.shape[0]), counts)[keep]
    return sp.csr_matrix((W.data[keep], (rows, W.indices[keep])), shape=W.shape)


class RP3Beta(ItemItemScores):
    """Item-item random-walk similarity with a popularity penalty.

    ``alpha`` sharpens (> 1) or flattens (< 1) the walk's steps, ``beta`` penalises popular
    arrival items, ``k`` is the neighbours kept per item.

    >>> RP3Beta(alpha=0.75, beta=0.6, k=400).fit(X).score(np.array([0]), X)  # doctest: +SKIP
    """

    name = "rp3beta"

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, k: int = 200) -> None:
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def fit(self, X: sp.csr_matrix) -> Self:
        """Build the neighbour matrix from interactions ``X`` (users × items; any positive value counts as 1)."""
        if self.alpha <= 0 or self.beta < 0 or self.k < 1:
            raise ValueError(f"need alpha > 0, beta >= 0 and k >= 1, got alpha={self.alpha}, beta={self.beta}, "
                             f"k={self.k}")
        binary = sp.csr_matrix(X, dtype=np.float64, copy=True)
        binary.eliminate_zeros()
        binary.data[:] = 1.0
        to_item = _row_stochastic(binary, self.alpha)  # P(j | u)
        to_user = _row_stochastic(binary.T.tocsr(), self.alpha)  # P(u | i)
        popularity = np.asarray(binary.sum(axis=0), dtype=np.float64).ravel()
        walk = (to_user @ to_item).tocsr() @ sp.diags(np.where(popularity > 0, popularity, 1.0) ** -self.beta)
        walk = walk.tocsr()
        walk.setdiag(0.0)
        walk.eliminate_zeros()
        self.similarity_ = top_k_per_row(walk, self.k).astype(np.float32)
        return self
