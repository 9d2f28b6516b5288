"""Lists that start from items rather than a listener: similar tracks and artists, and radio.

Similar tracks and artists come from who plays what, with support (the model set's
:class:`~tastemaker.candidates.similarity.CoListening`, with the personal model's vectors); radio
from the personal model's vectors, its seed's neighbourhood first. All need a loaded personal model
with item vectors (ALS, BPR): there is no popularity answer to "what sounds like this", so without
one they raise :class:`~tastemaker.engine.errors.ModelUnavailable`.
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
from tastemaker.surfaces.similar import explained, similar_artists


def similar_tracks(models: ModelSet, catalog: Catalog, track_id: str, n: int) -> Served:
    """The ``n`` tracks most like ``track_id``, each "similar to <track>" with what it rests on (shared
    listeners, the artist, audio features); the personal model's own nearest without a similarity."""
    personal = models.personal
    if not personal.loaded or not hasattr(personal.model, "similar_items"):
        raise ModelUnavailable(f"similar tracks need the personal model {personal.name!r}, which is not "
                               f"loaded ({personal.error}); train it: `tastemaker train {personal.name}`")
    name = catalog.names.get(track_id, track_id)
    if models.similarity is not None:
        found = models.similarity.similar_items(track_id, k=n)
        found = found.with_columns(explained(found, name))
    else:
        found = personal.model.similar_items(track_id, k=n).with_columns(
            pl.lit(reason("similar_track", name=name)).alias("reason"))
    if found.is_empty() and track_id not in catalog.titles:
        raise UnknownItem(f"unknown track {name!r}: {personal.name} {personal.version} has never seen it")
    # a catalogue track nothing is like yet (no listener shares it with another track): an empty list
    rows = catalog.titled(found)
    return Served(served_items(rows), "model", personal.name, personal.version)


def similar_artists_of(models: ModelSet, catalog: Catalog, artist_id: str, n: int) -> Served:
    """The ``n`` artists most like ``artist_id`` by shared listeners with support (``surfaces/similar.py``),
    each "N listeners of <artist> also play this artist" (or "sounds like <artist>")."""
    personal = models.personal
    if models.similarity is None:
        raise ModelUnavailable(f"similar artists need item vectors from the personal model {personal.name!r} "
                               f"and listening, and the model is not loaded or has none ({personal.error}); "
                               "train als or bpr")
    try:
        found = similar_artists(artist_id, models.similarity, k=n)
    except KeyError:
        raise UnknownItem(f"unknown artist {catalog.artist_names.get(artist_id, artist_id)!r}: nobody has played "
                          "any of their tracks",
                          "unknown_artist") from None
    names = catalog.artist_names
    rows = found.select(pl.col("artist_id").alias("item_id"), pl.lit("artist").alias("kind"),
                        pl.col("artist_id").replace_strict(names, default=pl.col("artist_id"),
                                                           return_dtype=pl.String).alias("title"),
                        "score", explained(found, names.get(artist_id, artist_id), artists=True))
    return Served(served_items(rows), "model", personal.name, personal.version)


def radio_queue(models: ModelSet, catalog: Catalog, seed: str, played: Sequence[str], skipped: Sequence[str],
                n: int, artist_tracks: Sequence[str] | None = None) -> Served:
    """The next ``n`` tracks of a radio from ``seed``, steered by the session's ``played`` and ``skipped``.

    ``artist_tracks``: ``seed`` is an artist and these are their best-known tracks; the radio starts
    from them and plays the artist at every fourth place (``surfaces/radio.py``)."""
    personal = models.personal
    if models.radio is None:
        raise ModelUnavailable(f"radio needs item vectors from the personal model {personal.name!r}, which "
                               f"is not loaded or has none ({personal.error}); train als or bpr")
    session = [Played(t, False) for t in played] + [Played(t, True) for t in skipped]
    if artist_tracks is not None:
        name = catalog.artist_names.get(seed, seed)
        if not artist_tracks:
            raise UnknownItem(f"unknown artist {name!r}: the model knows none of their music", "unknown_artist")
        try:
            queue = models.radio.next_tracks(list(artist_tracks), session, n, label=name, play_seeds=True)
        except KeyError:
            raise UnknownItem(f"unknown artist {name!r}: {personal.name} {personal.version} knows none of their "
                              "tracks yet", "unknown_artist") from None
    else:
        label = catalog.names.get(seed, seed)
        try:
            queue = models.radio.next_tracks(seed, session, n, label=label)
        except KeyError:
            # a catalogue track the model has not seen (new, or only ever skipped): the radio starts from its
            # artist's tracks the model knows, and does not play the seed either
            artist = catalog.artists.get(seed)
            kin = [t for t, a in catalog.artists.items() if a == artist and t != seed] if artist else []
            try:
                queue = models.radio.next_tracks(kin, [*session, Played(seed, False)], n, label=label)
            except KeyError:
                raise UnknownItem(f"unknown track {label!r}: {personal.name} {personal.version} has never seen it "
                                  "or any track of its artist") from None
    rows = catalog.titled(queue.drop("position"))
    return Served(served_items(rows), "model", personal.name, personal.version)
