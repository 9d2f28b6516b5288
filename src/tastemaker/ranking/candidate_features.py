"""Features of (user, candidate item) rows beyond the members' scores, for :mod:`tastemaker.ranking.residual`.

A source is built once from the history lists are made from (on the benchmark splits: train)
and describes the candidates of any of its users: ``source(users, items)``, ``items`` being
users × n item indices, returns users × n × k float32 values named by ``source.names``.

- :class:`CoListening`: how strongly the candidate is co-listened with the user's history;
- :class:`ArtistAffinity`: the candidate's artist in the user's history: share of plays,
  tracks heard, and (given play times) days since the user last played the artist;
- :class:`FriendsListening`: the candidate in the histories of the people the user follows.

>>> source = CoListening(X)  # doctest: +SKIP
>>> source(np.array([0, 3]), items).shape  # doctest: +SKIP
(2, 200, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from tastemaker.candidates.data import Indexed, shifted, unshifted

#: users per block when a source needs a dense users × items product
BLOCK = 256


class FeatureSource(Protocol):
    """Values of some features for each user's candidates."""

    names: list[str]

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


def _check(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
    if items.ndim != 2 or len(items) != len(users):
        raise ValueError(f"items must be users × n ({len(users)} rows), got shape {items.shape}")
    if len(users) and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(f"users must index the {n_users} rows the source was built on")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"items must index the {n_items} item columns the source was built on")


def _binary(X: sp.spmatrix) -> sp.csr_matrix:
    B = sp.csr_matrix(X, dtype=np.float64, copy=True)
    B.eliminate_zeros()
    B.data[:] = 1.0
    return B


class CoListening:
    """``colisten_mean``: the candidate's mean cosine (shared listeners) to the items of the user's history.

    Computed through the users, ``(X_u · Bᵀ) · B_j / |history|`` with ``X`` the binary history and ``B``
    the same with item columns scaled to unit length, so no item × item matrix is ever built (a catalog of
    tens of thousands of tracks would not fit). The candidate's own column counts only when the
    user already has it (re-listening).

    With ``weights`` (same shape, e.g. log play counts), ``colisten_weighted`` as well: the same cosine
    averaged with the user's own weights, so the artists a listener plays most count most.
    """

    def __init__(self, X: sp.spmatrix, weights: sp.spmatrix | None = None) -> None:
        binary = _binary(X)
        norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
        self.unit = (binary @ sp.diags(1.0 / np.where(norms > 0, norms, 1.0))).tocsr()
        self.unit_t = self.unit.T.tocsr()
        self.binary = binary
        self.history = np.diff(binary.indptr)
        self.shares = None
        if weights is not None:
            W = sp.csr_matrix(weights, dtype=np.float64)
            if W.shape != binary.shape:
                raise ValueError(f"weights must have the history's shape {binary.shape}, got {W.shape}")
            totals = np.asarray(W.sum(axis=1)).ravel()
            self.shares = (sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ W).tocsr()
        self.names = ["colisten_mean"] + (["colisten_weighted"] if weights is not None else [])

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        _check(users, items, *self.unit.shape)
        rows = [self.binary] + ([self.shares] if self.shares is not None else [])
        out = np.zeros((*items.shape, len(rows)), dtype=np.float64)
        for start in range(0, len(users), BLOCK):
            block = users[start:start + BLOCK]
            for k, R in enumerate(rows):
                overlap = (R[block] @ self.unit_t).tocsr()  # block × users, as sparse as their co-listeners
                for at in range(len(block)):  # only the candidates' columns: a request touches no whole catalog
                    share = overlap[at].T
                    out[start + at, :, k] = (self.unit_t[items[start + at]] @ share).toarray().ravel()
        out[..., 0] /= np.maximum(self.history[users], 1)[:, None]
        return out.astype(np.float32)


