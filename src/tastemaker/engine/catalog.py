"""The catalog a server describes its items with: names, artists, release dates; read with each model set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tastemaker.features.kinds import not_music_tracks
from tastemaker.surfaces.reasons import display_names


@dataclass(frozen=True, slots=True)
class Catalog:
    """Tracks (``track_id, name, artist_id, artist_name, release_date``) and the lookups surfaces need.

    A snapshot: tracks that arrive later are served by id until the next model reload (or start).
    """

    tracks: pl.DataFrame
    names: dict[str, str] = field(default_factory=dict)
    artists: dict[str, str] = field(default_factory=dict)
    artist_names: dict[str, str] = field(default_factory=dict)
    #: track id -> (name, artist name): titles without a join on the request path
    titles: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: tracks decided podcast, audiobook or unknown at import (:mod:`tastemaker.features.kinds`)
    not_music: frozenset[str] = frozenset()

    @classmethod
    def from_store(cls, store: Any) -> Catalog:
        """Read the ``tracks`` table of ``store``."""
        tracks = store.entities("tracks")
        if tracks.is_empty():
            return cls(tracks)
        artists = dict(zip(tracks["track_id"].to_list(), tracks["artist_id"].to_list(), strict=True))
        named = tracks.select("artist_id", "artist_name").drop_nulls().unique("artist_id")
        titled = tracks.select("track_id", pl.coalesce("name", "track_id"), "artist_name")
        titles = {t: (name, artist) for t, name, artist in titled.iter_rows()}
        return cls(tracks, display_names(tracks), artists,
                   dict(zip(named["artist_id"].to_list(), named["artist_name"].to_list(), strict=True)), titles,
                   frozenset(not_music_tracks(tracks)["item_id"].to_list()))

    def music(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``rows`` (with ``item_id``) about music: tracks of the catalog not decided otherwise.
        An episode a listener played is no catalog track, so it seeds no Daily Mix and no reason. All of
        ``rows`` when the catalog is empty."""
        if self.tracks.is_empty() or rows.is_empty():
            return rows
        keep = [i in self.titles and i not in self.not_music for i in rows["item_id"].to_list()]
        return rows.filter(pl.Series(keep, dtype=pl.Boolean))

    def titled(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (with ``item_id``) plus ``title`` (track name, else the id) and ``subtitle`` (artist)."""
        if self.tracks.is_empty():
            return rows.with_columns(pl.col("item_id").alias("title"),
                                     pl.lit(None, dtype=pl.String).alias("subtitle"))
        catalog = self.tracks.select(pl.col("track_id").alias("item_id"), pl.col("name").alias("_name"),
                                     pl.col("artist_name").alias("_artist"))
        return (rows.join(catalog, on="item_id", how="left", maintain_order="left")
                .with_columns(pl.coalesce("_name", "item_id").alias("title"),
                              pl.col("_artist").alias("subtitle"))
                .drop("_name", "_artist"))
