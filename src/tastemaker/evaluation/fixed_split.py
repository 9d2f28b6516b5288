"""Fixed train/valid/test split files, full-ranking evaluation, and the models run on them.

A split folder holds ``train.tsv[.gz]``, ``valid.tsv[.gz]`` and ``test.tsv[.gz]`` (``user_id``,
``item_id``, optional ``weight``), as in ``../shared/data/benchmarks``. Protocol (the field's,
and the peers' reference script's): fit on train; score every item; for valid exclude train
items, for test exclude train + valid items (nothing in *familiar* mode); users with an empty
target are skipped; binary relevance. Metrics come from :mod:`tastemaker.evaluation.metrics`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.candidates.artist import ITEM_ARTIST_SEPARATOR
from tastemaker.candidates.data import TrainingData, lookup
from tastemaker.evaluation.metrics import ItemInfo, beyond_accuracy, by_item_popularity, per_user

BATCH_USERS = 1024


class MatrixModel(Protocol):
    """A model over a user × item matrix: fit, then score every item for some users."""

    name: str

    def fit(self, X: sp.csr_matrix) -> Self: ...
    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray: ...


class ItemPopularity:
    """Items ranked by how many training users have them (the same list for everyone)."""

    name = "pop"

    def fit(self, X: sp.csr_matrix) -> Self:
        """Count each item's training interactions."""
        self.counts_ = np.asarray(X.sum(axis=0)).ravel()
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """The counts, repeated for each user."""
        return np.tile(self.counts_, (len(users), 1))

    def fold_in(self, X_rows: sp.csr_matrix) -> np.ndarray:
        """The counts, repeated for each row (users not seen in training get the same list)."""
        return np.tile(self.counts_, (X_rows.shape[0], 1))


#: a stream this short is a skip (as the benchmark splits count plays)
SKIP_MS = 30_000


def read_train_events(path: Path) -> pl.DataFrame:
    """A split's ``train_events`` file as plays: ``user_id, item_id, ts, skipped`` (under 30 s)."""
    raw = pl.read_csv(path, separator="\t", schema_overrides={"user_id": pl.String, "item_id": pl.String,
                                                               "end_time": pl.String, "ms_played": pl.Int64})
    return raw.select("user_id", "item_id", pl.col("end_time").str.to_datetime().alias("ts"),
                      (pl.col("ms_played") < SKIP_MS).alias("skipped"))


def _read(folder: Path, name: str) -> pl.DataFrame:
    for candidate in (folder / f"{name}.tsv", folder / f"{name}.tsv.gz"):
        if candidate.exists():
            return pl.read_csv(candidate, separator="\t", schema_overrides={"user_id": pl.String, "item_id": pl.String})
    raise FileNotFoundError(f"{folder} has no {name}.tsv or {name}.tsv.gz")