class ArtistAffinity:
    """The candidate's artist in the user's history.

    ``artist_share``: the artist's share of the user's plays (rows of ``W``, e.g. play counts);
    ``artist_log_tracks``: log(1 + the artist's tracks the user has); with ``days_since`` (users ×
    artists, days from the user's last play of the artist to the user's last play of all, NaN
    where never), ``artist_days_since`` as well; with ``skips`` (users × artists, the share of the
    user's streams of the artist that were skipped, NaN where never streamed), ``artist_skip_share``.
    Items of unknown artist (``-1``) get 0 and NaN.
    """

    def __init__(self, W: sp.spmatrix, item_artists: np.ndarray, days_since: sp.csr_matrix | np.ndarray | None = None,
                 skips: sp.csr_matrix | np.ndarray | None = None) -> None:
        W = sp.csr_matrix(W, dtype=np.float64)
        artists = np.asarray(item_artists, dtype=np.int64)
        if len(artists) != W.shape[1]:
            raise ValueError(f"item_artists must have one entry per item column ({W.shape[1]}), got {len(artists)}")
        known = np.flatnonzero(artists >= 0)
        n_artists = int(artists.max()) + 1 if known.size else 0
        for label, table in (("days_since", days_since), ("skips", skips)):
            if table is not None and table.shape != (W.shape[0], n_artists):
                raise ValueError(f"{label} must be users × artists {(W.shape[0], n_artists)}, got {table.shape}")
        days_since, skips = _sparse_table(days_since), _sparse_table(skips)
        to_artist = sp.csr_matrix((np.ones(known.size), (known, artists[known])), shape=(W.shape[1], n_artists))
        totals = np.asarray(W.sum(axis=1)).ravel()
        self.share = (sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ W @ to_artist).tocsr()
        self.tracks = (_binary(W) @ to_artist).tocsr()
        self.artists, self.days_since, self.skips, self.n_users = artists, days_since, skips, W.shape[0]
        self.names = (["artist_share", "artist_log_tracks"] + (["artist_days_since"] if days_since is not None else [])
                      + (["artist_skip_share"] if skips is not None else []))

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        _check(users, items, self.n_users, len(self.artists))
        artist = self.artists[items]
        safe = np.maximum(artist, 0)
        unknown = artist < 0
        share = np.where(unknown, 0.0, _read(self.share, users, safe))
        tracks = np.where(unknown, 0.0, np.log1p(_read(self.tracks, users, safe)))
        columns = [share, tracks]
        for table in (self.days_since, self.skips):
            if table is not None:
                columns.append(np.where(unknown, np.nan, unshifted(table, users, safe)))
        return np.stack(columns, axis=-1).astype(np.float32)


def _sparse_table(table: sp.csr_matrix | np.ndarray | None) -> sp.csr_matrix | None:
    """A users × artists table as :func:`~tastemaker.candidates.data.shifted` stores it (a dense one, NaN for
    unknown, is what pipelines saved before tables were sparse)."""
    if table is None or sp.issparse(table):
        return table
    rows, cols = np.nonzero(~np.isnan(table))
    return shifted(rows, cols, table[rows, cols], table.shape)


class FriendsListening:
    """The candidate among the user's friends (a social graph: users × users, row ``u`` = whom ``u`` follows).

    ``friends_share``: the share of the user's friends with the candidate in their history;
    ``friends_log_count``: log(1 + how many); ``user_log_friends``: log(1 + the user's friends).
    A user with no friends gets zeros.
    """

    names = ["friends_share", "friends_log_count", "user_log_friends"]

    def __init__(self, X: sp.spmatrix, friends: sp.spmatrix) -> None:
        binary = _binary(X)
        F = _binary(friends)
        if F.shape != (binary.shape[0], binary.shape[0]):
            raise ValueError(f"friends must be users × users {(binary.shape[0],) * 2}, got {F.shape}")
        self.friends = np.diff(F.indptr)
        self.count = (F @ binary).tocsr()
        self.n_users, self.n_items = binary.shape

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        _check(users, items, self.n_users, self.n_items)
        count = _read(self.count, users, items)
        friends = np.repeat(self.friends[users][:, None], items.shape[1], axis=1).astype(np.float64)
        share = count / np.maximum(friends, 1.0)
        return np.stack([share, np.log1p(count), np.log1p(friends)], axis=-1).astype(np.float32)


