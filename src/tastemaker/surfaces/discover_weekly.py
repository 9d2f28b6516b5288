"""Discover Weekly: unheard tracks for one listener, at most a few per artist, each with a reason."""

from __future__ import annotations

from typing import Protocol

import polars as pl


class Recommender(Protocol):
    """Anything that can rank items for users while excluding given pairs."""

    name: str

    def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame: ...


def discover_weekly(
    model: Recommender,
    user_id: str,
    heard: pl.DataFrame,
    tracks: pl.DataFrame,
    size: int = 30,
    per_artist: int = 2,
) -> pl.DataFrame:
    """The playlist as ``position, track_id, name, artist_name, score, reason``.

    ``heard``: the user's ``user_id, item_id`` history (never recommended again);
    ``tracks``: the catalog (``track_id, name, artist_id, artist_name``).
    """
    if size < 1 or per_artist < 1:
        raise ValueError(f"size and per_artist must be at least 1, got {size} and {per_artist}")
    mine = heard.filter(pl.col("user_id") == user_id).select("user_id", "item_id")
    pool = model.recommend([user_id], k=size * 10, exclude=mine)
    cat = tracks.select("track_id", "name", "artist_id", "artist_name")
    ranked = (
        pool.join(cat, left_on="item_id", right_on="track_id", how="inner")
        .sort("rank")
        .with_columns(pl.int_range(pl.len()).over("artist_id").alias("_nth"))
        .filter(pl.col("_nth") < per_artist)
        .head(size)
    )
    return ranked.select(
        pl.int_range(1, pl.len() + 1).alias("position"),
        pl.col("item_id").alias("track_id"),
        "name",
        "artist_name",
        "score",
        pl.lit(f"new to you, picked by {model.name}").alias("reason"),
    )
