"""The personal list of one listener in about a millisecond: retrieval, features and a ranker on arrays.

This is the path a server answers ``for-you`` with, and the one ``tastemaker train ranker`` learns
on, so a feature means the same thing in training and serving by construction (one function,
:meth:`CandidateScorer.features`, computes it in both).

1. **Retrieve** the ``candidates`` (default 200) best unheard items of the listener's vector by inner
   product (:class:`~tastemaker.candidates.ann.ItemIndex`: exact scan with a norm bound, or HNSW
   for large catalogs).
2. **Describe** each candidate (:data:`FEATURES`): its model score, log rank and z-score within the
   candidates, the item's log popularity, the listener's log history length, the strongest and the
   recency-weighted mean cosine to their most recent history, and the share of their (recency-
   weighted) listening that went to the candidate's artist.
3. **Rank** with a LightGBM LambdaRank model (:class:`OnlineRanker`) when one is trained, else keep
   the model's order.
4. **Explain**: each item's reason is the history track it is closest to ("because you played X").

Everything is numpy on arrays built once per model load (:class:`CandidateScorer`); a request
touches no data frame.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.candidates.ann import ItemIndex
from tastemaker.candidates.data import TrainingData

log = logging.getLogger("tastemaker.ranking")

#: the features of a candidate, in column order
FEATURES = ("score", "log_rank", "score_z", "log_popularity", "log_history", "max_cos", "mean_cos",
            "artist_share", "log_age_days", "log_recent_listeners")
#: the window of :func:`item_stats`' recent listeners
RECENT_DAYS = 7.0
#: how many of the listener's most recent history items the similarity features look at
HISTORY_WINDOW = 50
#: candidates retrieved per request (the ranker re-orders all of them)
CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class Pool:
    """One listener's candidates: item rows, their features (``len(rows) × len(FEATURES)``) and, per
    candidate, the history row it is closest to (-1 with no history)."""

    rows: np.ndarray
    features: np.ndarray
    because: np.ndarray


class CandidateScorer:
    """Arrays of one trained matrix model, for scoring one listener at a time.

    Args:
        items: the model's item ids (``items_``), in the order of ``vectors``.
        vectors: item vectors (``item_vectors()``).
        users: the model's user ids (``users_``), sorted, and ``user_vectors`` in that order.
        popularity: listeners per item (``popularity_``).
        artists: item id → artist id (the catalog's); items without one are their own artist.
        index: a built :class:`ItemIndex` over ``vectors`` (built here, exact, when omitted).
        stats: :func:`item_stats` of the listening the scorer stands on (age and recent listeners
            of each item); zeros when omitted.
        fold: ``(regularization, alpha, signal)`` of an ALS model: lets :meth:`fold_in` solve a
            listener's vector from their listening now (None: the trained vectors only).

    >>> scorer = CandidateScorer.of(model, catalog.artists)  # doctest: +SKIP
    >>> scorer.pool(scorer.user_row("u1"), heard_rows, history_rows, recency).rows[:3]  # doctest: +SKIP
    """

    def __init__(self, items: np.ndarray, vectors: np.ndarray, users: np.ndarray, user_vectors: np.ndarray,
                 popularity: np.ndarray, artists: Mapping[str, str], index: ItemIndex | None = None,
                 stats: pl.DataFrame | None = None, fold: tuple[float, float, str] | None = None) -> None:
        self.items = np.asarray(items).astype(str)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.vectors.shape[0] != len(self.items):
            raise ValueError(f"{len(self.items)} items for {self.vectors.shape[0]} vectors")
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.unit = self.vectors / np.maximum(norms, 1e-12)
        self.item_row: dict[str, int] = {item: i for i, item in enumerate(self.items.tolist())}
        self.users = np.asarray(users).astype(str)
        self.user_vectors = np.ascontiguousarray(user_vectors, dtype=np.float32)
        self.user_row_of: dict[str, int] = {user: i for i, user in enumerate(self.users.tolist())}
        self.log_popularity = np.log1p(np.asarray(popularity, dtype=np.float32))
        artist_ids = [artists.get(item) or item for item in self.items.tolist()]
        self.artist_row: dict[str, int] = {}
        self.item_artist = np.array([self.artist_row.setdefault(a, len(self.artist_row)) for a in artist_ids],
                                    dtype=np.int64)
        self.index = index if index is not None else ItemIndex(exact_below=2**62).build(self.items, self.vectors)
        self.fold = fold
        if fold is not None:  # the Gram matrix of one ALS half-step, once per model
            self._y = self.vectors.astype(np.float64)
            self._base = self._y.T @ self._y + fold[0] * np.eye(self._y.shape[1])
        self.log_age = np.zeros(len(self.items), dtype=np.float32)
        self.log_recent = np.zeros(len(self.items), dtype=np.float32)
        if stats is not None and stats.height:
            rows, age = self.known(stats["item_id"].to_list(), stats["age_days"].to_numpy())
            _, recent = self.known(stats["item_id"].to_list(), stats["recent_listeners"].to_numpy())
            self.log_age[rows], self.log_recent[rows] = np.log1p(age), np.log1p(recent)

    @classmethod
    def of(cls, model: Any, artists: Mapping[str, str], index: ItemIndex | None = None,
           stats: pl.DataFrame | None = None) -> CandidateScorer:
        """The scorer of a fitted :class:`~tastemaker.candidates.recommender.MatrixRecommender` with user
        and item vectors (ALS, BPR); raises ``ValueError`` for a model without them."""
        vectors = model.item_vectors() if hasattr(model, "item_vectors") else None
        inner = getattr(model, "model", None)
        users = getattr(inner, "user_factors_", None)
        if vectors is None or users is None:
            raise ValueError(f"{getattr(model, 'name', model)!r} has no user and item vectors to score with")
        fold = ((float(inner.regularization), float(inner.alpha), str(getattr(model.config, "signal", "binary")))
                if getattr(model, "name", None) == "als" else None)
        return cls(model.items_, vectors, model.users_, users, model.popularity_, artists, index, stats, fold)

    def user_row(self, user_id: str) -> int | None:
        """The model's row of ``user_id``, None when it was not trained on them."""
        return self.user_row_of.get(user_id)

    def rows_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Rows of the items the model knows, in order (unknown ids dropped)."""
        get = self.item_row.get
        return np.fromiter((r for r in map(get, item_ids) if r is not None), dtype=np.int64)

    def known(self, item_ids: Sequence[str], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the items the model knows with their aligned ``weights`` (unknown ids dropped)."""
        got = [self.item_row.get(i, -1) for i in item_ids]
        rows = np.asarray(got, dtype=np.int64)
        keep = rows >= 0
        return rows[keep], np.asarray(weights, dtype=np.float64)[keep]

    def fold_in(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        """A listener's vector from their listening now: the exact ALS half-step with the item vectors
        fixed (as ``implicit``'s ``recalculate_user``), ``rows`` the items and ``values`` the model's
        signal for each (1 for a binary model). None for a model that cannot fold in."""
        if self.fold is None or not len(rows):
            return None
        confidence = self.fold[1] * np.asarray(values, dtype=np.float64)
        y = self._y[rows]
        gram = self._base + (y.T * (confidence - 1.0)) @ y
        return np.linalg.solve(gram, y.T @ confidence).astype(np.float32)

    def pool(self, user: int | None, heard: np.ndarray, history: np.ndarray, recency: np.ndarray,
             k: int = CANDIDATES, vector: np.ndarray | None = None) -> Pool:
        """The ``k`` best unheard items of user row ``user`` (or of ``vector``, when given) with their features.

        ``heard``: item rows never to return; ``history``, ``recency``: the rows the listener
        listened to with their recency-decayed listens (aligned).
        """
        if vector is None and user is None:
            raise ValueError("pool() needs the listener's model row or a vector: the model does not know them")
        query = self.user_vectors[user] if vector is None else vector
        rows, scores = self.index.search_rows(query, k, heard)
        return Pool(rows, *self.features(rows, scores, history, recency))

    def features(self, rows: np.ndarray, scores: np.ndarray, history: np.ndarray,
                 recency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:data:`FEATURES` of candidate ``rows`` (best first, with their model ``scores``) for a listener
        with ``history`` rows and ``recency`` weights, and each candidate's closest history row."""
        n = len(rows)
        out = np.empty((n, len(FEATURES)), dtype=np.float32)
        out[:, 0] = scores
        out[:, 1] = np.log1p(np.arange(n, dtype=np.float32))
        spread = float(scores.std()) if n > 1 else 0.0
        out[:, 2] = (scores - scores.mean()) / spread if spread > 0 else 0.0
        out[:, 3] = self.log_popularity[rows]
        out[:, 4] = np.log1p(len(history))
        out[:, 8] = self.log_age[rows]
        out[:, 9] = self.log_recent[rows]
        because = np.full(n, -1, dtype=np.int64)
        if len(history) and n:
            recent = np.argsort(-recency, kind="stable")[:HISTORY_WINDOW]
            near, weight = history[recent], recency[recent].astype(np.float32)
            cos = self.unit[rows] @ self.unit[near].T
            best = cos.argmax(axis=1)
            out[:, 5] = cos[np.arange(n), best]
            out[:, 6] = cos @ weight / max(float(weight.sum()), 1e-12)
            because = near[best]
            share = np.bincount(self.item_artist[history], weights=recency, minlength=len(self.artist_row))
            out[:, 7] = share[self.item_artist[rows]] / max(float(recency.sum()), 1e-12)
        else:
            out[:, 5:8] = 0.0
        return out, because


def item_stats(history: pl.DataFrame, recent_days: float = RECENT_DAYS) -> pl.DataFrame:
    """Per item of ``history`` (interactions rows: ``user_id, item_id, first_ts, last_ts``): ``age_days``
    since its first listen and ``recent_listeners`` in the ``recent_days`` before the newest listen.

    Computed from the same listening the scorer's model stands on: at training, what came before
    the cut; on a server, the state it loaded (refreshed with each model load).
    """
    if history.is_empty():
        return pl.DataFrame(schema={"item_id": pl.String, "age_days": pl.Float64, "recent_listeners": pl.UInt32})
    newest = history["last_ts"].max()
    since = newest - timedelta(days=recent_days)
    return history.group_by("item_id").agg(
        ((pl.lit(newest) - pl.col("first_ts").min()).dt.total_seconds() / 86400.0).alias("age_days"),
        (pl.col("last_ts") >= since).sum().alias("recent_listeners"))


class OnlineRanker:
    """A LightGBM ranker over :data:`FEATURES`, saved as LightGBM's text model with a JSON of what it saw.

    >>> OnlineRanker.load(path).order(pool.features)  # doctest: +SKIP
    """

    name = "ranker"

    def __init__(self, booster: Any, meta: dict[str, Any]) -> None:
        if list(booster.feature_name()) != list(FEATURES):
            raise ValueError(f"the ranker was trained on features {booster.feature_name()}, "
                             f"this code computes {list(FEATURES)}: retrain it (`tastemaker train ranker`)")
        self.booster = booster
        self.meta = meta
        #: the trees compiled to machine code by lleaves (:meth:`compile`), None: LightGBM predicts
        self.compiled: Any = None

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The ranker's score of each row (higher first): the compiled trees when there are, else LightGBM."""
        if self.compiled is not None:
            return np.asarray(self.compiled.predict(np.ascontiguousarray(features, dtype=np.float64), n_jobs=1))
        return np.asarray(self.booster.predict(features, num_threads=1), dtype=np.float64)

    def compile(self, model_file: Path, cache: Path | None = None) -> bool:
        """Compile the trees of ``model_file`` (this ranker's ``ranker.txt``) with lleaves, reusing the shared
        object at ``cache`` when it is there; False (LightGBM keeps predicting) when lleaves is missing or fails.

        bench/serving.py: 0.03 ms for 200 candidates compiled against 0.3-0.4 ms through
        ``Booster.predict``, the same scores to 1e-12.
        """
        try:
            import lleaves

            model = lleaves.Model(model_file=str(model_file))
            model.compile(cache=str(cache) if cache is not None else None)
        except Exception as exc:  # an optional speed-up: never a reason not to serve
            log.warning("ranker not compiled (%s: %s); LightGBM predicts", type(exc).__name__, exc)
            return False
        self.compiled = model
        return True

    def save(self, path: Path) -> None:
        """Write ``ranker.txt`` (LightGBM), ``ranker.json`` (what it saw) and ``params.json`` (the registry's)."""
        path.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path / "ranker.txt"))
        (path / "ranker.json").write_text(json.dumps(self.meta, indent=2, default=str))
        (path / "params.json").write_text(json.dumps({"model": self.name, **self.meta["params"]}))

    def lost_to_model_order(self) -> str | None:
        """Why this ranker should not order lists, or None: when on its held-out listeners it ranked worse
        than the candidate model's own order (few listeners, or too little listening after the cuts)."""
        held = self.meta.get("held_out_ndcg@10") or {}
        ranker, plain = held.get("ranker"), held.get("model_order")
        if ranker is None or plain is None or ranker >= plain:
            return None
        return (f"ranked its {self.meta.get('held_out_lists', '?')} held-out listeners worse than the model's own "
                f"order (NDCG@10 {ranker:.4f} against {plain:.4f})")

    @classmethod
    def load(cls, path: Path, native: bool = True) -> OnlineRanker:
        """Read a ranker written by :meth:`save`; ``native``: with its trees compiled (cached in ``ranker.so``)."""
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(path / "ranker.txt"))
        ranker = cls(booster, json.loads((path / "ranker.json").read_text()))
        if native:
            cache = path / "ranker.so"
            writable = cache.exists() or os.access(path, os.W_OK)
            ranker.compile(path / "ranker.txt", cache if writable else None)
        return ranker


