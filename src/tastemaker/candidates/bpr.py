"""Bayesian personalised ranking (Rendle et al. 2009) through ``implicit``.

``implicit`` keeps an item bias as the last column of ``item_factors`` and a constant 1 as the
last column of ``user_factors`` (zeros for a user with no interactions). Here the bias is split
off into ``item_bias_`` and added explicitly, so a score is ``uᵀv + b_i`` for every user, and a
user without training rows gets the bias ranking rather than all zeros.

Training is Hogwild SGD over ``threads`` cores (0: all): with more than one thread, two fits with
the same ``random_state`` can differ slightly; ``threads=1`` repeats exactly. Saved models reproduce exactly (the factors are saved).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tastemaker.errors import NotFittedError


class BPR:
    """Pairwise ranking matrix factorisation: a listened item should outscore a sampled one.

    ``X`` is read as binary: BPR ignores the weight of a pair.

    >>> BPR(factors=64, learning_rate=0.01, iterations=100).fit(X).score(np.array([0]), X)  # doctest: +SKIP
    """

    name = "bpr"

    def __init__(self, factors: int = 64, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, random_state: int = 0, threads: int = 0) -> None:
        self.factors = factors
        self.threads = threads
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state

    def fit(self, X: sp.csr_matrix) -> Self:
        """Learn factors and item biases from interactions ``X`` (users × items)."""
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads would fight it
            model = BayesianPersonalizedRanking(factors=self.factors, learning_rate=self.learning_rate,
                                                regularization=self.regularization, iterations=self.iterations,
                                                random_state=self.random_state, num_threads=self.threads)
            model.fit(X.tocsr().astype(np.float32), show_progress=False)
        users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
        self.user_factors_ = users[:, :-1].copy()
        self.item_factors_ = items[:, :-1].copy()
        self.item_bias_ = items[:, -1].copy()
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for the given users (``X`` is unused: the factors hold the history)."""
        if not hasattr(self, "user_factors_"):
            raise NotFittedError("BPR is not fitted: call fit() first")
        return self.user_factors_[users] @ self.item_factors_.T + self.item_bias_[None, :]