@dataclass(frozen=True)
class FixedSplit:
    """The three parts as frames and as binary user × item matrices over one id map."""

    name: str
    users: pl.Series
    items: pl.Series
    frames: dict[str, pl.DataFrame]
    matrices: dict[str, sp.csr_matrix]
    train_weights: sp.csr_matrix  # the train ``weight`` column (play counts), ones when absent
    #: every stream of the train period (``user_id, item_id, ts, skipped``) where the folder has ``train_events``
    plays: pl.DataFrame | None = None

    @classmethod
    def load(cls, folder: Path) -> FixedSplit:
        """Read a split folder; users and items are indexed in sorted order.

        A ``train_events.tsv[.gz]`` (``user_id, item_id, end_time, ms_played``: every stream of the
        train period, short ones included) gives the train part its times and skips; its plays of
        at least 30 s must reproduce every train count, or the folder is refused.
        """
        frames = {part: _read(folder, part) for part in ("train", "valid", "test")}
        both = pl.concat([f.select("user_id", "item_id") for f in frames.values()])
        split = cls.from_frames(folder.name, frames, both["user_id"].unique().sort(), both["item_id"].unique().sort())
        events = next((p for p in (folder / "train_events.tsv", folder / "train_events.tsv.gz") if p.exists()), None)
        if events is None:
            return split
        return replace(split, plays=split.check_plays(read_train_events(events)))

    def check_plays(self, plays: pl.DataFrame) -> pl.DataFrame:
        """``plays`` if its unskipped plays count exactly the train part's pairs, else ``ValueError``."""
        counts = plays.filter(~pl.col("skipped")).group_by("user_id", "item_id").agg(pl.len().alias("n"))
        train = self.frames["train"]
        weight = pl.col("weight") if "weight" in train.columns else pl.lit(1).alias("weight")
        check = counts.join(train.select("user_id", "item_id", weight), on=["user_id", "item_id"], how="full",
                            coalesce=True)
        bad = check.filter(pl.col("n").is_null() | pl.col("weight").is_null() | (pl.col("n") != pl.col("weight")))
        if bad.height:
            raise ValueError(f"{self.name}: train_events is not the train part: {bad.height:,} (user, item) pairs "
                             "differ from train.tsv")
        return plays

    def training_data(self, **side: Any) -> TrainingData:
        """The train part as a recommender's training bundle, over the split's id map.

        Items named ``artist\u241ftrack`` (every id with the separator) give each item its
        artist; the folder's train events give times and skips. ``side``: more of
        :class:`~tastemaker.candidates.data.TrainingData`'s fields (``ratings``, ``friends``...).
        """
        train = self.frames["train"]
        interactions = train.select("user_id", "item_id", (pl.col("weight") if "weight" in train.columns
                                                           else pl.lit(1.0)).cast(pl.Float64).alias("weight"))
        artists = None
        if self.items.str.contains(ITEM_ARTIST_SEPARATOR, literal=True).all():
            artists = pl.DataFrame({"item_id": self.items,
                                    "artist_id": self.items.str.split(ITEM_ARTIST_SEPARATOR).list.first()})
        return TrainingData(interactions, plays=self.plays, items=self.items, users=self.users,
                            item_artists=artists, **side)

    @classmethod
    def from_frames(cls, name: str, frames: dict[str, pl.DataFrame], users: pl.Series, items: pl.Series) -> FixedSplit:
        """A split of ``train``, ``valid`` and ``test`` frames (``user_id, item_id[, weight]``) over a given id
        map, e.g. another split's, so that the matrices of the two line up; an id outside the map is refused."""
        uidx = pl.DataFrame({"user_id": users, "u": np.arange(len(users))})
        iidx = pl.DataFrame({"item_id": items, "i": np.arange(len(items))})
        matrices = {}
        for part, frame in frames.items():
            pairs = frame.join(uidx, on="user_id").join(iidx, on="item_id")
            if pairs.height != frame.height:
                raise ValueError(f"{name} {part}: {frame.height - pairs.height:,} rows name a user or an item "
                                 "outside the split's id map")
            weight = pairs["weight"].cast(pl.Float32).to_numpy() if "weight" in pairs.columns else None
            m = sp.csr_matrix((weight if weight is not None else np.ones(pairs.height, dtype=np.float32),
                               (pairs["u"].to_numpy(), pairs["i"].to_numpy())), shape=(len(users), len(items)))
            m.sum_duplicates()
            if part == "train":
                weights = m.copy()
            m.data[:] = 1.0
            matrices[part] = m
        return cls(name, users, items, frames, matrices, weights)


def top_k(model: MatrixModel, X: sp.csr_matrix, target: sp.csr_matrix, mask: sp.csr_matrix | None,
          k: int) -> pl.DataFrame:
    """Each target user's top ``k`` item indices as ``u, i, rank`` (masked items never ranked)."""
    users = np.flatnonzero(np.diff(target.indptr) > 0)
    parts = []
    for start in range(0, len(users), BATCH_USERS):
        batch = users[start:start + BATCH_USERS]
        scores = np.asarray(model.score(batch, X), dtype=np.float64)
        if mask is not None:
            rows, cols = mask[batch].nonzero()
            scores[rows, cols] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        # Ascending sort, reversed: the peers' reference script breaks ties this way, and with
        # many tied items (a 26-listener split) the convention alone moves NDCG@10 by 0.006.
        order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        parts.append(pl.DataFrame({"u": np.repeat(batch, k), "i": top.ravel(),
                                   "rank": np.tile(np.arange(1, k + 1), len(batch))}))
    return pl.concat(parts)


