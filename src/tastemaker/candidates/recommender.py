"""External ids in, ranked items out: any matrix model behind the catalogue's one contract.

The model works on integer rows and columns; this wrapper owns the id maps (a
:class:`~tastemaker.candidates.data.TrainingData`'s), feeds the model the matrix its config
names, masks what a user must not get again, falls back to popularity for users it has never
seen, and saves everything as JSON + ``.npz``. Build one through the catalogue:
``tastemaker.candidates.catalogue.create("als", factors=64)``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.candidates.configs import MatrixConfig
from tastemaker.candidates.contract import Fitted, excluded_cells, top_frame
from tastemaker.candidates.content import audio_vectors
from tastemaker.candidates.data import TrainingData, lookup


class MatrixRecommender(Fitted):
    """Wrap a matrix estimator (``als``, ``bpr``, ``ease``, ``slim``, ``itemknn``, ``rp3beta``, ``history``,
    ``artist``, ``content``) for external ids.

    ``config`` says the estimator's parameters and which matrix of the bundle it learns from
    (binary, confidence, play counts, recency); an estimator taking ``item_artists`` gets the
    bundle's artists, one taking ``item_vectors`` its standardised audio features.

    >>> create("als", factors=64).fit(TrainingData(interactions)).recommend(["u1"], k=10)  # doctest: +SKIP
    """

    _fitted_by = "matrix_"
    _items_by = "items_"

    def __init__(self, name: str, config: MatrixConfig, estimator: type) -> None:
        self.name = name
        self.config = config
        self.estimator = estimator
        self.model = estimator(**config.estimator_params())

    def fit(self, data: TrainingData) -> Self:
        """Fit the estimator on the matrix its config names, over ``data``'s id map."""
        index = data.index
        extra: dict[str, Any] = {}
        wants = inspect.signature(self.estimator.__init__).parameters
        if "item_artists" in wants:
            artists = index.artists()
            if artists is None:
                raise ValueError(f"{self.name} needs each item's artist: an artist_id column in the interactions "
                                 "or TrainingData(item_artists=...)")
            extra["item_artists"] = artists
        if "item_vectors" in wants:
            if data.audio_features is None or data.audio_features.is_empty():
                raise ValueError(f"{self.name} needs audio features: import them first "
                                 "(`tastemaker import audio-features`, or a generated world has them)")
            extra["item_vectors"] = audio_vectors(data.audio_features, index.items)
        matrix = sp.csr_matrix(self.config.matrix(index))
        self.model = self.estimator(**self.config.estimator_params(), **extra).fit(matrix)
        self.users_, self.items_, self.matrix_ = index.users, index.items, matrix
        self.popularity_ = np.asarray(index.X.sum(axis=0), dtype=np.float64).ravel()
        return self

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        """The estimator's scores of users by row of the id map (users × items)."""
        self._check()
        return np.asarray(self.model.score(np.asarray(rows), self.matrix_), dtype=np.float64)

    def score(self, user_ids: Sequence[str], exclude: pl.DataFrame | None = None) -> np.ndarray:
        """Users × :attr:`item_ids` scores; never-seen users get popularity; ``exclude`` pairs get ``-inf``."""
        self._check()
        ids = np.asarray(user_ids, dtype=str)
        rows = lookup(self.users_, ids)
        known = rows >= 0
        scores = np.tile(self.popularity_, (len(ids), 1))
        if known.any():
            scores[known] = self.score_rows(rows[known])
        if exclude is not None and exclude.height:
            hit_rows, hit_cols = excluded_cells(ids, self.items_, exclude)
            scores[hit_rows, hit_cols] = -np.inf
        return scores

    def recommend(self, user_ids: Sequence[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        """Top ``k`` items per user as ``user_id, item_id, score, rank``; ``exclude`` pairs are never returned."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        scores = self.score(user_ids, exclude)
        return top_frame(user_ids, self.items_, scores, k)

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
        self._check()
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
        self._check()
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": self.name, **self.config.model_dump()}))
        state = {"users": self.users_, "items": self.items_, "popularity": self.popularity_, "matrix": self.matrix_,
                 **{f"model.{k}": v for k, v in learned_state(self.model).items()}}
        np.savez(path / "arrays.npz", **flatten_arrays(state))

    @classmethod
    def load(cls, path: Path) -> MatrixRecommender:
        """Read a model written by :meth:`save` (its config and estimator come from the catalogue)."""
        from tastemaker.candidates.catalogue import create  # the catalogue lists this class: import at use

        params = json.loads((path / "params.json").read_text())
        self = create(params.pop("model"), **params)
        if not isinstance(self, cls):
            raise ValueError(f"{path} holds a {type(self).__name__}, not a matrix model")
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
