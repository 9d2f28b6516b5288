"""External ids in, ranked items out: any matrix model behind the same ``recommend`` as Popularity.

The model works on integer rows and columns; this wrapper owns the id maps, builds the matrix
from ``user_id, item_id, weight`` interactions, masks what a user must not get again, falls
back to popularity for users it has never seen, and saves everything as JSON + ``.npz``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.candidates.als import ALS
from tastemaker.candidates.artist import ArtistDiscovery, artist_codes
from tastemaker.candidates.bpr import BPR
from tastemaker.candidates.content import ContentModel, audio_vectors
from tastemaker.candidates.ease import EASE
from tastemaker.candidates.history import PersonalHistory
from tastemaker.candidates.itemknn import ItemKNN
from tastemaker.candidates.rp3beta import RP3Beta
from tastemaker.candidates.slim import SLIM
from tastemaker.errors import NotFittedError

#: what a model is fed: 1 per pair, the ``weight`` column, or the ``recency`` column
SIGNALS = ("binary", "weights", "recency")
#: model name -> class; every class takes keyword parameters and has fit(X) / score(users, X)
MATRIX_CLASSES: dict[str, type] = {"als": ALS, "ease": EASE, "itemknn": ItemKNN, "history": PersonalHistory,
                                   "bpr": BPR, "artist": ArtistDiscovery, "content": ContentModel, "rp3beta": RP3Beta,
                                   "slim": SLIM}


class MatrixRecommender:
    """Wrap a matrix model (``als``, ``bpr``, ``ease``, ``slim``, ``itemknn``, ``rp3beta``, ``history``,
    ``artist``) for external ids.

    ``signal="binary"`` feeds the model 1 per listened pair; ``"weights"`` feeds it the
    interactions' weights (play counts, or listening-aware confidence); ``"recency"`` feeds it
    the listens decayed by age (the ``recency`` column of
    :func:`tastemaker.features.interactions.interactions`).

    >>> MatrixRecommender("als", factors=64).fit(interactions).recommend(["u1"], k=10)  # doctest: +SKIP
    """

    def __init__(self, model: str, *, signal: str = "binary", **params: Any) -> None:
        if model not in MATRIX_CLASSES:
            raise ValueError(f"unknown model {model!r}; known: {', '.join(MATRIX_CLASSES)}")
        if signal not in SIGNALS:
            raise ValueError(f"signal must be one of {', '.join(SIGNALS)} (a column of the interactions), "
                             f"got {signal!r}")
        self.name = model
        self.signal = signal
        self.params = params
        self.model = MATRIX_CLASSES[model](**params)

    def fit(self, interactions: pl.DataFrame, item_features: pl.DataFrame | None = None) -> Self:
        """Build the user × item matrix from ``user_id, item_id, weight`` and fit the model.

        A model taking ``item_artists`` (``artist``) gets it from an ``artist_id`` column; one
        taking ``item_vectors`` (``content``) gets standardised audio features from
        ``item_features`` (rows of the ``audio_features`` table).
        """
        self.users_ = interactions["user_id"].unique().sort().to_numpy().astype(str)
        self.items_ = interactions["item_id"].unique().sort().to_numpy().astype(str)
        rows = np.searchsorted(self.users_, interactions["user_id"].to_numpy().astype(str))
        cols = np.searchsorted(self.items_, interactions["item_id"].to_numpy().astype(str))
        column = {"binary": "weight", "weights": "weight", "recency": "recency"}[self.signal]
        if column not in interactions.columns:
            raise ValueError(f"signal {self.signal!r} needs a {column!r} column in the interactions")
        values = sp.csr_matrix((interactions[column].to_numpy().astype(np.float32), (rows, cols)),
                               shape=(len(self.users_), len(self.items_)))
        values.sum_duplicates()
        binary = values.copy()
        binary.data[:] = 1.0
        self.matrix_ = binary if self.signal == "binary" else values
        self.popularity_ = np.asarray(binary.sum(axis=0), dtype=np.float64).ravel()
        if "item_artists" in model_params(self.name):  # the item index exists only now
            self.model = MATRIX_CLASSES[self.name](**self.params, item_artists=item_artist_index(interactions, self.items_))
        if "item_vectors" in model_params(self.name):
            if item_features is None:
                raise ValueError(f"{self.name} needs item_features (the audio_features table) to build item vectors")
            self.model = MATRIX_CLASSES[self.name](**self.params, item_vectors=audio_vectors(item_features, self.items_))
        self.model.fit(self.matrix_)
        return self

    def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        """Top ``k`` items per user as ``user_id, item_id, score, rank``; ``exclude`` pairs are never returned."""
        if not hasattr(self, "matrix_"):
            raise NotFittedError(f"{self.name} is not fitted: call fit() or load() first")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        ids = np.asarray(user_ids, dtype=str)
        rows = np.minimum(np.searchsorted(self.users_, ids), len(self.users_) - 1)
        known = self.users_[rows] == ids
        scores = np.tile(self.popularity_, (len(ids), 1))  # never-seen users get popularity
        if known.any():
            scores[known] = np.asarray(self.model.score(rows[known], self.matrix_), dtype=np.float64)
        if exclude is not None and exclude.height:
            hit_rows, hit_cols = self._excluded(ids, exclude)
            scores[hit_rows, hit_cols] = -np.inf
        k = min(k, len(self.items_))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)
        best = np.take_along_axis(scores, top, axis=1)
        frame = pl.DataFrame({"user_id": np.repeat(ids, k), "item_id": self.items_[top.ravel()],
                              "score": best.ravel(), "rank": np.tile(np.arange(1, k + 1), len(ids))})
        return frame.filter(pl.col("score") > -np.inf)

    def _excluded(self, ids: np.ndarray, exclude: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Score-matrix rows and columns of the ``exclude`` pairs (every request row of a repeated user).

        Binary searches on the sorted ids: no frame of the whole catalog is built per call.
        """
        pair_users = exclude["user_id"].to_numpy().astype(str)
        pair_items = exclude["item_id"].to_numpy().astype(str)
        cols = np.minimum(np.searchsorted(self.items_, pair_items), len(self.items_) - 1)
        known = self.items_[cols] == pair_items
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        lo = np.searchsorted(sorted_ids, pair_users, side="left")
        counts = np.where(known, np.searchsorted(sorted_ids, pair_users, side="right") - lo, 0)
        total = int(counts.sum())
        starts = np.repeat(lo, counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return order[starts + offsets], np.repeat(cols, counts)

    def item_vectors(self) -> np.ndarray | None:
        """One vector per item of ``items_`` when the model learns them (ALS, BPR, content), else ``None``."""
        for attr in ("item_factors_", "normed_vectors_"):
            if hasattr(self.model, attr):
                return np.asarray(getattr(self.model, attr), dtype=np.float64)
        return None

    def similar_items(self, item_id: str, k: int = 10) -> pl.DataFrame:
        """The ``k`` items most like ``item_id`` as ``item_id, score, rank``; empty for an unknown item.

        Each model answers with what it learned: cosine of item vectors (ALS, BPR, content), the
        item-item weights (EASE, ItemKNN), and for the others (history, artist) cosine of
        co-listening: how many listeners the two items share, over the root of their audiences.
        """
        if not hasattr(self, "matrix_"):
            raise NotFittedError(f"{self.name} is not fitted: call fit() or load() first")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        i = int(np.searchsorted(self.items_, item_id))
        if i >= len(self.items_) or self.items_[i] != item_id:
            return pl.DataFrame(schema={"item_id": pl.String, "score": pl.Float64, "rank": pl.Int64})
        scores = self._similarities(i)
        scores[i] = -np.inf
        k = min(k, len(self.items_) - 1)
        if k < 1:
            return pl.DataFrame(schema={"item_id": pl.String, "score": pl.Float64, "rank": pl.Int64})
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        keep = np.isfinite(scores[top]) & (scores[top] > 0)
        top = top[keep]
        return pl.DataFrame({"item_id": self.items_[top], "score": scores[top],
                             "rank": np.arange(1, len(top) + 1, dtype=np.int64)})

    def _similarities(self, i: int) -> np.ndarray:
        vectors = self.item_vectors()
        if vectors is not None:
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            return unit @ unit[i]
        if hasattr(self.model, "weights_"):  # EASE: B[i, j] is how much item i predicts j
            return np.asarray(self.model.weights_[i], dtype=np.float64).ravel().copy()
        if self.name in ("itemknn", "rp3beta", "slim"):  # (the artist model's similarity_ is artist × artist)
            return np.asarray(self.model.similarity_[i].todense(), dtype=np.float64).ravel()
        listened = self.matrix_.tocsc(copy=True)
        listened.data[:] = 1.0
        shared = np.asarray((listened[:, i].T @ listened).todense(), dtype=np.float64).ravel()
        audience = np.asarray(listened.sum(axis=0), dtype=np.float64).ravel()
        return shared / np.sqrt(np.maximum(audience * audience[i], 1.0))

    def save(self, path: Path) -> None:
        """Write ``params.json`` and ``arrays.npz`` (ids, matrix, the model's learned arrays)."""
        if not hasattr(self, "matrix_"):
            raise NotFittedError(f"{self.name} is not fitted: nothing to save")
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": self.name, "signal": self.signal, **self.params}))
        state = {"users": self.users_, "items": self.items_, "popularity": self.popularity_, "matrix": self.matrix_,
                 **{f"model.{k}": v for k, v in learned_state(self.model).items()}}
        np.savez(path / "arrays.npz", **flatten_arrays(state))

    @classmethod
    def load(cls, path: Path) -> MatrixRecommender:
        """Read a model written by :meth:`save`."""
        params = json.loads((path / "params.json").read_text())
        self = cls(params.pop("model"), **params)
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        self.users_, self.items_, self.popularity_ = arrays["users"], arrays["items"], arrays["popularity"]
        for key in {k.rsplit(".", 1)[0] if k.endswith((".data", ".indices", ".indptr", ".shape")) else k
                    for k in arrays}:
            value = _restore(arrays, key)
            if key == "matrix":
                self.matrix_ = value
            elif key.startswith("model."):
                setattr(self.model, key.removeprefix("model."), value)
        return self


def item_artist_index(interactions: pl.DataFrame, items: np.ndarray) -> np.ndarray:
    """The artist index of each of ``items`` from the interactions' ``artist_id`` column (-1: none known)."""
    if "artist_id" not in interactions.columns:
        raise ValueError("this model needs an artist_id column in the interactions (user_id, item_id, weight, "
                         "artist_id); tastemaker.features.interactions.interactions() adds it from the events")
    per_item = interactions.group_by("item_id").agg(pl.col("artist_id").drop_nulls().min())
    aligned = pl.DataFrame({"item_id": items}).join(per_item, on="item_id", how="left", maintain_order="left")
    return artist_codes(aligned["artist_id"])


def learned_state(model: Any) -> dict[str, Any]:
    """A fitted model's learned attributes (names ending in ``_``, as in scikit-learn)."""
    return {k: v for k, v in vars(model).items() if k.endswith("_")}


def flatten_arrays(state: dict[str, Any]) -> dict[str, np.ndarray]:
    """Arrays for ``np.savez``: dense values as they are, sparse ones as ``key.data/indices/indptr/shape``."""
    arrays: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if sp.issparse(value):
            csr = value.tocsr()
            arrays |= {f"{key}.data": csr.data, f"{key}.indices": csr.indices, f"{key}.indptr": csr.indptr,
                       f"{key}.shape": np.asarray(csr.shape)}
        else:
            arrays[key] = np.asarray(value)
    return arrays


def _restore(arrays: dict[str, np.ndarray], key: str) -> Any:
    if f"{key}.indptr" in arrays:
        return sp.csr_matrix((arrays[f"{key}.data"], arrays[f"{key}.indices"], arrays[f"{key}.indptr"]),
                             shape=tuple(arrays[f"{key}.shape"]))
    return arrays[key]


def model_params(name: str) -> list[str]:
    """The parameter names a matrix model takes (for CLI help and validation)."""
    return [p for p in inspect.signature(MATRIX_CLASSES[name].__init__).parameters if p != "self"]
