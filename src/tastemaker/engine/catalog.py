"""The catalog a server describes its items with: names, artists, release dates; read with each model set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

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
                   dict(zip(named["artist_id"].to_list(), named["artist_name"].to_list(), strict=True)), titles)

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
