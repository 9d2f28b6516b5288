"""Artist-aware discovery: unheard tracks of the artists a listener plays, then of similar artists.

For user ``u`` and track ``i`` of artist ``a``::

    artist(u, a) = aff(u, a) + similar_weight · Σ_b aff(u, b) · sim(b, a)
    score(u, i)  = artist(u, a) · (1 + TIE · within(i)) + TIE² · popularity(i)

``aff(u, a)`` is ``a``'s share of ``u``'s interactions (plays when fitted on counts, distinct
tracks when fitted on a binary matrix); ``sim`` is the cosine between artists' listener sets,
each artist keeping its ``similar_artists`` nearest others. ``TIE`` is small, so the artist
decides the order and ``within`` only orders one artist's tracks: ``within(i) = (1 - freshness)
· r + freshness · (1 - r)`` with ``r`` the track's listeners relative to the artist's most
played track. ``freshness = 0`` (the default) puts an artist's best-known unheard tracks first;
``1`` puts its least-played ones (deep cuts) first. Tracks of artists the user neither plays nor
is near are ordered by global popularity.

Heard tracks are scored like any other: pass ``exclude`` (or a mask) to keep them out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import NotFittedError

#: separates artist and track in the item ids of the Spotify benchmark splits
ITEM_ARTIST_SEPARATOR = "\u241f"
#: weight of the within-artist order relative to the artist score (and, squared, of popularity)
TIE = 1e-4


class ArtistDiscovery:
    """Unheard tracks of the user's artists first, then of similar artists.

    ``item_artists``: the artist index of each item column (``-1``: unknown). Through
    :class:`~tastemaker.candidates.recommender.MatrixRecommender` it is built from the
    interactions' ``artist_id`` column; on a benchmark split use :func:`artists_from_item_ids`.

    >>> ArtistDiscovery(item_artists=artists_from_item_ids(split.items)).fit(X)  # doctest: +SKIP
    """

    name = "artist"

    def __init__(self, item_artists: np.ndarray | None = None, similar_artists: int = 20,
                 similar_weight: float = 0.1, freshness: float = 0.0) -> None:
        self.item_artists = item_artists
        self.similar_artists = similar_artists
        self.similar_weight = similar_weight
        self.freshness = freshness

    def _validated(self, n_items: int) -> np.ndarray:
        if self.item_artists is None:
            raise ValueError("ArtistDiscovery needs item_artists (the artist index of each item); through "
                             "MatrixRecommender, give the interactions an artist_id column")
        artists = np.asarray(self.item_artists)
        if artists.ndim != 1 or len(artists) != n_items or not np.issubdtype(artists.dtype, np.integer):
            raise ValueError(f"item_artists must be {n_items} integers (one per item column, -1 when unknown), "
                             f"got shape {artists.shape} of {artists.dtype}")
        if self.similar_artists < 0 or self.similar_weight < 0:
            raise ValueError("similar_artists and similar_weight must be non-negative, got "
                             f"{self.similar_artists} and {self.similar_weight}")
        if not 0.0 <= self.freshness <= 1.0:
            raise ValueError(f"freshness must be between 0 and 1, got {self.freshness}")
        return artists.astype(np.int64)

    def fit(self, X: sp.csr_matrix) -> Self:
        """Learn artist affinities, artist neighbours and the within-artist order from ``X`` (users × items)."""
        X = X.tocsr().astype(np.float64)
        artists = self._validated(X.shape[1])
        known = np.flatnonzero(artists >= 0)
        n_artists = int(artists.max()) + 1 if known.size else 0
        to_artist = sp.csr_matrix((np.ones(known.size), (known, artists[known])), shape=(X.shape[1], n_artists))
        plays = (X @ to_artist).tocsr()
        totals = np.asarray(plays.sum(axis=1)).ravel()
        self.affinity_ = (sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ plays).tocsr()
        self.similarity_ = self._neighbours(plays, n_artists)
        listeners = np.asarray((X > 0).sum(axis=0), dtype=np.float64).ravel()
        peak = np.zeros(n_artists)
        np.maximum.at(peak, artists[known], listeners[known])
        relative = np.zeros_like(listeners)
        relative[known] = np.divide(listeners[known], peak[artists[known]], out=np.zeros(known.size),
                                    where=peak[artists[known]] > 0)
        self.within_ = (1.0 - self.freshness) * relative + self.freshness * (1.0 - relative)
        self.popularity_ = listeners / max(listeners.max(initial=0.0), 1.0)
        self.item_artists_ = artists
        return self

    def _neighbours(self, plays: sp.csr_matrix, n_artists: int) -> sp.csr_matrix:
        """Artist × artist cosine on who listens, top ``similar_artists`` per artist, no self-similarity."""
        if not (self.similar_artists and self.similar_weight and n_artists):
            return sp.csr_matrix((n_artists, n_artists))
        from implicit.nearest_neighbours import CosineRecommender

        listened = plays.copy()
        listened.data[:] = 1.0
        model = CosineRecommender(K=self.similar_artists + 1)  # +1: every artist is its own nearest
        with warnings.catch_warnings():  # implicit converts its own normalised copy and warns about it
            warnings.simplefilter("ignore")
            model.fit(listened.astype(np.float32), show_progress=False)
        similarity = model.similarity.tocsr().astype(np.float64)
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        return similarity

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for the given users (``X`` is unused: the affinities hold the history)."""
        if not hasattr(self, "affinity_"):
            raise NotFittedError("ArtistDiscovery is not fitted: call fit() first")
        own = self.affinity_[users]
        per_artist = (own + self.similar_weight * (own @ self.similarity_)).toarray()
        per_artist = np.hstack([per_artist, np.zeros((len(users), 1))])  # column -1: unknown artist
        by_item = per_artist[:, self.item_artists_]
        return by_item * (1.0 + TIE * self.within_[None, :]) + TIE**2 * self.popularity_[None, :]


def artists_from_item_ids(item_ids: Sequence[str] | pl.Series | np.ndarray,
                          separator: str = ITEM_ARTIST_SEPARATOR) -> np.ndarray:
    """Artist index of each ``artist + separator + track`` item id (``-1`` for an id without ``separator``).

    The Spotify benchmark splits name items this way; pass a :class:`FixedSplit`'s ``items``.

    >>> artists_from_item_ids(["A\u241fx", "B\u241fy", "A\u241fz", "loose"]).tolist()
    [0, 1, 0, -1]
    """
    ids = pl.Series("item_id", item_ids, dtype=pl.String)
    artist = pl.when(ids.str.contains(separator, literal=True)).then(ids.str.split(separator).list.first())
    names = pl.select(artist.alias("artist")).to_series()
    return artist_codes(names)


def artist_codes(names: pl.Series) -> np.ndarray:
    """Dense integer codes of ``names`` in sorted order, ``-1`` for nulls."""
    known = names.drop_nulls().unique().sort()
    codes = pl.DataFrame({names.name: known, "code": np.arange(len(known), dtype=np.int64)})
    joined = pl.DataFrame({names.name: names}).join(codes, on=names.name, how="left", maintain_order="left")
    return joined["code"].fill_null(-1).to_numpy().astype(np.int64)