# ---------------------------------------------------------------------- training
@dataclass(frozen=True, slots=True)
class RankerParams:
    """How ``train ranker`` learns: the last ``label_days`` of listening are the labels, the model is
    refit on what came before; ``users``: listeners sampled for training (a fifth held out)."""

    label_days: float = 7.0
    candidates: int = CANDIDATES
    users: int = 20_000
    rounds: int = 300
    leaves: int = 15
    learning_rate: float = 0.05
    min_data_in_leaf: int = 50
    seed: int = 0


def training_lists(scorer: CandidateScorer, history: pl.DataFrame, labels: pl.DataFrame,
                   candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels, group sizes and the model's own NDCG order for every listener in ``labels``
    the model knows: candidates from ``history`` (``user_id, item_id, recency``), labelled by ``labels``
    (``user_id, item_id, label``; unlabelled candidates are 0)."""
    feats, ys, groups = [], [], []
    by_user = history.partition_by("user_id", as_dict=True)
    labelled = labels.partition_by("user_id", as_dict=True)
    for (user_id,), wanted in labelled.items():
        row = scorer.user_row(user_id)
        past = by_user.get((user_id,))
        if row is None or past is None:
            continue
        rows, recency = scorer.known(past["item_id"].to_list(), past["recency"].to_numpy())
        pool = scorer.pool(row, rows, rows, recency, candidates)
        grade = dict(zip(wanted["item_id"].to_list(), wanted["label"].to_list(), strict=True))
        y = np.array([grade.get(i, 0) for i in scorer.items[pool.rows].tolist()], dtype=np.int32)
        if y.max(initial=0) <= 0:
            continue
        feats.append(pool.features)
        ys.append(y)
        groups.append(len(y))
    if not groups:
        raise ValueError("no listener has a positive label among their candidates: more listening after "
                         "the cut is needed to train a ranker")
    return np.vstack(feats), np.concatenate(ys), np.asarray(groups), np.concatenate(
        [np.arange(g) for g in groups])


def _lists_where(lists: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], keep: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The lists of :func:`training_lists`' output whose ``keep`` is true (one flag per list)."""
    X, y, groups, rank = lists
    rows = np.repeat(keep, groups)
    return X[rows], y[rows], groups[keep], rank[rows]


def ndcg_at(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k over the lists (``groups`` consecutive rows each), ordering each by ``scores``."""
    out, lo = [], 0
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    for g in groups:
        s, y = scores[lo:lo + g], labels[lo:lo + g]
        gains = (2.0 ** y[np.argsort(-s, kind="stable")][:k] - 1) @ discount[:min(k, g)]
        ideal = (2.0 ** np.sort(y)[::-1][:k] - 1) @ discount[:min(k, g)]
        out.append(gains / ideal if ideal > 0 else 0.0)
        lo += g
    return float(np.mean(out)) if out else 0.0


def train_online_ranker(events: pl.DataFrame, model_factory: Any, artists: Mapping[str, str],
                        params: RankerParams | None = None) -> OnlineRanker:
    """Learn a ranker for the serving path from ``events`` (rows of the events table).

    Point in time, per listener: each listener's cut is ``label_days`` before their own newest event
    (exports of people from different years share no clock, and one global cut would leave most of
    them without labels). The matrix model (``model_factory()``, unfitted) is fit on the listening
    before each cut; the labels are the graded listens (:mod:`tastemaker.ranking.labels`) of items
    new to each listener after theirs. A fifth of the lists (one listener each) is held out: the
    ranker's NDCG@10 on them is reported next to the model's own order (``meta``) and decides the rounds.
    """
    import lightgbm as lgb

    from tastemaker.features.interactions import interactions
    from tastemaker.ranking.labels import listening_labels

    p = params or RankerParams()
    newest = events["ts"].max()
    if not isinstance(newest, datetime):
        raise ValueError("no events to train a ranker on")
    timed = events.with_columns((pl.col("ts").max().over("user_id") - timedelta(days=p.label_days)).alias("_cut"))
    before = timed.filter(pl.col("ts") < pl.col("_cut")).drop("_cut")
    history = interactions(before.lazy(), per_user=True)
    if history.is_empty():
        raise ValueError(f"no listening before any listener's last {p.label_days:g} days (they are the labels)")
    model = model_factory().fit(TrainingData(history))
    scorer = CandidateScorer.of(model, artists, stats=item_stats(history))
    labels = (listening_labels(timed.filter(pl.col("ts") >= pl.col("_cut")).drop("_cut"))
              .join(history.select("user_id", "item_id"), on=["user_id", "item_id"], how="anti"))
    users = labels.filter(pl.col("label") > 0)["user_id"].unique().sort()
    users = users.sample(min(p.users, users.len()), seed=p.seed, shuffle=True)
    lists = training_lists(scorer, history, labels.filter(pl.col("user_id").is_in(users.to_list())), p.candidates)
    n = len(lists[2])
    if n < 2:
        raise ValueError(f"only {n} listener has a new track among their {p.candidates} candidates in their last "
                         f"{p.label_days:g} days: too little to learn an order from (more listeners are needed)")
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(p.seed).permutation(n)[:max(1, n // 5)]] = True
    (X, y, g, _), (Xt, yt, gt, rankt) = _lists_where(lists, ~held), _lists_where(lists, held)
    booster = lgb.train(
        {"objective": "lambdarank", "num_leaves": p.leaves, "learning_rate": p.learning_rate,
         "min_data_in_leaf": p.min_data_in_leaf, "lambdarank_truncation_level": 20, "eval_at": [10],
         "num_threads": 2, "seed": p.seed, "verbose": -1, "feature_pre_filter": False},
        lgb.Dataset(X, y, group=g, feature_name=list(FEATURES)), num_boost_round=p.rounds,
        valid_sets=[lgb.Dataset(Xt, yt, group=gt, feature_name=list(FEATURES))],
        callbacks=[lgb.early_stopping(30, verbose=False)])
    ranked = ndcg_at(booster.predict(Xt, num_iteration=booster.best_iteration), yt, gt)
    plain = ndcg_at(-rankt.astype(np.float64), yt, gt)
    meta = {"base": getattr(model, "name", None), "cut": f"each listener's last {p.label_days:g} days",
            "label_days": p.label_days, "candidates": p.candidates,
            "train_lists": int(len(g)), "held_out_lists": int(len(gt)), "rounds": int(booster.best_iteration),
            "held_out_ndcg@10": {"ranker": round(ranked, 4), "model_order": round(plain, 4)},
            "features": list(FEATURES), "params": {k: getattr(p, k) for k in p.__slots__}}
    return OnlineRanker(booster, meta)
