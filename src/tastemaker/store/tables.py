"""The stored tables and their column types: one explicit schema per table.

Every table has ``row_id`` (a stable 64-bit id; for events it is the event id) used to drop
re-sent rows. Entity tables (tracks, artists, ...) are upserted by ``key``: the latest non-null
value of each column wins, so one source may add audio features to a track another source named.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

TS = pl.Datetime("ms", "UTC")


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A stored table: its columns, and for entity tables the key column."""

    name: str
    schema: dict[str, pl.DataType]
    key: str | None = None  # None: an append-only log (events, edges)


def _spec(table_name: str, key_column: str | None, /, **columns: pl.DataType) -> TableSpec:
    return TableSpec(table_name, {"row_id": pl.Int64(), **columns}, key_column)


EVENTS = _spec(
    "events",
    None,
    user_id=pl.String(),
    ts=TS,
    type=pl.String(),
    item_id=pl.String(),
    item_kind=pl.String(),
    artist_id=pl.String(),
    ms_played=pl.Int64(),
    duration_ms=pl.Int64(),
    count=pl.Int32(),
    value=pl.Float64(),
    skipped=pl.Boolean(),
    position=pl.Int32(),
    surface=pl.String(),
    session_id=pl.String(),
    platform=pl.String(),
    country=pl.String(),
    shuffle=pl.Boolean(),
    reason_start=pl.String(),
    reason_end=pl.String(),
    offline=pl.Boolean(),
    playlist_id=pl.String(),
    tag=pl.String(),
    source=pl.String(),
    source_file=pl.String(),
    ingested_at=TS,
    propensity=pl.Float64(),
    variant=pl.String(),
)

TRACKS = _spec(
    "tracks",
    "track_id",
    track_id=pl.String(),
    name=pl.String(),
    artist_id=pl.String(),
    artist_name=pl.String(),
    album_id=pl.String(),
    album_name=pl.String(),
    duration_ms=pl.Int64(),
    release_date=pl.Date(),
    explicit=pl.Boolean(),
    genres=pl.List(pl.String()),
    uri=pl.String(),
    isrc=pl.String(),
    mbid=pl.String(),
    # decided by tastemaker.ingest.kinds (music, podcast, audiobook, unknown) and the rule that decided it;
    # older stores read them as null: not yet decided
    content_kind=pl.String(),
    content_kind_rule=pl.String(),
)

ARTISTS = _spec(
    "artists",
    "artist_id",
    artist_id=pl.String(),
    name=pl.String(),
    uri=pl.String(),
    mbid=pl.String(),
    url=pl.String(),
    genres=pl.List(pl.String()),
)

USERS = _spec(
    "users",
    "user_id",
    user_id=pl.String(),
    country=pl.String(),
    language=pl.String(),
    signup_date=pl.Date(),
    gender=pl.String(),
    age=pl.Int32(),
    onboarding_artists=pl.List(pl.String()),
)

AUDIO_FEATURES = _spec(
    "audio_features",
    "track_id",
    track_id=pl.String(),
    uri=pl.String(),
    danceability=pl.Float64(),
    energy=pl.Float64(),
    key=pl.Int32(),
    loudness=pl.Float64(),
    mode=pl.Int32(),
    speechiness=pl.Float64(),
    acousticness=pl.Float64(),
    instrumentalness=pl.Float64(),
    liveness=pl.Float64(),
    valence=pl.Float64(),
    tempo=pl.Float64(),
    time_signature=pl.Int32(),
    hit=pl.Boolean(),
)

SHOWS = _spec(
    "shows",
    "show_id",
    show_id=pl.String(),
    name=pl.String(),
    publisher=pl.String(),
    description=pl.String(),
    category=pl.String(),
    parent_category=pl.String(),
    episode_count=pl.Int32(),
    uri=pl.String(),
    cover_url=pl.String(),
)

EPISODES = _spec(
    "episodes",
    "episode_id",
    episode_id=pl.String(),
    show_id=pl.String(),
    name=pl.String(),
    description=pl.String(),
    uri=pl.String(),
    duration_ms=pl.Int64(),
    release_date=pl.Date(),
)

PLAYLISTS = _spec(
    "playlists",
    "playlist_id",
    playlist_id=pl.String(),
    name=pl.String(),
    collaborative=pl.Boolean(),
    modified_at=TS,
    num_followers=pl.Int32(),
)

EDGES = _spec("edges", None, src=pl.String(), dst=pl.String(), kind=pl.String(), source=pl.String())

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (EVENTS, TRACKS, ARTISTS, USERS, AUDIO_FEATURES, SHOWS, EPISODES, PLAYLISTS, EDGES)
}


def spec(name: str) -> TableSpec:
    """The spec of table ``name``; raises ValueError naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None


def conform(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Cast ``frame`` to table ``name``'s schema: missing columns become nulls, unknown ones are refused."""
    table = spec(name)
    if not frame.columns:  # (a select of literals alone would make one row of nulls)
        return pl.DataFrame(schema=table.schema)
    unknown = set(frame.columns) - set(table.schema)
    if unknown:
        raise ValueError(f"table {name!r} has no columns {sorted(unknown)}; its columns: {list(table.schema)}")
    return frame.select(
        [
            pl.col(c).cast(t, strict=False) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in table.schema.items()
        ]
    )
