"""Batch Discover Weekly on a generated world: the same rules as one listener's, for everyone."""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.features.interactions import interactions
from tastemaker.simulate.config import WorldConfig
from tastemaker.simulate.tables import tracks_table
from tastemaker.simulate.world import World
from tastemaker.store.tables import conform
from tastemaker.surfaces.discover_weekly import discover_weekly, discover_weekly_batch, write_playlists


def test_batch_lists_hold_no_heard_track_two_per_artist_and_match_the_single_listener_list(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tracks, heard, model = _world(WorldConfig(seed=5, n_users=150, n_tracks=1500, days=10, events_per_user=60), 16)
    users = heard["user_id"].unique().sort().to_list()
    batch = discover_weekly_batch(model, users, heard, tracks, size=30, chunk=40)
    assert batch.join(heard, left_on=["user_id", "track_id"], right_on=["user_id", "item_id"]).height == 0
    per_artist = batch.join(tracks.select("track_id", "artist_id"), on="track_id").group_by("user_id", "artist_id").len()
    assert per_artist["len"].max() <= 2
    assert batch.group_by("user_id").len()["len"].min() == 30
    paths = write_playlists(batch, tmp_path, "Discover Weekly")
    docs = [json.loads(line) for line in paths["jspf"].read_text().splitlines()]
    assert len(docs) == len(users) and all(len(d["playlist"]["track"]) == 30 for d in docs)
    assert pl.read_parquet(paths["parquet"]).height == batch.height


def test_a_model_ranking_whole_artists_together_still_fills_the_playlist() -> None:
    # five artists of 100 tracks; the listener plays two tracks of each, so every unheard track of
    # an artist ties and the artist model's first pool (10 × size) holds one or two artists only
    artists = [f"a{a}" for a in range(5)]
    tracks = pl.DataFrame({"track_id": [f"{a}-t{t}" for a in artists for t in range(100)],
                           "name": [f"t{t}" for _ in artists for t in range(100)],
                           "artist_id": [a for a in artists for _ in range(100)],
                           "artist_name": [a.upper() for a in artists for _ in range(100)]})
    plays = pl.DataFrame({"user_id": ["u"] * 10 + ["v"] * 500,
                          "item_id": [f"{a}-t{t}" for a in artists for t in range(2)] + tracks["track_id"].to_list(),
                          "artist_id": [a for a in artists for _ in range(2)] + tracks["artist_id"].to_list(),
                          "weight": [float(5 - int(a[1])) for a in artists for _ in range(2)] + [1.0] * 500})
    model = create("artist", similar_weight=0.0).fit(TrainingData(plays))
    playlist = discover_weekly(model, "u", plays.select("user_id", "item_id"), tracks, size=8)
    assert playlist.height == 8
    assert playlist["artist_name"].value_counts()["count"].max() == 2


def test_with_a_history_every_track_says_which_played_track_it_comes_from() -> None:
    config = WorldConfig(seed=6, n_users=80, n_tracks=1000, days=10, events_per_user=60)
    world = World(config)
    raw = pl.DataFrame(pa.concat_tables(world.generate_events())).filter(pl.col("item_kind") == "track")
    events = conform("events", raw.with_columns(pl.int_range(pl.len()).alias("row_id")))
    tracks = pl.DataFrame(tracks_table(world.catalog, config.start))
    data = interactions(events.lazy())
    model = create("als", factors=16, iterations=5).fit(TrainingData(data))
    users = data["user_id"].unique().sort().to_list()
    history = data.select("user_id", "item_id", pl.col("recency").alias("weight"))
    plain = discover_weekly_batch(model, users, data.select("user_id", "item_id"), tracks)
    told = discover_weekly_batch(model, users, data.select("user_id", "item_id"), tracks, history=history)
    assert told.drop("reason", "because").equals(plain.drop("reason"))  # reasons change nothing else
    assert told["reason"].str.starts_with("because you played ").all()
    assert told.join(history, left_on=["user_id", "because"], right_on=["user_id", "item_id"]).height == told.height


def test_tracks_shown_three_times_without_a_play_go_last_and_say_so_while_once_shown_ones_stay() -> None:
    tracks, heard, model = _world(WorldConfig(seed=7, n_users=60, n_tracks=600, days=10, events_per_user=40), 8)
    user = heard["user_id"].sort()[0]
    before = discover_weekly(model, user, heard, tracks, size=10)
    tired, once = before["track_id"][0], before["track_id"][1]
    shown = pl.DataFrame({"user_id": [user, user], "item_id": [tired, once], "shown": [3, 1]})
    after = discover_weekly(model, user, heard, tracks, size=10, impressions=shown)
    assert tired not in after["track_id"].to_list()[:-1]  # shown three times, never played: last or gone
    assert once in after["track_id"].to_list()  # shown is not heard: a track shown once stays
    row = after.filter(pl.col("track_id") == once)
    assert row["shown"][0] == 1 and "shown to you once before, not played" in row["reason"][0]


def _world(config: WorldConfig, factors: int) -> tuple[pl.DataFrame, pl.DataFrame, object]:
    """A generated world's tracks, every listener's heard pairs, and ALS fit on its listening."""
    world = World(config)
    raw = pl.DataFrame(pa.concat_tables(world.generate_events())).filter(pl.col("item_kind") == "track")
    events = conform("events", raw.with_columns(pl.int_range(pl.len()).alias("row_id")))
    tracks = pl.DataFrame(tracks_table(world.catalog, config.start))
    model = create("als", factors=factors, iterations=5).fit(TrainingData(interactions(events.lazy())))
    return tracks, events.select("user_id", "item_id").unique(), model
