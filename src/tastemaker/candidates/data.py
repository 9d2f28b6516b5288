"""What every recommender fits on: one training bundle, and its matrices over one id map.

A :class:`TrainingData` carries the listening a model may learn from and whatever side data
there is; each model takes what it needs and says what it lacks. Built from a workspace store
(:func:`tastemaker.features.interactions.training_data`) or from a benchmark split folder
(:meth:`tastemaker.evaluation.fixed_split.FixedSplit.training_data`), so that the benchmark and
``tastemaker train`` feed a model the same way.

>>> data = TrainingData(interactions)  # doctest: +SKIP
>>> data.index.X.shape  # doctest: +SKIP
(943, 1682)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

#: the columns :attr:`TrainingData.plays` has
PLAY_COLUMNS = ("user_id", "item_id", "ts", "skipped")


@dataclass(frozen=True)
class TrainingData:
    """One training bundle.

    ``interactions``: ``user_id, item_id, weight`` (listens per pair), optionally ``recency``,
    ``last_ts``, ``artist_id``, ``country``. ``plays``: every stream with its time, skips
    included (``user_id, item_id, ts, skipped``), where the source has times. ``items``: the
    catalogue a model may recommend from (default: the interactions' items); ``users``: the id
    map's users (default: the interactions'). ``item_artists``: ``item_id, artist_id``
    (default: the interactions' ``artist_id`` column). ``audio_features``: rows of the
    ``audio_features`` table. ``ratings``: ``user_id, item_id, value`` explicit ratings of
    interaction pairs. ``friends``: ``user_id, friend_id``. ``releases``: ``item_id,
    release_date``. ``now``: the data's clock (default: its newest time).
    """

    interactions: pl.DataFrame
    plays: pl.DataFrame | None = None
    items: pl.Series | None = None
    users: pl.Series | None = None
    item_artists: pl.DataFrame | None = None
    audio_features: pl.DataFrame | None = None
    ratings: pl.DataFrame | None = None
    friends: pl.DataFrame | None = None
    releases: pl.DataFrame | None = None
    now: datetime | None = None

    def __post_init__(self) -> None:
        missing = {"user_id", "item_id", "weight"} - set(self.interactions.columns)
        if missing:
            raise ValueError(f"interactions need columns user_id, item_id, weight; missing {sorted(missing)}")
        if self.plays is not None and (gone := set(PLAY_COLUMNS) - set(self.plays.columns)):
            raise ValueError(f"plays need columns {list(PLAY_COLUMNS)}; missing {sorted(gone)}")

    @classmethod
    def from_store(cls, store: Any, until: datetime | None = None, music_only: bool = True,
                   cuts: pl.DataFrame | None = None) -> TrainingData:
        """Everything a workspace store holds for training: listens per pair, every play with its time and
        skip, audio features and release dates of the catalogue; ``until`` cuts it at an instant, ``cuts``
        (``user_id, cut``) each listener at their own (listens then decay from each one's newest).
        ``music_only``: leave out episodes, audiobooks and the tracks decided podcast, audiobook or
        unknown at import (:mod:`tastemaker.features.kinds`), so music models never learn them."""
        from tastemaker.features.interactions import interactions, was_skipped
        from tastemaker.features.kinds import music_events

        events = music_events(store) if music_only else store.events()
        if cuts is not None:
            events = (events.join(cuts.select("user_id", "cut").lazy(), on="user_id")
                      .filter(pl.col("ts") < pl.col("cut")).drop("cut"))
        plays = events.filter(pl.col("type") == "play")
        if until is not None:
            plays = plays.filter(pl.col("ts") < until)
        plays = plays.select("user_id", "item_id", "ts", was_skipped().alias("skipped")).collect()
        tracks = store.entities("tracks")
        audio = store.entities("audio_features")
        releases = (tracks.select(pl.col("track_id").alias("item_id"), "release_date")
                    if tracks.height and "release_date" in tracks.columns else None)
        return cls(interactions(events, until, per_user=cuts is not None), plays=plays if plays.height else None,
                   audio_features=audio if audio.height else None, releases=releases, now=until)

    @cached_property
    def index(self) -> Indexed:
        """The matrices of this bundle over its id map (built once)."""
        return Indexed.of(self)

    def with_interactions(self, interactions: pl.DataFrame, plays: pl.DataFrame | None) -> TrainingData:
        """The same side data over other listening (e.g. an earlier period), on the same id map."""
        ratings = self.ratings
        if ratings is not None:
            ratings = ratings.join(interactions.select("user_id", "item_id"), on=["user_id", "item_id"], how="semi")
        return replace(self, interactions=interactions, plays=plays, ratings=ratings, items=self.index.items_series,
                       users=self.index.users_series, item_artists=self.artist_column(), now=None)

    def artist_column(self) -> pl.DataFrame | None:
        """``item_id, artist_id`` from :attr:`item_artists` or the interactions' ``artist_id``, else ``None``."""
        if self.item_artists is not None:
            return self.item_artists.select("item_id", "artist_id")
        if "artist_id" in self.interactions.columns:
            return (self.interactions.group_by("item_id").agg(pl.col("artist_id").drop_nulls().min())
                    .drop_nulls("artist_id"))
        return None


@dataclass(frozen=True)
class Indexed:
    """A bundle's users × items matrices: ``X`` binary, ``W`` the weights, over sorted ids."""

    users: np.ndarray
    items: np.ndarray
    X: sp.csr_matrix
    W: sp.csr_matrix
    data: TrainingData

    @classmethod
    def of(cls, data: TrainingData) -> Indexed:
        frame = data.interactions
        users = np.sort(np.asarray((data.users if data.users is not None else frame["user_id"].unique())
                                   .cast(pl.String).to_numpy(), dtype=str))
        items = np.sort(np.asarray((data.items if data.items is not None else frame["item_id"].unique())
                                   .cast(pl.String).to_numpy(), dtype=str))
        users, items = np.unique(users), np.unique(items)
        rows, cols = lookup(users, frame["user_id"]), lookup(items, frame["item_id"])
        if (rows < 0).any() or (cols < 0).any():
            raise ValueError("interactions name users or items outside the bundle's users/items")
        W = sp.csr_matrix((frame["weight"].cast(pl.Float32).to_numpy(), (rows, cols)), shape=(len(users), len(items)))
        W.sum_duplicates()
        X = W.copy()
        X.data[:] = 1.0
        return cls(users, items, X, W, data)

    @property
    def users_series(self) -> pl.Series:
        return pl.Series("user_id", self.users, dtype=pl.String)

    @property
    def items_series(self) -> pl.Series:
        return pl.Series("item_id", self.items, dtype=pl.String)

    def pairs(self, frame: pl.DataFrame, values: pl.Expr | None = None) -> sp.csr_matrix:
        """A users × items matrix of ``frame``'s ``user_id, item_id`` pairs (``values``, else 1 each);
        pairs outside the id map are dropped."""
        rows, cols = lookup(self.users, frame["user_id"]), lookup(self.items, frame["item_id"])
        keep = (rows >= 0) & (cols >= 0)
        vals = frame.select(values).to_series().cast(pl.Float64).to_numpy() if values is not None else np.ones(frame.height)
        m = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(len(self.users), len(self.items)))
        m.sum_duplicates()
        return m

    def confidence(self) -> sp.csr_matrix:
        """Listening-aware confidence: the ratings where there are any, else ``log(1 + listens)``."""
        if self.data.ratings is not None:
            return self.pairs(self.data.ratings, pl.col("value"))
        W = self.W.astype(np.float64)
        W.data = np.log1p(W.data)
        return W

    def recency(self, half_life_days: float) -> sp.csr_matrix:
        """Listens decayed by age from each user's newest listen (from :attr:`TrainingData.plays` where
        there are plays, else the interactions' ``last_ts``, else plain listens)."""
        if half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days}")
        plays = self.data.plays
        if plays is not None:
            listened = plays.filter(~pl.col("skipped"))
        elif "last_ts" in self.data.interactions.columns:
            listened = self.data.interactions.select("user_id", "item_id", pl.col("last_ts").alias("ts"), "weight")
        else:
            return self.W.astype(np.float64)
        age = (pl.col("ts").max().over("user_id") - pl.col("ts")).dt.total_seconds() / 86400.0
        weight = pl.col("weight") if "weight" in listened.columns else pl.lit(1.0)
        return self.pairs(listened, weight * 0.5 ** (age / half_life_days))

    def artists(self) -> np.ndarray | None:
        """The artist index of each item (-1: unknown), or ``None`` without artists."""
        column = self.data.artist_column()
        if column is None:
            return None
        from tastemaker.candidates.artist import artist_codes

        aligned = pl.DataFrame({"item_id": self.items}).join(column, on="item_id", how="left", maintain_order="left")
        codes = artist_codes(aligned["artist_id"].cast(pl.String))
        return codes if (codes >= 0).any() else None

    def friends(self) -> sp.csr_matrix | None:
        """Users × users (row = whom the user befriended), or ``None``."""
        friends = self.data.friends
        if friends is None:
            return None
        rows, cols = lookup(self.users, friends["user_id"]), lookup(self.users, friends["friend_id"])
        keep = (rows >= 0) & (cols >= 0)
        return sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(len(self.users),) * 2)

    def last_artist_days(self, artists: np.ndarray) -> sp.csr_matrix | None:
        """Users × artists: days from the user's last listen of the artist to their last listen, as a
        :func:`shifted` table (never listened: not stored)."""
        plays = self.data.plays
        if plays is None or not (artists >= 0).any():
            return None
        listened = plays.filter(~pl.col("skipped"))
        rows, cols = lookup(self.users, listened["user_id"]), lookup(self.items, listened["item_id"])
        keep = (rows >= 0) & (cols >= 0)
        frame = (pl.DataFrame({"u": rows[keep], "a": artists[cols[keep]], "ts": listened["ts"].filter(pl.Series(keep))})
                 .filter(pl.col("a") >= 0).group_by("u", "a").agg(pl.col("ts").max())
                 .with_columns(((pl.col("ts").max().over("u") - pl.col("ts")).dt.total_seconds() / 86400.0).alias("d")))
        return shifted(frame["u"].to_numpy(), frame["a"].to_numpy(), frame["d"].to_numpy(),
                       (len(self.users), int(artists.max()) + 1))

    def skip_shares(self, artists: np.ndarray) -> sp.csr_matrix | None:
        """Users × artists: the share of the user's streams of the artist that were skipped, as a :func:`shifted`
        table (never streamed: not stored)."""
        plays = self.data.plays
        if plays is None or not (artists >= 0).any() or not plays["skipped"].any():
            return None
        rows, cols = lookup(self.users, plays["user_id"]), lookup(self.items, plays["item_id"])
        keep = (rows >= 0) & (cols >= 0)
        frame = (pl.DataFrame({"u": rows[keep], "a": artists[cols[keep]],
                               "s": plays["skipped"].filter(pl.Series(keep)).cast(pl.Float64)})
                 .filter(pl.col("a") >= 0).group_by("u", "a").agg(pl.col("s").mean()))
        return shifted(frame["u"].to_numpy(), frame["a"].to_numpy(), frame["s"].to_numpy(),
                       (len(self.users), int(artists.max()) + 1))


def shifted(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A sparse table of non-negative ``values`` where "not stored" means unknown, not 0: each value is stored
    plus one (read back with :func:`unshifted`). A users × artists table stays as large as the listening."""
    return sp.csr_matrix((np.asarray(values, dtype=np.float64) + 1.0, (rows, cols)), shape=shape)


def unshifted(table: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``table[rows[r], cols[r, c]]`` of a :func:`shifted` table for every ``r, c``: the value, NaN where unknown."""
    got = np.asarray(table[np.repeat(rows, cols.shape[1]), cols.ravel()], dtype=np.float64).reshape(cols.shape)
    return np.where(got > 0, got - 1.0, np.nan)


def lookup(sorted_ids: np.ndarray, ids: pl.Series | np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in ``sorted_ids`` (-1 where absent)."""
    values = np.asarray(ids.cast(pl.String).to_numpy() if isinstance(ids, pl.Series) else ids, dtype=str)
    if not len(sorted_ids):
        return np.full(len(values), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == values, at, -1).astype(np.int64)
