"""Typed configs of the matrix models (the ones :class:`~tastemaker.candidates.recommender.MatrixRecommender`
runs): each names its parameters with their defaults, refuses unknown keys, and says which matrix
of the training bundle the model learns from.
"""

from __future__ import annotations

from typing import Any, Literal

import scipy.sparse as sp
from pydantic import Field

from tastemaker.candidates.contract import Config
from tastemaker.candidates.data import Indexed


class MatrixConfig(Config):
    """A matrix model's config: its parameters are the estimator's keyword arguments."""

    def estimator_params(self) -> dict[str, Any]:
        """Keyword arguments for the estimator (everything but what picks the input matrix)."""
        return self.model_dump(exclude={"signal", "half_life_days"})

    def matrix(self, index: Indexed) -> sp.csr_matrix:
        """What the model is fed: one per listened pair."""
        return index.X


class ALSConfig(MatrixConfig):
    """Implicit ALS. ``signal``: ``"binary"`` (one per listened pair), ``"weights"`` (the interactions'
    weights as they are: listens, or a listening-aware confidence computed upstream), ``"confidence"``
    (the ratings where there are any, else log(1 + listens))."""

    factors: int = Field(64, ge=1)
    regularization: float = Field(10.0, ge=0)
    alpha: float = Field(3.0, gt=0)
    iterations: int = Field(15, ge=1)
    random_state: int = 0
    signal: Literal["binary", "weights", "confidence"] = "binary"

    def matrix(self, index: Indexed) -> sp.csr_matrix:
        if self.signal == "confidence":
            return index.confidence()
        return index.W if self.signal == "weights" else index.X


class BPRConfig(MatrixConfig):
    factors: int = Field(64, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    regularization: float = Field(0.01, ge=0)
    iterations: int = Field(100, ge=1)
    random_state: int = 0
    threads: int = Field(0, ge=0)


class EASEConfig(MatrixConfig):
    l2: float = Field(500.0, gt=0)
    max_memory_gb: float = Field(8.0, gt=0)


class SLIMConfig(MatrixConfig):
    alpha: float = Field(0.05, gt=0)
    l1_ratio: float = Field(0.01, ge=0, le=1)
    max_iter: int = Field(100, ge=1)
    max_items: int = Field(5_000, ge=1)


class ItemKNNConfig(MatrixConfig):
    k: int = Field(100, ge=1)
    weighting: Literal["cosine", "bm25"] = "bm25"


class RP3BetaConfig(MatrixConfig):
    alpha: float = Field(0.75, gt=0)
    beta: float = Field(0.6, ge=0)
    k: int = Field(400, ge=1)


class HistoryConfig(MatrixConfig):
    """The listener's own most-played tracks; ``half_life_days`` decays older listens (None: plain counts)."""

    half_life_days: float | None = Field(60.0, gt=0)

    def matrix(self, index: Indexed) -> sp.csr_matrix:
        return index.W if self.half_life_days is None else index.recency(self.half_life_days)


class ArtistConfig(MatrixConfig):
    """Unheard tracks of the listener's artists, then of similar ones; fed play counts."""

    similar_artists: int = Field(20, ge=0)
    similar_weight: float = Field(0.1, ge=0)
    freshness: float = Field(0.0, ge=0)

    def matrix(self, index: Indexed) -> sp.csr_matrix:
        return index.W


class ContentConfig(MatrixConfig):
    """Audio-feature similarity to the listener's tracks; fed play counts."""

    center: bool = False

    def matrix(self, index: Indexed) -> sp.csr_matrix:
        return index.W
