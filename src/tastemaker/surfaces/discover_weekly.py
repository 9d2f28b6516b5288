"""Discover Weekly: unheard tracks for one listener, at most a few per artist, each with a reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
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


def discover_weekly_batch(
    model: Recommender,
    users: Sequence[str],
    heard: pl.DataFrame,
    tracks: pl.DataFrame,
    size: int = 30,
    per_artist: int = 2,
    chunk: int = 1000,
) -> pl.DataFrame:
    """Every listener's playlist at once: ``user_id, position, track_id, name, artist_name, score, reason``.

    The same rules as :func:`discover_weekly` (nothing heard, at most ``per_artist`` per artist),
    computed ``chunk`` listeners at a time so memory stays flat. Deterministic for a given
    model and history, so a week's run can be repeated and gives the same lists.
    """
    if size < 1 or per_artist < 1 or chunk < 1:
        raise ValueError(f"size, per_artist and chunk must be at least 1, got {size}, {per_artist}, {chunk}")
    cat = tracks.select(pl.col("track_id").alias("item_id"), "name", "artist_id", "artist_name")
    pairs = heard.select("user_id", "item_id")
    parts = []
    for start in range(0, len(users), chunk):
        batch = list(users[start:start + chunk])
        mine = pairs.filter(pl.col("user_id").is_in(batch))
        pool = model.recommend(batch, k=size * 10, exclude=mine)
        parts.append(
            pool.join(cat, on="item_id", how="inner")
            .sort("user_id", "rank")
            .filter(pl.int_range(pl.len()).over("user_id", "artist_id") < per_artist)
            .filter(pl.int_range(pl.len()).over("user_id") < size)
            .select("user_id", pl.int_range(1, pl.len() + 1).over("user_id").alias("position"),
                    pl.col("item_id").alias("track_id"), "name", "artist_name", "score",
                    pl.lit(f"new to you, picked by {model.name}").alias("reason"))
        )
    return pl.concat(parts) if parts else pl.DataFrame()


def write_playlists(playlists: pl.DataFrame, folder: Path, title: str) -> dict[str, Path]:
    """Write ``playlists.parquet`` and ``playlists.jspf.jsonl`` (one JSPF document per listener) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    parquet, jspf = folder / "playlists.parquet", folder / "playlists.jspf.jsonl"
    playlists.write_parquet(parquet)
    with jspf.open("w") as out:
        for (user,), rows in playlists.sort("user_id", "position").group_by("user_id", maintain_order=True):
            doc = {"playlist": {"title": f"{title} for {user}", "creator": "tastemaker", "track": [
                {"identifier": [r["track_id"]], "title": r["name"], "creator": r["artist_name"],
                 "annotation": r["reason"]} for r in rows.iter_rows(named=True)]}}
            out.write(json.dumps(doc) + "\n")
    return {"parquet": parquet, "jspf": jspf}
