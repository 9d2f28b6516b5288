"""Playlist ordering on real Spotify audio features (the 2010s file of the Hit Predictor set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.surfaces.ordering import order_playlist, transition_cost

pytestmark = pytest.mark.realdata


def _closest_repeat(artists: list[str]) -> int:
    places: dict[str, int] = {}
    closest = 10**9
    for place, artist in enumerate(artists):
        closest = min(closest, place - places.get(artist, -10**9))
        places[artist] = place
    return closest


def test_real_hits_flow_better_ordered(shared_data: Path) -> None:
    songs = pl.read_csv(shared_data / "spotify-hit-predictor-audio-features" / "dataset-of-10s.csv")
    features = songs.select(pl.col("uri").alias("track_id"), "tempo", "energy", "key", "mode")
    hits = songs.filter(pl.col("target") == 1).select(pl.col("uri").alias("item_id"),
                                                      pl.col("artist").alias("artist_id"), "track")
    before, after = [], []
    for seed in range(20):  # 30 hits drawn at random stand in for a list ranked by a model
        playlist = hits.sample(30, seed=seed)
        ordered = order_playlist(playlist, features, artist_gap=3)
        assert ordered.drop("position").sort(playlist.columns).equals(playlist.sort(playlist.columns))
        assert _closest_repeat(ordered["artist_id"].to_list()) > 3
        before.append(transition_cost(playlist, features))
        after.append(transition_cost(ordered, features))
    assert all(a < b for a, b in zip(after, before, strict=True))
    assert np.mean(after) < 0.6 * np.mean(before)  # measured: 0.37 as drawn, 0.14 ordered

    # a Daily Mix of the 8 artists with the most hits, 5 tracks each: spaced and smoother still
    top = hits.group_by("artist_id").len().sort(["len", "artist_id"], descending=[True, False]).head(8)
    mix = hits.filter(pl.col("artist_id").is_in(top["artist_id"].implode())).group_by(
        "artist_id", maintain_order=True).head(5)
    ordered = order_playlist(mix, features, artist_gap=3)
    assert ordered.height == 40 and _closest_repeat(ordered["artist_id"].to_list()) > 3
    assert transition_cost(ordered, features) < 0.6 * transition_cost(mix, features)  # measured 0.34 → 0.15
