"""Lists that start from items rather than a listener: similar tracks and radio, from the personal model.

Both need item vectors (ALS, BPR): there is no popularity answer to "what sounds like this", so
without a loaded vector model they raise :class:`~tastemaker.engine.errors.ModelUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tastemaker.engine.catalog import Catalog
from tastemaker.engine.errors import ModelUnavailable, UnknownItem
from tastemaker.engine.models import ModelSet
from tastemaker.engine.recommend import Served, served_items
from tastemaker.surfaces.radio import Played
from tastemaker.surfaces.reasons import reason
from tastemaker.surfaces.similar import similar_artists


def similar_tracks(models: ModelSet, catalog: Catalog, track_id: str, n: int) -> Served:
    """The ``n`` tracks most like ``track_id`` in the personal model, each "similar to <track>"."""
    personal = models.personal
    if not personal.loaded or not hasattr(personal.model, "similar_items"):
        raise ModelUnavailable(f"similar tracks need the personal model {personal.name!r}, which is not "
                               f"loaded ({personal.error}); train it: `tastemaker train {personal.name}`")
    found = personal.model.similar_items(track_id, k=n)
    if found.is_empty():
        raise UnknownItem(f"unknown track {track_id!r}: {personal.name} {personal.version} has never seen it")
    text = reason("similar_track", name=catalog.names.get(track_id, track_id))
    rows = catalog.titled(found.with_columns(pl.lit(text).alias("reason")))
    return Served(served_items(rows), "model", personal.name, personal.version)


def similar_artists_of(models: ModelSet, catalog: Catalog, artist_id: str, n: int) -> Served:
    """The ``n`` artists closest to ``artist_id`` (their tracks' mean direction in the personal model's
    item space, ``surfaces/similar.py``), each "listeners of <artist> also play this artist"."""
    personal = models.personal
    if models.space is None:
        raise ModelUnavailable(f"similar artists need item vectors from the personal model {personal.name!r}, "
                               f"which is not loaded or has none ({personal.error}); train als or bpr")
    try:
        found = similar_artists(artist_id, models.space, catalog.artists, personal.model.popularity_,
                                personal.model.items_, k=n)
    except KeyError:
        raise UnknownItem(f"unknown artist {artist_id!r}: {personal.name} {personal.version} has none of their "
                          "tracks", "unknown_artist") from None
    text = reason("similar_artist", name=catalog.artist_names.get(artist_id, artist_id))
    names = catalog.artist_names
    rows = found.select(pl.col("artist_id").alias("item_id"), pl.lit("artist").alias("kind"),
                        pl.col("artist_id").replace_strict(names, default=pl.col("artist_id"),
                                                           return_dtype=pl.String).alias("title"),
                        "score", pl.lit(text).alias("reason"))
    return Served(served_items(rows), "model", personal.name, personal.version)


def radio_queue(models: ModelSet, catalog: Catalog, seed: str, played: Sequence[str], skipped: Sequence[str],
                n: int) -> Served:
    """The next ``n`` tracks of a radio from ``seed``, steered by the session's ``played`` and ``skipped``."""
    personal = models.personal
    if models.radio is None:
        raise ModelUnavailable(f"radio needs item vectors from the personal model {personal.name!r}, which "
                               f"is not loaded or has none ({personal.error}); train als or bpr")
    session = [Played(t, False) for t in played] + [Played(t, True) for t in skipped]
    try:
        queue = models.radio.next_tracks(seed, session, n, label=catalog.names.get(seed, seed))
    except KeyError:
        raise UnknownItem(f"unknown track {seed!r}: {personal.name} {personal.version} has never seen it"
                          ) from None
    rows = catalog.titled(queue.drop("position"))
    return Served(served_items(rows), "model", personal.name, personal.version)
