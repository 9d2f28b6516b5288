"""The one contract every recommender of the catalogue keeps (see :mod:`tastemaker.candidates.catalogue`).

A recommender is built from a typed config (unknown keys are refused), fitted on one
:class:`~tastemaker.candidates.data.TrainingData`, scores every item of its catalogue for users
given by external id, recommends the top ``k`` minus what each user must not get again, and
saves to a folder (``params.json`` + arrays) that ``load`` reads back with identical scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from tastemaker.candidates.data import TrainingData, lookup
from tastemaker.errors import NotFittedError


class Config(BaseModel):
    """A model's parameters: typed, immutable, and an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Fitted:
    """``is_fitted``, ``item_ids`` and the not-fitted error of a catalogue model, read off two of its learned
    attributes: ``_fitted_by`` (set by ``fit``/``load``) and ``_items_by`` (the item ids, in score order)."""

    name: str
    _fitted_by = "item_ids_"
    _items_by = "item_ids_"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, self._fitted_by)

    @property
    def item_ids(self) -> np.ndarray:
        """The catalogue the model scores, in score-column order."""
        self._check()
        return np.asarray(getattr(self, self._items_by))

    def _check(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name} is not fitted: call fit() or load() first")


@runtime_checkable
class Recommender(Protocol):
    """What the CLI, the engine, the simulator, evaluation and the benchmarks may call on a model."""

    name: str
    config: Config

    @property
    def is_fitted(self) -> bool: ...

    @property
    def item_ids(self) -> np.ndarray:
        """The catalogue the model scores, in score-column order."""
        ...

    def fit(self, data: TrainingData) -> Self: ...

    def item_vectors(self) -> np.ndarray | None:
        """One vector per item of :attr:`item_ids` when the model learns them (what reasons, radio and
        similarity compare tracks with), else ``None``."""
        ...

    def score(self, user_ids: Sequence[str], exclude: pl.DataFrame | None = None) -> np.ndarray:
        """Users × :attr:`item_ids` scores; ``exclude`` pairs (``user_id, item_id``) score ``-inf``."""
        ...

    def recommend(self, user_ids: Sequence[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        """Top ``k`` per user as ``user_id, item_id, score, rank``."""
        ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> Self: ...


def excluded_cells(ids: np.ndarray, items: np.ndarray, exclude: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Score-matrix rows and columns of the ``exclude`` pairs (every request row of a repeated user).

    ``ids`` are the request's users in row order, ``items`` the score columns (in any order).
    Binary searches on sorted ids: no frame of the whole catalog is built per call.
    """
    pair_users = exclude["user_id"].to_numpy().astype(str)
    by_id = np.argsort(items, kind="stable")
    found = lookup(np.asarray(items)[by_id], exclude["item_id"])
    cols = np.where(found >= 0, by_id[np.maximum(found, 0)], -1)
    known = cols >= 0
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    lo = np.searchsorted(sorted_ids, pair_users, side="left")
    counts = np.where(known, np.searchsorted(sorted_ids, pair_users, side="right") - lo, 0)
    total = int(counts.sum())
    starts = np.repeat(lo, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[starts + offsets], np.repeat(cols, counts)


def top_frame(user_ids: Sequence[str], items: np.ndarray, scores: np.ndarray, k: int) -> pl.DataFrame:
    """Each row's top ``k`` of ``scores`` (users × ``items``) as ``user_id, item_id, score, rank``; ``-inf`` never."""
    ids = np.asarray(user_ids, dtype=str)
    k = min(k, len(items))
    if k < 1:
        return pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String, "score": pl.Float64, "rank": pl.Int64})
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable"), axis=1)
    best = np.take_along_axis(scores, top, axis=1)
    frame = pl.DataFrame({"user_id": np.repeat(ids, k), "item_id": np.asarray(items)[top.ravel()],
                          "score": best.ravel().astype(np.float64),
                          "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), len(ids))})
    return frame.filter(pl.col("score") > -np.inf)