def _read(M: sp.csr_matrix, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``M[users[r], columns[r, c]]`` for every ``r, c`` (0 where not stored)."""
    rows = np.repeat(users, columns.shape[1])
    return np.asarray(M[rows, columns.ravel()]).reshape(columns.shape)


@dataclass(frozen=True)
class FeatureInputs:
    """What the ranker's feature sources are built from, kept with a trained pipeline so serving rebuilds them.

    ``X``: binary history; ``W``: listens per pair; ``weights``: listening-aware confidence
    (ratings, or log plays) where the data has more than ones; ``friends``: users × users;
    ``artists``: each item's artist index; ``days``/``skips``: users × artists, days since the
    artist was last played and the share of its streams skipped (timed plays only; sparse, see
    :func:`~tastemaker.candidates.data.shifted`).
    """

    X: sp.csr_matrix
    W: sp.csr_matrix
    weights: sp.csr_matrix | None = None
    friends: sp.csr_matrix | None = None
    artists: np.ndarray | None = None
    days: sp.csr_matrix | None = None
    skips: sp.csr_matrix | None = None

    @classmethod
    def of(cls, index: Indexed, like: FeatureInputs | None = None) -> FeatureInputs:
        """Every input ``index``'s bundle has; with ``like``, exactly the inputs ``like`` has (a ranker
        learnt on one period's features then reads the same features of another: a missing table is
        empty, unknown values NaN)."""
        artists = index.artists()
        if like is None:
            weighted = index.data.ratings is not None or bool((index.W.data != 1).any())
            return cls(index.X, index.W, index.confidence() if weighted else None, index.friends(), artists,
                       None if artists is None else index.last_artist_days(artists),
                       None if artists is None else index.skip_shares(artists))
        users = len(index.users)
        if like.artists is not None and artists is None:
            artists = np.full(len(index.items), -1, dtype=np.int64)
        width = (int(artists.max()) + 1 if artists is not None and (artists >= 0).any() else 0)

        def table(kind: str, made: np.ndarray | None) -> np.ndarray | None:
            if getattr(like, kind) is None or artists is None:
                return None
            return made if made is not None else sp.csr_matrix((users, width))

        friends = index.friends() if like.friends is not None else None
        return cls(index.X, index.W, index.confidence() if like.weights is not None else None,
                   friends if friends is not None or like.friends is None else sp.csr_matrix((users, users)),
                   artists if like.artists is not None else None,
                   table("days", index.last_artist_days(artists) if artists is not None else None),
                   table("skips", index.skip_shares(artists) if artists is not None else None))

    def sources(self) -> list[FeatureSource]:
        """Co-listening (weighted too, where there are weights), friends' listening, the candidate's artist."""
        sources: list[FeatureSource] = [CoListening(self.X, self.weights)]
        if self.friends is not None:
            sources.append(FriendsListening(self.X, self.friends))
        if self.artists is not None:
            sources.append(ArtistAffinity(self.W, self.artists, self.days, self.skips))
        return sources

    def save(self, path: Path) -> None:
        """One ``.npz``: sparse inputs as data/indices/indptr/shape, the rest as they are."""
        arrays: dict[str, np.ndarray] = {}
        for key, value in vars(self).items():
            if value is None:
                continue
            if sp.issparse(value):
                arrays |= {f"{key}.data": value.data, f"{key}.indices": value.indices, f"{key}.indptr": value.indptr,
                           f"{key}.shape": np.asarray(value.shape)}
            else:
                arrays[key] = np.asarray(value)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> FeatureInputs:
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        values: dict[str, Any] = {}
        for key in ("X", "W", "weights", "friends", "artists", "days", "skips"):
            if f"{key}.indptr" in arrays:
                values[key] = sp.csr_matrix((arrays[f"{key}.data"], arrays[f"{key}.indices"], arrays[f"{key}.indptr"]),
                                            shape=tuple(arrays[f"{key}.shape"]))
            elif key in arrays:
                values[key] = arrays[key]
        return cls(**values)
