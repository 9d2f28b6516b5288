"""Counting features defined once, computed two ways: point-in-time for training, online for a request.

A feature counts plays or skips of a key (the user, the track, the artist, the user × track or
the user × artist pair) over a trailing window, strictly before the moment it is asked for: a
training row labelled at ``ts`` sees only events before ``ts``, and a request at ``now`` sees
only events before ``now``. :func:`training_features` does it for many rows at once with
as-of joins on running counts; :func:`online_features` filters and sums the events directly.
Both read the same :data:`FEATURES` table, and a parity test holds them to the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from tastemaker.features.interactions import was_skipped

KEYS = {"user": ("user_id",), "track": ("item_id",), "artist": ("artist_id",),
        "user_track": ("user_id", "item_id"), "user_artist": ("user_id", "artist_id")}


@dataclass(frozen=True, slots=True)
class Feature:
    """``what`` (``plays`` or ``skips``) of ``key`` in the ``days`` before the moment (None: all time)."""

    key: str
    what: str
    days: float | None = None

    @property
    def name(self) -> str:
        return f"{self.key}_{self.what}_{'all' if self.days is None else f'{self.days:g}d'}"


FEATURES = (
    Feature("user", "plays", 30), Feature("user", "skips", 30), Feature("user", "plays"),
    Feature("track", "plays", 7), Feature("track", "skips", 7), Feature("track", "plays"),
    Feature("artist", "plays", 7), Feature("artist", "plays"),
    Feature("user_track", "plays"), Feature("user_track", "skips"),
    Feature("user_artist", "plays", 30), Feature("user_artist", "plays"),
)


def _signals(events: pl.DataFrame) -> pl.DataFrame:
    """Stream events as ``user_id, item_id, artist_id, ts, plays, skips`` (a skip: flagged, or under 30 s)."""
    skipped = was_skipped()
    return (events.filter(pl.col("type") == "play")
            .select("user_id", "item_id", "artist_id", "ts", (~skipped).cast(pl.Int64).alias("plays"),
                    skipped.cast(pl.Int64).alias("skips")))


def training_features(events: pl.DataFrame, rows: pl.DataFrame,
                      features: tuple[Feature, ...] = FEATURES) -> pl.DataFrame:
    """``rows`` (``user_id, item_id, artist_id, ts``) with one column per feature, each from events before ``ts``."""
    signals = _signals(events)
    out = rows.with_row_index("_row")
    for key in dict.fromkeys(f.key for f in features):
        cols = list(KEYS[key])
        running = (signals.group_by([*cols, "ts"]).agg(pl.col("plays").sum(), pl.col("skips").sum())
                   .sort("ts").with_columns(pl.col("plays").cum_sum().over(cols).alias("cum_plays"),
                                            pl.col("skips").cum_sum().over(cols).alias("cum_skips"))
                   .select(*cols, "ts", "cum_plays", "cum_skips").sort("ts"))
        for window in dict.fromkeys(f.days for f in features if f.key == key):
            probe = out.select("_row", *cols, "ts")
            before = _asof(probe, running, cols, pl.col("ts"))
            if window is not None:
                start = _asof(probe, running, cols, pl.col("ts") - timedelta(days=window))
                before = before.join(start, on="_row", suffix="_start").select(
                    "_row", pl.col("cum_plays") - pl.col("cum_plays_start"),
                    pl.col("cum_skips") - pl.col("cum_skips_start"))
            for what in ("plays", "skips"):
                feature = Feature(key, what, window)
                if feature in features:
                    out = out.join(before.select("_row", pl.col(f"cum_{what}").alias(feature.name)), on="_row")
    return out.sort("_row").select(*rows.columns, *(f.name for f in features))


def _asof(probe: pl.DataFrame, running: pl.DataFrame, cols: list[str], at: pl.Expr) -> pl.DataFrame:
    """Running counts of each probe row's key as they stood strictly before ``at``."""
    keyed = probe.with_columns(at.alias("_at")).sort("_at")
    joined = keyed.join_asof(running, left_on="_at", right_on="ts", by=cols, strategy="backward",
                             allow_exact_matches=False, check_sortedness=False)
    return joined.select("_row", pl.col("cum_plays").fill_null(0), pl.col("cum_skips").fill_null(0))


def online_features(events: pl.DataFrame, user_id: str, item_id: str, artist_id: str | None, now: datetime,
                    features: tuple[Feature, ...] = FEATURES) -> dict[str, int]:
    """The same features for one (user, track) at ``now``, from the events (only those before ``now`` count)."""
    signals = _signals(events).filter(pl.col("ts") < now)
    wanted = {"user_id": user_id, "item_id": item_id, "artist_id": artist_id}
    values = {}
    for f in features:
        match = pl.all_horizontal(pl.col(c) == wanted[c] for c in KEYS[f.key])
        if f.days is not None:
            match &= pl.col("ts") >= now - timedelta(days=f.days)
        values[f.name] = int(signals.filter(match)[f.what].sum())
    return values
