"""Music only: the content kinds decided at import (:mod:`tastemaker.ingest.kinds`), applied where music
models learn and music surfaces list.

An item is kept off music when an export marks it an episode or audiobook (its events' ``item_kind``)
or when the tracks table's ``content_kind`` is podcast, audiobook or unknown
(:data:`tastemaker.domain.NOT_MUSIC`). A track never decided (a store written before content kinds,
a source without names) counts as music, so nothing that was recommended before disappears unseen.

>>> events = music_events(store)  # doctest: +SKIP
>>> shelf = drop_not_music(candidates, store.entities("tracks"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tastemaker.domain import NOT_MUSIC, SPOKEN_ITEM_KINDS


def not_music_tracks(tracks: pl.DataFrame) -> pl.DataFrame:
    """``item_id`` of the tracks of a tracks table (``track_id``, ``content_kind``) decided not music;
    empty for a table without decisions."""
    if "content_kind" not in tracks.columns or not tracks.height:
        return pl.DataFrame(schema={"item_id": pl.String})
    return (tracks.filter(pl.col("content_kind").is_in(sorted(NOT_MUSIC)))
            .select(pl.col("track_id").cast(pl.String).alias("item_id")).unique())


def music_events(store: Any, events: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """``events`` (default: all of ``store``'s) without those about items that are not music: episodes,
    audiobooks, and tracks decided podcast, audiobook or unknown."""
    events = store.events() if events is None else events
    spoken = pl.col("item_kind").is_in(sorted(SPOKEN_ITEM_KINDS)).fill_null(False)
    kept = events.filter(~spoken)
    excluded = not_music_tracks(store.entities("tracks"))
    return kept.join(excluded.lazy(), on="item_id", how="anti") if excluded.height else kept


def drop_not_music(rows: pl.DataFrame, tracks: pl.DataFrame, on: str = "item_id") -> pl.DataFrame:
    """``rows`` without those whose ``on`` column names a track ``tracks`` decides is not music, in
    their order: a music surface's last guard, for candidates from a model trained before the
    decision or from outside the music models.

    >>> drop_not_music(candidates, tracks)  # doctest: +SKIP
    """
    excluded = not_music_tracks(tracks)
    if not excluded.height or not rows.height:
        return rows
    return rows.join(excluded.rename({"item_id": on}), on=on, how="anti", maintain_order="left")