def _ranked(split: FixedSplit, model: MatrixModel, part: str, k: int,
            familiar: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-user metrics@k, the top-k lists) of a fitted ``model`` on ``part``."""
    X = split.matrices["train"]
    if familiar:
        mask = None
    elif part == "valid":
        mask = X
    else:
        mask = X + split.matrices["valid"]
    target = split.matrices[part]
    top = top_k(model, X, target, mask, k)
    recs = top.select(pl.col("u").alias("user_id"), pl.col("i").alias("item_id"), "rank")
    tu, ti = target.nonzero()
    return per_user(recs, pl.DataFrame({"user_id": tu, "item_id": ti}), k).sort("user_id"), recs


def evaluate_per_user(split: FixedSplit, model: MatrixModel, part: str = "test", k: int = 10,
                      familiar: bool = False) -> pl.DataFrame:
    """Per-user metrics@k of a fitted ``model`` on ``part`` (``valid`` or ``test``), for paired tests."""
    return _ranked(split, model, part, k, familiar)[0]


def evaluate_model(split: FixedSplit, model: MatrixModel, part: str = "test", ks: tuple[int, ...] = (10, 20),
                   familiar: bool = False, beyond: bool = False, info: ItemInfo | None = None) -> dict[str, float]:
    """Mean metrics of an already fitted ``model`` on ``part``; ``beyond`` adds coverage, Gini, novelty.

    ``info`` (artists, tags, item vectors) adds intra-list diversity to the ``beyond`` metrics.
    """
    result: dict[str, float] = {}
    for k in ks:
        scores, recs = _ranked(split, model, part, k, familiar)
        result.update({c: round(float(scores[c].mean()), 4) for c in scores.columns if c != "user_id"})
        if beyond:
            tu, ti = split.matrices["train"].nonzero()
            extra = beyond_accuracy(recs, pl.DataFrame({"user_id": tu, "item_id": ti}), len(split.items), k,
                                    **(info.indexed(split.items) if info else {}))
            result.update({name: round(value, 4) for name, value in extra.items()})
    return result


#: history-length buckets (train items per user) for per-segment results
SEGMENTS = ((1, 10, "1-10"), (11, 50, "11-50"), (51, 200, "51-200"), (201, 10**12, "201+"))


def evaluate_segments(split: FixedSplit, model: MatrixModel, part: str = "test", k: int = 10,
                      familiar: bool = False) -> dict[str, dict[str, float]]:
    """Mean metrics@k per bucket of training-history length (cold to heavy listeners)."""
    per = evaluate_per_user(split, model, part, k, familiar)
    return by_history_length(per, np.diff(split.matrices["train"].indptr))


def by_history_length(per: pl.DataFrame, sizes: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean per-user metrics (``per``, rows indexed by ``user_id``) per :data:`SEGMENTS` bucket of ``sizes``."""
    per = per.with_columns(pl.Series("_n", sizes[per["user_id"].to_numpy()]))
    out: dict[str, dict[str, float]] = {}
    for low, high, label in SEGMENTS:
        group = per.filter(pl.col("_n").is_between(low, high))
        if group.height:
            out[label] = {"users": float(group.height)} | {
                c: round(float(group[c].mean()), 4) for c in per.columns if c not in ("user_id", "_n")}
    return out


def evaluate_item_segments(split: FixedSplit, model: MatrixModel, part: str = "test", k: int = 10,
                           familiar: bool = False, cold_max: int = 10) -> dict[str, dict[str, float]]:
    """Mean metrics@k on long-tail (``cold``: at most ``cold_max`` training users) and popular target items.

    See :func:`tastemaker.evaluation.metrics.by_item_popularity`; the lists are the same as for
    :func:`evaluate_model`, only the target is cut.
    """
    recs = _ranked(split, model, part, k, familiar)[1]
    return item_segments(recs, split.matrices[part], split.matrices["train"], k, cold_max)


def item_segments(recs: pl.DataFrame, target: sp.csr_matrix, train: sp.csr_matrix, k: int,
                  cold_max: int) -> dict[str, dict[str, float]]:
    """:func:`tastemaker.evaluation.metrics.by_item_popularity` over index matrices, rounded."""
    tu, ti = target.nonzero()
    ru, ri = train.nonzero()
    segments = by_item_popularity(recs, pl.DataFrame({"user_id": tu, "item_id": ti}),
                                  pl.DataFrame({"user_id": ru, "item_id": ri}), k, cold_max)
    return {label: {name: round(value, 4) for name, value in row.items()} for label, row in segments.items()}


class SplitModel:
    """A catalogue recommender fitted on a split's training data, scored as the evaluator scores index models.

    The recommender gets the users by id and the part's mask as ``exclude`` (train items for
    valid, train + valid for test, nothing when ``familiar``), so a model that picks its
    candidates before ranking them (the pipeline) never spends a slot on a masked item.
    """

    def __init__(self, model: Any, split: FixedSplit, part: str = "test", familiar: bool = False) -> None:
        self.model, self.split, self.name = model, split, getattr(model, "name", "model")
        items = np.asarray(model.item_ids, dtype=str)
        self.columns = None if np.array_equal(items, split.items.to_numpy().astype(str)) else \
            lookup(split.items.to_numpy().astype(str), items)  # the model's catalogue inside the split's
        self.mask = None if familiar else (split.matrices["train"] if part == "valid"
                                           else split.matrices["train"] + split.matrices["valid"])

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        ids = self.split.users.to_numpy()[users].astype(str)
        exclude = None
        if self.mask is not None:
            rows, cols = self.mask[users].nonzero()
            exclude = pl.DataFrame({"user_id": ids[rows], "item_id": self.split.items.to_numpy()[cols].astype(str)})
        scores = self.model.score(list(ids), exclude)
        if self.columns is None:
            return scores
        out = np.full((len(ids), len(self.split.items)), -np.inf)
        known = self.columns >= 0
        out[:, self.columns[known]] = scores[:, known]
        return out


def fit_recommender(model: Any, split: FixedSplit, **side: Any) -> Any:
    """Fit a catalogue recommender on ``split``'s train part; one that chooses on a later period (the
    pipeline) chooses on the valid part, never on test. ``side``: extra training-bundle fields."""
    data = split.training_data(**side)
    if "later" in inspect.signature(model.fit).parameters:
        return model.fit(data, later=split.frames["valid"].select("user_id", "item_id"))
    return model.fit(data)
