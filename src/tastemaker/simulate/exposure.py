"""What listeners did with served lists, as two tables: the events a client would post, and the exposure log.

The events are what the app would send to ``POST /v1/events`` after a listener opened the list:
one ``play`` per started track (``ms_played``, ``duration_ms``, ``skipped``, ``position``,
``surface``, ``session_id``) and a ``save`` or ``ban`` stamped when the play ended. The exposure
log keeps one row per *shown* item (played or not) with the listener's arm: what the
experiment's analysis reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import polars as pl

from tastemaker.simulate.listeners import COUNTRIES, PLATFORMS
from tastemaker.simulate.sessions import DAY_MS
from tastemaker.simulate.world import Outcomes, World

#: when a listener opens the day's list: in [EARLIEST, LATEST) hours of the day (UTC), done by midnight
EARLIEST_HOUR, LATEST_HOUR = 7, 22
#: pause between two tracks of a list, milliseconds
GAP_MS = 1_000

EXPOSURE_SCHEMA = {
    "day": pl.Int32, "user_id": pl.String, "arm": pl.String, "level": pl.String, "position": pl.Int32,
    "item_id": pl.String, "artist_id": pl.String, "played": pl.Boolean, "skipped": pl.Boolean,
    "saved": pl.Boolean, "banned": pl.Boolean, "ms_played": pl.Int64,
}


def day_start_ms(world: World, day: int) -> int:
    """Unix milliseconds of UTC midnight of ``day`` (counted from the world's start).

    Example:
        >>> from tastemaker.simulate import WorldConfig
        >>> day_start_ms(World(WorldConfig(n_users=5, n_tracks=50)), 1) - day_start_ms(
        ...     World(WorldConfig(n_users=5, n_tracks=50)), 0)
        86400000
    """
    start = datetime.combine(world.config.start, datetime.min.time(), UTC)
    return int(start.timestamp() * 1000) + day * DAY_MS


def exposure_log(world: World, day: int, user_ids: Sequence[str], arms: Sequence[str], levels: Sequence[str],
                 lists: np.ndarray, out: Outcomes) -> pl.DataFrame:
    """One row per shown item of ``lists`` (``(n, k)`` track ids, ``None`` pads dropped).

    Example:
        >>> log = exposure_log(world, 60, users, arms, levels, lists, outcomes)  # doctest: +SKIP
        >>> log.columns[:3]  # doctest: +SKIP
        ['day', 'user_id', 'arm']
    """
    n, k = lists.shape
    shown = lists != None  # noqa: E711  (element-wise on an object array)
    tracks = world.track_index(np.where(shown, lists, "")).reshape(n, k)
    artists = world.catalog.artist_ids.take(world.catalog.track_artist[np.maximum(tracks, 0)].ravel())
    rows = np.repeat(np.arange(n), k)
    frame = pl.DataFrame({
        "day": np.full(n * k, day, np.int32),
        "user_id": np.asarray(user_ids, dtype=object)[rows],
        "arm": np.asarray(arms, dtype=object)[rows],
        "level": np.asarray(levels, dtype=object)[rows],
        "position": np.tile(np.arange(1, k + 1, dtype=np.int32), n),
        "item_id": lists.ravel(),
        "artist_id": artists.to_numpy(zero_copy_only=False),
        "played": out.played.ravel(), "skipped": out.skipped.ravel(), "saved": out.saved.ravel(),
        "banned": out.banned.ravel(), "ms_played": out.ms_played.ravel(),
    }, schema=EXPOSURE_SCHEMA)
    return frame.filter(pl.Series(shown.ravel()))


def response_events(world: World, day: int, exposures: pl.DataFrame, surface: str,
                    rng: np.random.Generator) -> pl.DataFrame:
    """The events table rows of what listeners played from their lists on ``day`` (see the module doc).

    ``ts`` is Unix milliseconds: each listener opens the list at a random time between
    :data:`EARLIEST_HOUR` and :data:`LATEST_HOUR` (earlier when the session would run past
    midnight) and plays its tracks one after the other, so a day's listening stays in that day.

    Example:
        >>> response_events(world, 60, log, "for-you", np.random.default_rng(0)).columns[:4]  # doctest: +SKIP
        ['user_id', 'ts', 'type', 'item_id']
    """
    heard = exposures.filter("played")
    lengths = heard.group_by("user_id", maintain_order=True).agg((pl.col("ms_played") + GAP_MS).sum())
    earliest, latest = EARLIEST_HOUR * 3_600_000, LATEST_HOUR * 3_600_000
    room = np.maximum(np.minimum(latest, DAY_MS - 1 - lengths["ms_played"].to_numpy()) - earliest, 0)
    opens = earliest + (rng.random(lengths.height) * room).astype(np.int64)
    starts = pl.DataFrame({"user_id": lengths["user_id"], "_open": day_start_ms(world, day) + opens})
    duration = world.catalog.duration_ms
    who = world.user_index(heard["user_id"].to_numpy())  # the app sends its listener's country and device
    played = (
        heard
        .join(starts, on="user_id", how="left", maintain_order="left")
        .with_columns(pl.Series("duration_ms", duration[world.track_index(heard["item_id"].to_numpy())]),
                      pl.Series("country", np.array([c[0] for c in COUNTRIES], dtype=object)[
                          world.listeners.country[who]], dtype=pl.String),
                      pl.Series("platform", np.array(PLATFORMS, dtype=object)[world.listeners.platform[who]],
                                dtype=pl.String))
        .with_columns((pl.col("ms_played") + GAP_MS).cum_sum().over("user_id").alias("_end"))
        .with_columns((pl.col("_open") + pl.col("_end") - pl.col("ms_played") - GAP_MS).alias("ts"))
    )
    common = [pl.col("user_id"), pl.col("item_id"), pl.lit("track").alias("item_kind"), pl.col("artist_id"),
              pl.lit(surface).alias("surface"), pl.col("country"), pl.col("platform"),
              pl.format("tm:sim:{}-{}", pl.lit(day), pl.col("user_id")).alias("session_id")]
    plays = played.select(*common, pl.col("ts"), pl.lit("play").alias("type"), pl.col("ms_played"),
                          pl.col("duration_ms"), pl.col("skipped"), pl.col("position"))
    after = pl.col("ts") + pl.col("ms_played")
    reactions = [played.filter(flag).select(*common, after.alias("ts"), pl.lit(kind).alias("type"))
                 for flag, kind in (("saved", "save"), ("banned", "ban"))]
    return pl.concat([plays, *reactions], how="diagonal_relaxed").sort("ts", "user_id", maintain_order=True)
