"""Point-in-time features: training and online paths agree, and nothing after the moment leaks in."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from tastemaker.features.pointintime import FEATURES, online_features, training_features
from tastemaker.simulate.config import WorldConfig
from tastemaker.simulate.world import World
from tastemaker.store.tables import conform


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    world = World(WorldConfig(seed=11, n_users=80, n_tracks=600, days=30, events_per_user=120))
    raw = pl.DataFrame(pa.concat_tables(world.generate_events())).filter(pl.col("item_kind") == "track")
    return conform("events", raw.with_columns(pl.int_range(pl.len()).alias("row_id")))


def _rows(events: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """Real (user, track, artist) triples asked about at random moments, some of them exactly at an event."""
    rng = np.random.default_rng(seed)
    picked = events.select("user_id", "item_id", "artist_id", "ts").sample(n, seed=seed)
    shift = pl.Series(rng.choice([0, 1, -1, 86_400 * 3], size=n) * 1000).cast(pl.Duration("ms"))
    return picked.with_columns(pl.col("ts") + shift)


def test_training_and_online_features_agree_for_the_same_user_track_and_moment(events: pl.DataFrame) -> None:
    rows = _rows(events, 60, seed=1)
    offline = training_features(events, rows)
    nonzero = 0
    for row in offline.iter_rows(named=True):
        online = online_features(events, row["user_id"], row["item_id"], row["artist_id"], row["ts"])
        assert online == {f.name: row[f.name] for f in FEATURES}, row
        nonzero += sum(v > 0 for v in online.values())
    assert nonzero > 100  # the comparison is not between empty counts


def test_a_feature_at_t_uses_no_event_at_or_after_t(events: pl.DataFrame) -> None:
    rows = _rows(events, 30, seed=2)
    full = training_features(events, rows)
    for i, row in enumerate(rows.iter_rows(named=True)):
        # the whole log, or only what happened before the row's moment: the row's features cannot tell
        past = events.filter(pl.col("ts") < row["ts"])
        assert training_features(past, rows.slice(i, 1)).equals(full.slice(i, 1)), row
    # and the log after the moment is not empty: later rows see more than earlier ones could
    at_events = events.join(rows, on=["user_id", "item_id", "ts"]).height
    assert at_events > 0  # some rows sit exactly on one of their own plays, which must not count
    later = training_features(events, rows.with_columns(pl.col("ts") + timedelta(days=1)))
    assert (later["user_plays_all"] >= full["user_plays_all"]).all()
    assert (later["user_plays_all"] > full["user_plays_all"]).any()
