"""Radio on the Spotify extended streaming sample: a skip changes what plays next."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.surfaces.radio import Played, Radio

pytestmark = pytest.mark.realdata


def test_radio_after_a_skip_changes_the_next_tracks(shared_data: Path) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    streams = pl.read_csv(shared_data / "spotify-extended-streaming-history-sample" / "events.csv.gz",
                          infer_schema_length=0).filter(pl.col("spotify_track_uri").is_not_null())
    plays = streams.filter(pl.col("ms_played").cast(pl.Int64) >= 30_000)
    pairs = (plays.group_by("user_id", "spotify_track_uri").agg(pl.len().cast(pl.Float64).alias("weight"))
             .rename({"spotify_track_uri": "item_id"}))
    model = create("als", factors=32, regularization=1.0, alpha=3.0, iterations=15).fit(TrainingData(pairs))
    artists = (streams.group_by("spotify_track_uri").agg(pl.col("master_metadata_album_artist_name").first())
               .rename({"spotify_track_uri": "item_id", "master_metadata_album_artist_name": "artist"}))
    aligned = pl.DataFrame({"item_id": model.items_}).join(artists, on="item_id", how="left", maintain_order="left")
    radio = Radio(model.items_, model.model.item_factors_, aligned["artist"].fill_null("?").to_list())
    seed = pairs.sort("weight", descending=True)["item_id"][0]  # the most replayed track of the sample
    first = radio.next_tracks(seed, [], k=10)
    assert first.height == 10 and seed not in first["item_id"].to_list()
    skipped = first["item_id"][0]
    after_skip = radio.next_tracks(seed, [Played(skipped, skipped=True)], k=10)
    after_play = radio.next_tracks(seed, [Played(skipped, skipped=False)], k=10)
    assert skipped not in after_skip["item_id"].to_list()
    # the queue after a skip differs from the one after the same track played through
    assert after_skip["item_id"].to_list() != after_play["item_id"].to_list()
    overlap = len(set(after_skip["item_id"]) & set(first["item_id"][1:]))
    assert overlap < 9  # not merely the old queue moved up one place
    assert "skipped" in after_skip["reason"][0]
