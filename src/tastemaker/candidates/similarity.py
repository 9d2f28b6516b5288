"""Similarity with support: two tracks (or artists) are alike when the same listeners play both, and only
as far as enough listeners say so.

Why: in a long-tailed catalogue most tracks have one listener, and a model fits all of one listener's
tracks to the same direction, so plain cosine of model vectors calls a stranger's niche plays 0.99 alike.
Here a pair ``i, j`` sharing ``n`` listeners (of ``n_i`` and ``n_j``) scores

    sim   = (1 - blend) · n / √(n_i · n_j) + blend · max(0, cos(v_i, v_j))
    score = sim · n / (n + shrinkage)

with ``v`` the model's vectors where both have one (else the co-listener cosine alone); a pair with fewer
than ``min_shared`` shared listeners is not scored at all. ``score`` is in [0, 1]: 1 only for two items
with the same, large audience; ``shared_listeners`` says how many listeners it rests on. Neighbours are
found through the listeners (the seed's listeners' rows of the users × items matrix are summed), so one
seed costs its listeners' listening and no item × item matrix is ever built.

Sparse seeds fill up from wider evidence, and each row says which (``basis``):

- ``"co-listeners"``: the pair itself has the support;
- ``"artist"``: tracks of the seed's artist and of its similar artists (the artists' own co-listener
  score and shared listeners), each artist's most played tracks first;
- ``"content"``: cosine of audio features (``shared_listeners`` null), where the catalogue has them.

The defaults (``SHRINKAGE``, ``MIN_SHARED``, ``BLEND``) were chosen on Last.fm tags, see
``docs/surfaces.md`` ("Similar tracks and artists") and ``bench/similar_artists.py``.

>>> sim = CoListening().fit(listening, artists, vectors=Vectors(model.item_ids, model.item_vectors()))
... # doctest: +SKIP
>>> sim.similar_items("t1", k=10)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import NotFittedError

#: λ: a pair sharing λ listeners keeps half its similarity
SHRINKAGE = 5.0
#: pairs sharing fewer listeners are not similar (at the co-listener basis)
MIN_SHARED = 2
#: weight of the model vectors' cosine next to the co-listener cosine (1: the model's cosine, shrunk and
#: with support; the co-listener cosine where either has no vector)
BLEND = 1.0
#: tracks an artist contributes to a track's ``"artist"`` fallback
PER_ARTIST = 3
BASES = ("co-listeners", "artist", "content")


@dataclass(frozen=True)
class Vectors:
    """Vectors by id: ``ids`` name the rows of ``values`` (a model's item factors, audio features)."""

    ids: np.ndarray | Sequence[str]
    values: np.ndarray

    def unit_on(self, ids: np.ndarray) -> np.ndarray:
        """Unit rows on ``ids`` (a zero row where an id has no vector, or a zero one)."""
        own = np.asarray(self.ids, dtype=str)
        values = np.asarray(self.values, dtype=np.float64)
        if len(own) != len(values):
            raise ValueError(f"{len(own)} ids for {len(values)} vectors")
        out = np.zeros((len(ids), values.shape[1] if values.ndim == 2 else 0))
        if len(own):
            order = np.argsort(own, kind="stable")
            at = np.minimum(np.searchsorted(own[order], ids), len(own) - 1)
            found = own[order][at] == ids
            out[found] = values[order][at[found]]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class _Level:
    """One level (tracks or artists): who listens to what, and each one's model and content vectors."""

    ids: np.ndarray
    X: sp.csr_matrix  # users × ids, one per listener
    XT: sp.csr_matrix  # ids × users
    listeners: np.ndarray
    unit: np.ndarray | None
    content: np.ndarray | None

    @classmethod
    def of(cls, ids: np.ndarray, X: sp.csr_matrix, unit: np.ndarray | None, content: np.ndarray | None) -> _Level:
        X = sp.csr_matrix(X, dtype=np.float64)
        X.sum_duplicates()
        X.data[:] = 1.0
        XT = X.T.tocsr()
        return cls(ids, X, XT, np.diff(XT.indptr).astype(np.int64), unit, content)

    def at(self, id_: str) -> int:
        i = int(np.searchsorted(self.ids, id_))
        return i if i < len(self.ids) and self.ids[i] == id_ else -1

    def shared(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns sharing a listener with ``seed`` and how many, through the seed's listeners (sparse)."""
        row = (self.XT[seed] @ self.X).tocsr()
        return row.indices.astype(np.int64), row.data.astype(np.int64)

    def neighbours(self, seed: int, k: int, shrinkage: float, min_shared: int,
                   blend: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(columns, scores, shared)`` of ``seed``'s best ``k`` (positive score, ``min_shared`` or more
        shared listeners), best first: score, then shared listeners, then id."""
        cols, counts = self.shared(seed)
        if min_shared == 0:  # every column is a candidate, the unshared ones with 0
            every = np.zeros(len(self.ids), dtype=np.int64)
            every[cols] = counts
            cols, counts = np.arange(len(self.ids)), every
        keep = (counts >= min_shared) & (cols != seed)
        cols, counts = cols[keep], counts[keep]
        sim = counts / np.sqrt(np.maximum(self.listeners[seed] * self.listeners[cols], 1))
        if self.unit is not None and blend > 0:
            model = np.clip(self.unit[cols] @ self.unit[seed], 0.0, 1.0)
            both = self.unit[seed].any() & self.unit[cols].any(axis=1)
            sim = np.where(both, (1.0 - blend) * sim + blend * model, sim)
        score = sim * (counts / (counts + shrinkage) if shrinkage > 0 else 1.0)
        top = np.lexsort((self.ids[cols], -counts, -score))
        top = top[score[top] > 0][:k]
        return cols[top], score[top], counts[top]

    def by_content(self, seed: int, k: int, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(columns, cosines)`` of the ``k`` columns closest to ``seed`` in content, minus ``skip``."""
        if self.content is None or not self.content[seed].any():
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        scores = np.clip(self.content @ self.content[seed], 0.0, 1.0)
        scores[skip] = 0.0
        scores[seed] = 0.0
        cols = np.flatnonzero(scores > 0)
        top = cols[np.lexsort((self.ids[cols], -scores[cols]))][:k]
        return top, scores[top]


class CoListening:
    """Item-item and artist-artist similarity from co-listeners, shrunk by their number, with fallbacks.

    ``shrinkage`` (λ ≥ 0): a pair's similarity times ``n / (n + λ)`` for ``n`` shared listeners;
    ``min_shared`` (≥ 0): fewer shared listeners, no co-listener similarity (0: every pair, the model's
    cosine with ``blend=1``); ``blend`` in [0, 1]: weight of the model vectors' cosine;
    ``per_artist``: tracks each artist gives a track's artist fallback.

    >>> CoListening(min_shared=3).fit(listening, {"t1": "a1"}).similar_artists("a1", k=5)  # doctest: +SKIP
    """

    def __init__(self, shrinkage: float = SHRINKAGE, min_shared: int = MIN_SHARED, blend: float = BLEND,
                 per_artist: int = PER_ARTIST) -> None:
        self.shrinkage = shrinkage
        self.min_shared = min_shared
        self.blend = blend
        self.per_artist = per_artist

    def fit(self, listening: pl.DataFrame, item_artists: Mapping[str, str] | None = None,
            vectors: Vectors | None = None, content: Vectors | None = None) -> Self:
        """Learn who listens to what.

        ``listening``: ``user_id, item_id`` rows (more columns are ignored; a listener counts once per
        item); ``item_artists``: ``item_id -> artist_id``; ``vectors``: the model's item vectors;
        ``content``: audio features (e.g. :func:`~tastemaker.candidates.content.audio_vectors`).
        """
        self._validate()
        missing = {"user_id", "item_id"} - set(listening.columns)
        if missing:
            raise ValueError(f"listening needs columns user_id, item_id; missing {sorted(missing)}")
        pairs = listening.select(pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String)).drop_nulls()
        users, u = np.unique(pairs["user_id"].to_numpy().astype(str), return_inverse=True)
        items, i = np.unique(pairs["item_id"].to_numpy().astype(str), return_inverse=True)
        X = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=(len(users), len(items)))
        unit = vectors.unit_on(items) if vectors is not None else None
        audio = content.unit_on(items) if content is not None else None
        self.items_ = _Level.of(items, X, unit, audio)
        owner = np.array([(item_artists or {}).get(t) or "" for t in items], dtype=str)
        self.artist_ids_, codes = np.unique(owner, return_inverse=True)
        named = self.artist_ids_ != ""
        self.item_artist_ = np.where(named[codes], np.cumsum(named)[codes] - 1, -1)
        self.artist_ids_ = self.artist_ids_[named]
        self.artists_ = self._artists(X)
        # each artist's tracks, most listeners first: positions ``tracks_[starts_[a]:starts_[a + 1]]``
        known = np.flatnonzero(self.item_artist_ >= 0)
        self.tracks_ = known[np.lexsort((items[known], -self.items_.listeners[known], self.item_artist_[known]))]
        self.starts_ = np.searchsorted(self.item_artist_[self.tracks_], np.arange(len(self.artist_ids_) + 1))
        return self

    def _validate(self) -> None:
        if self.shrinkage < 0 or not 0 <= self.blend <= 1:
            raise ValueError(f"shrinkage must be ≥ 0 and blend within [0, 1], got {self.shrinkage}, {self.blend}")
        if self.min_shared < 0 or self.per_artist < 1:
            raise ValueError(f"min_shared must be ≥ 0 and per_artist ≥ 1, got {self.min_shared}, {self.per_artist}")

    def _artists(self, X: sp.csr_matrix) -> _Level:
        """The artist level: users × artists, and artist vectors as the listener-weighted mean of their
        tracks' (the tracks people actually play define the artist, not the long tail)."""
        items, codes = self.items_, self.item_artist_
        keep = np.flatnonzero(codes >= 0)
        owns = sp.csr_matrix((np.ones(len(keep)), (keep, codes[keep])), shape=(len(codes), len(self.artist_ids_)))
        weights = sp.csr_matrix(owns.T.multiply(items.listeners[None, :].astype(np.float64)))

        def mean(rows: np.ndarray | None) -> np.ndarray | None:
            if rows is None:
                return None
            summed = np.asarray(weights @ rows)
            return summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)

        return _Level.of(self.artist_ids_, X @ owns, mean(items.unit), mean(items.content))

    def _check(self) -> None:
        if not hasattr(self, "items_"):
            raise NotFittedError("CoListening is not fitted: call fit() first")

    def has_item(self, item_id: str) -> bool:
        """Whether anyone listened to ``item_id``."""
        self._check()
        return self.items_.at(item_id) >= 0

    def has_artist(self, artist_id: str) -> bool:
        """Whether any listened track is by ``artist_id``."""
        self._check()
        return self.artists_.at(artist_id) >= 0

    def similar_artists(self, artist_id: str, k: int = 10) -> pl.DataFrame:
        """The ``k`` artists most like ``artist_id`` as ``artist_id, score, shared_listeners, basis, rank``:
        co-listened ones first, then by content; empty for an unknown artist."""
        self._check()
        _check_k(k)
        level = self.artists_
        seed = level.at(artist_id)
        if seed < 0:
            return _frame("artist_id", [], [], [], [])
        cols, scores, shared = level.neighbours(seed, k, self.shrinkage, self.min_shared, self.blend)
        more, cosines = level.by_content(seed, k - len(cols), cols)
        return _frame("artist_id", level.ids[np.concatenate([cols, more])].tolist(),
                      [*scores, *cosines], [*shared, *[None] * len(more)],
                      ["co-listeners"] * len(cols) + ["content"] * len(more))

    def similar_items(self, item_id: str, k: int = 10) -> pl.DataFrame:
        """The ``k`` tracks most like ``item_id`` as ``item_id, score, shared_listeners, basis, rank``:
        co-listened ones, then the artist fallback, then content; empty for an unknown track."""
        self._check()
        _check_k(k)
        level = self.items_
        seed = level.at(item_id)
        if seed < 0:
            return _frame("item_id", [], [], [], [])
        cols, scores, shared = level.neighbours(seed, k, self.shrinkage, self.min_shared, self.blend)
        rows: list[tuple[int, float, int | None, str]] = [(int(c), float(s), int(n), "co-listeners")
                                                           for c, s, n in zip(cols, scores, shared, strict=True)]
        if len(rows) < k:
            rows += self._by_artist(seed, k - len(rows), {seed, *cols.tolist()})
        if len(rows) < k:
            more, cosines = level.by_content(seed, k - len(rows), np.array([r[0] for r in rows], dtype=np.int64))
            rows += [(int(c), float(s), None, "content") for c, s in zip(more, cosines, strict=True)]
        return _frame("item_id", level.ids[[r[0] for r in rows]].tolist(), [r[1] for r in rows],
                      [r[2] for r in rows], [r[3] for r in rows])

    def _by_artist(self, seed: int, k: int, taken: set[int]) -> list[tuple[int, float, int | None, str]]:
        """Up to ``k`` tracks of the seed's artist and of its similar artists, scored by the artist pair."""
        artist = int(self.item_artist_[seed])
        if artist < 0:
            return []
        level = self.artists_
        own = int(level.listeners[artist])
        cols, scores, shared = level.neighbours(artist, k, self.shrinkage, self.min_shared, self.blend)
        rows: list[tuple[int, float, int | None, str]] = []
        for a, score, n in zip([artist, *cols.tolist()], [own / (own + self.shrinkage) if self.shrinkage else 1.0,
                                                          *scores], [own, *shared], strict=True):
            tracks = [t for t in self.tracks_[self.starts_[a]:self.starts_[a + 1]] if int(t) not in taken]
            rows += [(int(t), float(score), int(n), "artist") for t in tracks[: self.per_artist]]
            if len(rows) >= k:
                break
        return rows[:k]

    def around(self, item_ids: Sequence[str], k: int = 100) -> pl.DataFrame:
        """The ``k`` tracks most like several seeds together (a radio's): ``item_id, score,
        shared_listeners, basis``, best first: by basis (co-listeners, then artist, then content: scores of
        different bases do not compare), then score, the mean over the seeds (0 where a track is not
        among a seed's neighbours); basis and shared listeners are those of its best pair; seeds left out."""
        self._check()
        _check_k(k)
        seeds = [s for s in dict.fromkeys(str(i) for i in item_ids) if self.items_.at(s) >= 0]
        found = [self.similar_items(s, k) for s in seeds]
        if not any(f.height for f in found):
            return _frame("item_id", [], [], [], []).drop("rank")
        tier = pl.col("basis").replace_strict({b: i for i, b in enumerate(BASES)}, return_dtype=pl.Int64)
        return (pl.concat(found).filter(~pl.col("item_id").is_in(seeds)).with_columns(tier.alias("_tier"))
                .sort(["item_id", "_tier", "score"], descending=[False, False, True])
                .group_by("item_id", maintain_order=True)
                .agg((pl.col("score").sum() / len(seeds)).alias("score"), pl.col("shared_listeners").first(),
                     pl.col("basis").first(), pl.col("_tier").first())
                .sort(["_tier", "score", "item_id"], descending=[False, True, False]).head(k).drop("_tier"))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _frame(key: str, ids: list[str], scores: Sequence[float], shared: Sequence[int | None],
           basis: list[str]) -> pl.DataFrame:
    return pl.DataFrame({key: ids, "score": np.asarray(scores, dtype=np.float64),
                         "shared_listeners": list(shared), "basis": basis,
                         "rank": np.arange(1, len(ids) + 1, dtype=np.int64)},
                        schema={key: pl.String, "score": pl.Float64, "shared_listeners": pl.Int64,
                                "basis": pl.String, "rank": pl.Int64})


def for_model(model: Any, listening: pl.DataFrame, item_artists: Mapping[str, str] | None = None,
              audio_features: pl.DataFrame | None = None, **params: Any) -> CoListening:
    """A :class:`CoListening` over ``listening`` (``user_id, item_id``) with ``model``'s item vectors (when it
    learns any) and the ``audio_features`` table's rows as content (when given and not empty); ``params``
    override the defaults."""
    from tastemaker.candidates.content import audio_vectors

    vectors = model.item_vectors() if model is not None else None
    content = None
    if audio_features is not None and audio_features.height and "track_id" in audio_features.columns:
        ids = audio_features["track_id"].cast(pl.String).to_numpy().astype(str)
        content = Vectors(ids, audio_vectors(audio_features))
    return CoListening(**params).fit(listening, item_artists,
                                     None if vectors is None else Vectors(model.item_ids, vectors), content)
