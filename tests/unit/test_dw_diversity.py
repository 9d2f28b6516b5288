"""Discover Weekly's artist cap: every list at least as artist-diverse as the plain top of the ranking."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.evaluation.metrics import intra_list_diversity
from tastemaker.features.interactions import interactions
from tastemaker.simulate.config import WorldConfig
from tastemaker.simulate.tables import tracks_table
from tastemaker.simulate.world import World
from tastemaker.store.tables import conform
from tastemaker.surfaces.discover_weekly import discover_weekly_batch

SIZE = 30


def _artist_diversity(recs: pl.DataFrame, artists: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """Per listener: (artist ILD, distinct artists per track) of the list, as the metrics module defines."""
    out = {}
    for (user,), mine in recs.group_by("user_id"):
        got = intra_list_diversity(mine, SIZE, artists=artists)
        out[str(user)] = (got[f"artist_ild@{SIZE}"], got[f"artist_share@{SIZE}"])
    return out


def test_discover_weekly_is_never_less_artist_diverse_than_the_plain_top_30_and_more_on_average() -> None:
    config = WorldConfig(seed=3, n_users=150, n_tracks=1500, days=10, events_per_user=60)
    world = World(config)
    raw = pl.DataFrame(pa.concat_tables(world.generate_events())).filter(pl.col("item_kind") == "track")
    events = conform("events", raw.with_columns(pl.int_range(pl.len()).alias("row_id")))
    tracks = pl.DataFrame(tracks_table(world.catalog, config.start))
    heard = events.select("user_id", "item_id").unique()
    model = create("als", factors=16, iterations=5).fit(TrainingData(interactions(events.lazy())))
    users = heard["user_id"].unique().sort().to_list()
    weekly = discover_weekly_batch(model, users, heard, tracks, size=SIZE).select(
        "user_id", pl.col("track_id").alias("item_id"), pl.col("position").alias("rank"))
    plain = model.recommend(users, k=SIZE, exclude=heard).select("user_id", "item_id", "rank")
    for lists in (weekly, plain):
        assert lists.group_by("user_id").len()["len"].min() == SIZE
    artists = tracks.select(pl.col("track_id").alias("item_id"), pl.col("artist_id").alias("artist"))
    dw, top = _artist_diversity(weekly, artists), _artist_diversity(plain, artists)
    assert sorted(dw) == sorted(top) == sorted(users)
    for user in users:
        assert dw[user][0] >= top[user][0] and dw[user][1] >= top[user][1], (user, dw[user], top[user])
    for measure in (0, 1):
        assert sum(v[measure] for v in dw.values()) > sum(v[measure] for v in top.values())
