"""Similar artists and tracks: who else the same listeners play, and how many listeners say so.

Both come from :class:`~tastemaker.candidates.similarity.CoListening`: co-listener cosine shrunk by the
number of shared listeners, a minimum support, and for sparse seeds the artist level or audio features
(each row's ``basis`` says which, ``shared_listeners`` how many listeners it rests on). A model's vectors
alone would call one stranger's niche plays 0.99 alike (``docs/surfaces.md``, "Similar tracks and
artists"). Similar tracks are then re-ranked by the similar chain (:data:`~tastemaker.surfaces.chains.SIMILAR`:
not the seed, none the listener played, at most two per artist).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from tastemaker.candidates.similarity import CoListening
from tastemaker.surfaces.chains import SIMILAR, Chain, Context, apply
from tastemaker.surfaces.reasons import reason

#: how many of the nearest items a list of ``k`` starts from, per place
DEPTH = 2


def similar_artists(artist_id: str, similarity: CoListening, k: int = 10) -> pl.DataFrame:
    """The ``k`` artists most like ``artist_id`` as ``artist_id, score, shared_listeners, basis, rank``;
    ``KeyError`` for an artist none of whose tracks was played.

    >>> similar_artists("ar:1", CoListening().fit(listening, artists), k=5)  # doctest: +SKIP
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not similarity.has_artist(artist_id):
        raise KeyError(f"unknown artist {artist_id!r}: nobody has played any of their tracks")
    return similarity.similar_artists(artist_id, k)


def explained(rows: pl.DataFrame, name: str, artists: bool = False) -> pl.Series:
    """The reason of each similar row (with ``shared_listeners`` and ``basis``) to a seed called ``name``."""
    kind = "similar_artist" if artists else "similar_track"
    suffix = {"co-listeners": "_shared", "artist": "_artist", "content": "_content"}
    texts = [reason(kind + suffix[basis], name=name, shared=str(n))
             for n, basis in zip(rows["shared_listeners"], rows["basis"], strict=True)]
    return pl.Series("reason", texts, dtype=pl.String)


def similar_tracks(model: Any, track_id: str, k: int = 10, tracks: pl.DataFrame | None = None, *,
                   heard: Sequence[str] = (), chain: Chain = SIMILAR) -> pl.DataFrame:
    """The ``k`` tracks most like ``track_id`` as ``item_id, score, rank, artist_id`` (and whatever else
    ``model`` gives: a :class:`CoListening`'s ``shared_listeners, basis``) once ``chain`` re-ranked the
    ``DEPTH · k`` nearest (plus as many as ``heard`` may remove); empty for an unknown track.

    ``model``: anything with ``similar_items(item_id, k)`` (a :class:`CoListening`, any matrix model);
    ``tracks``: the catalog (``track_id, artist_id``) the artist cap reads; ``heard``: tracks the listener
    played.

    >>> similar_tracks(similarity, "t1", 10, catalog, heard=["t7"])  # doctest: +SKIP
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
