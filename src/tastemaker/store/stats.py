"""Counts over a store: what ``tastemaker stats`` prints."""

from __future__ import annotations

import polars as pl

from tastemaker.store import Store


def _distinct(frames: list[pl.LazyFrame]) -> int:
    parts = [f.select(pl.col("id").cast(pl.String)).drop_nulls() for f in frames]
    return int(pl.concat(parts).unique().select(pl.len()).collect().item())


def store_stats(store: Store) -> dict[str, int]:
    """Events, users, tracks and artists (from events and catalog together), plus rows per table.

    >>> store_stats(open_store(path))["events"]  # doctest: +SKIP
    """
    ev = store.events()
    users = _distinct([ev.select(pl.col("user_id").alias("id")), store.scan("users").select(pl.col("user_id").alias("id"))])
    tracks = _distinct(
        [
            ev.filter(pl.col("item_kind") == "track").select(pl.col("item_id").alias("id")),
            store.scan("tracks").select(pl.col("track_id").alias("id")),
        ]
    )
    artists = _distinct(
        [
            ev.select(pl.col("artist_id").alias("id")),
            ev.filter(pl.col("item_kind") == "artist").select(pl.col("item_id").alias("id")),
            store.scan("artists").select(pl.col("artist_id").alias("id")),
            store.scan("tracks").select(pl.col("artist_id").alias("id")),
        ]
    )
    out = {"events": store.count("events"), "users": users, "tracks": tracks, "artists": artists}
    for table in ("tracks", "artists", "users", "audio_features", "shows", "episodes", "playlists", "edges"):
        out[f"rows_{table}"] = store.count(table)
    return out
