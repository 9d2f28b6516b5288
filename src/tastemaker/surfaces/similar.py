"""Similar artists: an artist is where their listened tracks sit in the model's item space.

An artist's vector is the mean of their tracks' unit vectors weighted by each track's listeners
(``popularity``: the tracks people actually play define the artist, not the long tail); two
artists are as similar as the cosine of their vectors. Similar tracks are the models' own
``similar_items``, re-ranked by the similar chain (:data:`~tastemaker.surfaces.chains.SIMILAR`:
not the seed, none the listener played, at most two per artist).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.surfaces.chains import SIMILAR, Chain, Context, apply
from tastemaker.surfaces.reasons import ItemSpace

#: how many of the model's nearest items a list of ``k`` starts from, per place
DEPTH = 2


def artist_vectors(space: ItemSpace, artists: Mapping[str, str], popularity: np.ndarray,
                   items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(artist_ids, unit vectors)`` of every artist with a track in ``space``.

    ``popularity`` is aligned with ``items`` (e.g. a trained model's ``popularity_`` and ``items_``).
    """
    if len(popularity) != len(items):
        raise ValueError(f"{len(popularity)} popularity values for {len(items)} items")
    ids = np.asarray(items, dtype=str)
    owner = np.array([artists.get(i) or "" for i in ids], dtype=str)
    rows = space.rows(ids)
    keep = (rows >= 0) & (owner != "")
    names, codes = np.unique(owner[keep], return_inverse=True)
    weights = sp.csr_matrix((np.maximum(np.asarray(popularity, dtype=np.float64)[keep], 1.0),
                             (codes, np.arange(int(keep.sum())))), shape=(len(names), int(keep.sum())))
    summed = weights @ space.unit[rows[keep]]
    return names, summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)


def similar_artists(artist_id: str, space: ItemSpace, artists: Mapping[str, str], popularity: np.ndarray,
                    items: np.ndarray, k: int = 10) -> pl.DataFrame:
    """The ``k`` artists closest to ``artist_id`` as ``artist_id, score, rank``; ``KeyError`` if unknown."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    names, unit = artist_vectors(space, artists, popularity, items)
    at = np.flatnonzero(names == artist_id)
    if not at.size:
        raise KeyError(f"unknown artist {artist_id!r}: the model has none of their tracks")
    scores = unit @ unit[at[0]]
    scores[at[0]] = -np.inf
    top = np.lexsort((names, -scores))[: min(k, len(names) - 1)]
    return pl.DataFrame({"artist_id": names[top], "score": scores[top],
                         "rank": np.arange(1, len(top) + 1, dtype=np.int64)})


def similar_tracks(model: Any, track_id: str, k: int = 10, tracks: pl.DataFrame | None = None, *,
                   heard: Sequence[str] = (), chain: Chain = SIMILAR) -> pl.DataFrame:
    """The ``k`` tracks most like ``track_id`` as ``item_id, score, rank, artist_id`` once ``chain`` re-ranked
    the model's ``DEPTH · k`` nearest (plus as many as ``heard`` may remove); empty for an unknown track.

    ``model``: anything with ``similar_items(item_id, k)`` (every matrix model); ``tracks``: the
    catalog (``track_id, artist_id``) the artist cap reads; ``heard``: tracks the listener played.

    >>> similar_tracks(als, "t1", 10, catalog, heard=["t7"])  # doctest: +SKIP
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    found = model.similar_items(track_id, k=DEPTH * k + len(heard))
    if tracks is not None and {"track_id", "artist_id"} <= set(tracks.columns):
        artists = tracks.select(pl.col("track_id").alias("item_id"), "artist_id").unique("item_id")
        found = found.join(artists, on="item_id", how="left", maintain_order="left")
    else:
        found = found.with_columns(pl.lit(None, dtype=pl.String).alias("artist_id"))
    return apply(chain, found, Context(heard=[track_id, *heard], k=k)).head(k)
