"""Next-track retrieval: item2vec, skip-gram word2vec over listening sessions (gensim).

A listener's plays, in time order, are cut into sessions wherever two plays are more than
``session_gap_minutes`` apart; each session is a "sentence" of item ids, and word2vec's
skip-gram (Barkan & Koenigstein 2016, "item2vec") learns two vectors per item: an item vector,
and a context vector that it is trained to match with the item vectors of what is played near
it. The next track after some recent plays is scored by the cosine of the recency-weighted mean
of the recent items' unit item vectors with every item's context vector (``next_by="context"``:
"what gets played next to these"), or with every item's item vector (``"item"``: "what is
played in the same surroundings as these", the classic item2vec similarity, also the one
:meth:`Item2Vec.similar_items` uses).

Needs the ``sequence`` extra (``pip install 'tastemaker[sequence]'``) to fit; a saved model
loads and scores with numpy alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Self

import numpy as np
import polars as pl
from pydantic import Field

from tastemaker.candidates.contract import Config, Fitted, excluded_cells, top_frame
from tastemaker.candidates.data import TrainingData, lookup
from tastemaker.errors import MissingDependencyError

SEQUENCE_INSTALL = "pip install 'tastemaker[sequence]'"


#: how many of a user's last plays ``recommend`` continues from
RECENT_PLAYS = 5


class Item2VecConfig(Config):
    """Word2vec settings (gensim's names in brackets) and how sessions and queries are formed.

    ``dim`` [vector_size], ``window``, ``negative``, ``ns_exponent``, ``sample`` (0: no
    down-sampling of frequent items; word2vec's usual 1e-3 is meant for word frequencies, and on
    a catalogue of a few thousand tracks it thins out nearly every item), ``epochs``,
    ``min_count`` (items played fewer times get no vector), ``session_gap_minutes`` (a longer
    pause starts a new session), ``recency_decay`` (the weight of a recent item is
    ``recency_decay ** steps_back``, 1.0 for a plain mean), ``next_by`` (``"context"`` or
    ``"item"``: which vectors of the candidates the query is matched with), ``workers`` (1 is
    reproducible), ``random_state`` [seed].
    """

    dim: int = Field(64, ge=1)
    window: int = Field(5, ge=1)
    negative: int = Field(10, ge=0)
    ns_exponent: float = 0.75
    sample: float = Field(0.0, ge=0)
    epochs: int = Field(20, ge=1)
    min_count: int = Field(1, ge=1)
    session_gap_minutes: float = Field(30.0, gt=0)
    recency_decay: float = Field(0.7, gt=0, le=1)
    next_by: Literal["context", "item"] = "context"
    workers: int = Field(1, ge=1)
    random_state: int = 0


class Item2Vec(Fitted):
    """Item vectors from session co-occurrence; next items for a few recent plays.

    >>> model = Item2Vec(dim=32).fit(events)  # doctest: +SKIP
    >>> model.next_items(["t1", "t2"], k=10, exclude=["t1", "t2"])  # doctest: +SKIP
    """

    name = "item2vec"
    _fitted_by = "vectors_"

    def __init__(self, dim: int = 64, window: int = 5, negative: int = 10, ns_exponent: float = 0.75,
                 sample: float = 0.0, epochs: int = 20, min_count: int = 1, session_gap_minutes: float = 30.0,
                 recency_decay: float = 0.7, next_by: str = "context", workers: int = 1,
                 random_state: int = 0) -> None:
        self.config = Item2VecConfig(dim=dim, window=window, negative=negative, ns_exponent=ns_exponent,
                                     sample=sample, epochs=epochs, min_count=min_count,
                                     session_gap_minutes=session_gap_minutes, recency_decay=recency_decay,
                                     next_by=next_by, workers=workers, random_state=random_state)

    def fit(self, data: TrainingData) -> Self:
        """Learn item vectors from the bundle's plays in time order (skips left out).

        ``counts_`` (the popular fallback) counts plays with back-to-back replays counted once.
        """
        if data.plays is None:
            raise ValueError("item2vec learns from the order of plays: the training data has no timed plays")
        return self.fit_plays(data.plays.filter(~pl.col("skipped")).select("user_id", "item_id", "ts"))

    def fit_plays(self, events: pl.DataFrame) -> Self:
        """Learn item vectors from ``user_id, item_id, ts`` rows (one per play, any order, ``ts`` a datetime)."""
        try:
            from gensim.models import Word2Vec
        except ImportError as exc:
            raise MissingDependencyError(f"Item2Vec.fit needs the sequence extra: {SEQUENCE_INSTALL}") from exc
        p = self.config
        sentences = session_lists(events, p.session_gap_minutes)
        if not sentences:
            raise ValueError("events has no plays to learn from")
        w2v = Word2Vec(sentences, vector_size=p.dim, window=p.window, min_count=p.min_count, sg=1, hs=0,
                       negative=p.negative, ns_exponent=p.ns_exponent, sample=p.sample, epochs=p.epochs,
                       seed=p.random_state, workers=p.workers)
        ids = np.asarray(w2v.wv.index_to_key, dtype=str)
        order = np.argsort(ids)
        self.item_ids_ = ids[order]
        self.vectors_ = np.asarray(w2v.wv.vectors, dtype=np.float32)[order]
        self.context_vectors_ = np.asarray(w2v.syn1neg, dtype=np.float32)[order]
        self.counts_ = np.array([w2v.wv.get_vecattr(i, "count") for i in self.item_ids_], dtype=np.float64)
        last = (events.sort("user_id", "ts").group_by("user_id", maintain_order=True)
                .agg(pl.col("item_id").tail(RECENT_PLAYS)))
        self.users_ = last["user_id"].to_numpy().astype(str)
        self.recent_ = np.array([row + [""] * (RECENT_PLAYS - len(row)) for row in last["item_id"].to_list()],
                                dtype=str).reshape(len(self.users_), RECENT_PLAYS)
        return self

    def recommend(self, user_ids: Sequence[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        """Next items after each user's last plays in training, as ``user_id, item_id, score, rank``.

        The same call as every other model's, so the CLI and the surfaces can use it; ``exclude``
        (``user_id, item_id``) pairs are never returned. Unknown users get the most played items.
        """
        self._check()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        ids = np.asarray(list(user_ids), dtype=str)
        return top_frame(ids, self.item_ids_, self.score(ids, exclude), k)

    def item_vectors(self) -> np.ndarray:
        """The item vectors (what :meth:`similar_items` compares), on :attr:`item_ids`."""
        self._check()
        return np.asarray(self.vectors_, dtype=np.float64)

    def score(self, user_ids: Sequence[str], exclude: pl.DataFrame | None = None) -> np.ndarray:
        """Users × :attr:`item_ids` scores of what follows each user's last plays in training
        (unknown users: popularity); ``exclude`` pairs get ``-inf``."""
        self._check()
        ids = np.asarray(list(user_ids), dtype=str)
        rows = lookup(self.users_, ids)
        recent = [[i for i in self.recent_[r] if i] if r >= 0 else [] for r in rows]
        scores = self.score_recent(recent).astype(np.float64)
        if exclude is not None and exclude.height:
            scores[excluded_cells(ids, self.item_ids_, exclude)] = -np.inf
        return scores

    def score_recent(self, recent: Sequence[Sequence[str]]) -> np.ndarray:
        """Scores of every item in :attr:`item_ids_` order, one row per list of recent plays (oldest first).

        A row is the cosine of the recency-weighted mean of the known recent items' unit item
        vectors with each candidate's context or item vector (``next_by``); a row none of whose
        items is known gets each item's share of all plays instead (popularity).
        """
        self._check()
        unit = _unit_rows(self.vectors_)
        candidates = _unit_rows(self.context_vectors_) if self.config.next_by == "context" else unit
        queries = np.zeros((len(recent), unit.shape[1]), dtype=np.float32)
        for row, items in enumerate(recent):
            index, known = self._indices(items)
            steps_back = len(items) - 1 - np.flatnonzero(known)
            weights = self.config.recency_decay ** steps_back.astype(np.float64)
            if len(weights):
                queries[row] = weights @ unit[index[known]] / weights.sum()
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        scores = (queries / np.maximum(norms, 1e-12)) @ candidates.T
        cold = norms[:, 0] == 0
        scores[cold] = self.counts_ / self.counts_.sum()
        return scores

    def next_items(self, recent_item_ids: Sequence[str], k: int = 10,
                   exclude: Iterable[str] | None = None) -> pl.DataFrame:
        """The ``k`` likeliest next items after ``recent_item_ids`` (oldest first) as ``item_id, score, rank``.

        ``exclude`` items (often the recent ones) are never returned. With no recent item known
        to the model, the most played items come back, scored by their share of plays.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return self._top(self.score_recent([list(recent_item_ids)])[0], k, exclude)

    def similar_items(self, item_id: str, k: int = 10) -> pl.DataFrame:
        """The ``k`` items closest to ``item_id`` as ``item_id, score, rank``; empty for an unknown item."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        index, known = self._indices([item_id])
        if not known[0]:
            self._check()
            return pl.DataFrame(schema={"item_id": pl.String, "score": pl.Float64, "rank": pl.Int64})
        unit = _unit_rows(self.vectors_)
        return self._top(unit @ unit[index[0]], k, [item_id])

    def save(self, path: Path) -> None:
        """Write ``params.json`` and ``arrays.npz`` (item ids, item and context vectors, play counts)."""
        self._check()
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": self.name, **self.config.model_dump()}))
        np.savez(path / "arrays.npz", item_ids=self.item_ids_, vectors=self.vectors_,
                 context_vectors=self.context_vectors_, counts=self.counts_, users=self.users_, recent=self.recent_)

    @classmethod
    def load(cls, path: Path) -> Item2Vec:
        """Read a model written by :meth:`save` (gensim is not needed)."""
        params = json.loads((path / "params.json").read_text())
        if params.pop("model", None) != cls.name:
            raise ValueError(f"{path} does not hold an {cls.name} model")
        self = cls(**params)
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            self.item_ids_, self.vectors_, self.counts_ = npz["item_ids"], npz["vectors"], npz["counts"]
            self.context_vectors_ = npz["context_vectors"]
            self.users_, self.recent_ = npz["users"], npz["recent"]
        return self

    def _indices(self, item_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Positions in :attr:`item_ids_` and whether each id is known."""
        self._check()
        ids = np.asarray(list(item_ids), dtype=str)
        index = np.minimum(np.searchsorted(self.item_ids_, ids), len(self.item_ids_) - 1)
        return index, self.item_ids_[index] == ids if len(ids) else np.zeros(0, dtype=bool)

    def _top(self, scores: np.ndarray, k: int, exclude: Iterable[str] | None) -> pl.DataFrame:
        scores = scores.astype(np.float64)
        if exclude is not None:
            index, known = self._indices(list(exclude))
            scores[index[known]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        top = top[np.isfinite(scores[top])]
        return pl.DataFrame({"item_id": self.item_ids_[top], "score": scores[top],
                             "rank": np.arange(1, len(top) + 1, dtype=np.int64)})


def sessionize(events: pl.DataFrame, gap_minutes: float = 30.0) -> pl.DataFrame:
    """``events`` sorted by user and time with a ``session`` number (unique over all users).

    A session ends when the next play of the same user starts more than ``gap_minutes`` later.
    """
    missing = {"user_id", "item_id", "ts"} - set(events.columns)
    if missing:
        raise ValueError(f"events need columns {sorted(missing)} (one row per play)")
    if gap_minutes <= 0:
        raise ValueError(f"gap_minutes must be positive, got {gap_minutes}")
    ordered = events.select(pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String), "ts")
    ordered = ordered.drop_nulls().with_row_index("_order").sort("user_id", "ts", "_order")
    starts = (pl.col("user_id") != pl.col("user_id").shift()) | (
        pl.col("ts") - pl.col("ts").shift() > pl.duration(microseconds=int(gap_minutes * 60e6)))
    return ordered.with_columns(starts.fill_null(True).cum_sum().alias("session")).drop("_order")


def session_lists(events: pl.DataFrame, gap_minutes: float = 30.0) -> list[list[str]]:
    """Each session's item ids in play order, a replay of the item just played dropped.

    Back-to-back repeats would only teach an item that it neighbours itself.
    """
    frame = sessionize(events, gap_minutes)
    repeat = (pl.col("item_id") == pl.col("item_id").shift()) & (pl.col("session") == pl.col("session").shift())
    frame = frame.filter(~repeat.fill_null(False))
    grouped = frame.group_by("session", maintain_order=True).agg("item_id")
    return grouped["item_id"].to_list()  # type: ignore[no-any-return]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
