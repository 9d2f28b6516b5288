"""Spotify's own exports: the account-data history and the extended streaming history.

Account data (``StreamingHistory*.json``): ``endTime`` (UTC, minute), ``artistName``,
``trackName``, ``msPlayed`` — no track ids, so identity comes from normalised names. Podcast
files carry ``podcastName``/``episodeName`` instead. A stream under 30 s is marked ``skipped``.

Extended history (``Streaming_History_Audio_*.json``, ``endsong_*.json``, or the same columns
as CSV): ``ts``, ``ms_played``, names, ``spotify_track_uri``, episode fields, ``reason_start``,
``reason_end``, ``shuffle``, ``skipped``, ``offline``, ``platform``, ``conn_country``.
Every stream becomes a ``play`` event with ``ms_played`` and the export's own skip flag.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import polars as pl

from tastemaker.domain import SKIP_THRESHOLD_MS
from tastemaker.errors import ImportFormatError
from tastemaker.ingest.identity import artist_ids, map_unique, track_ids
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject, read_bytes
from tastemaker.ingest.records import add_reason, parse_ts, split_objects, typed_frame, unparsed

EXTENDED_FIELDS = (
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "incognito_mode",
    "user_id",
)


def load_json_array(path: Path) -> tuple[list[object] | None, Reject | None]:
    """Parse a file holding one JSON array; a file that is not one becomes a single reject."""
    try:
        data = orjson.loads(read_bytes(path))
    except (orjson.JSONDecodeError, OSError, EOFError) as exc:
        return None, Reject(str(path), None, f"file is not valid JSON: {exc}", "")
    if not isinstance(data, list):
        return None, Reject(str(path), None, "file is not a JSON array of records", str(data)[:2000])
    return data, None


def _hex_ids(prefix: str, *cols: pl.Series) -> pl.Series:
    """``prefix`` + stable hash of the joined columns (null where the first column is null)."""
    from tastemaker.ingest.identity import hash_text

    joined = pl.DataFrame(list(cols)).select(
        pl.when(pl.col(cols[0].name).is_not_null()).then(pl.concat_str(pl.all().fill_null(""), separator="\x1f"))
    ).to_series()
    return map_unique(joined, lambda s: f"{prefix}{hash_text(s) & 0xFFFFFFFFFFFFFFFF:016x}", pl.String())


def _catalog(events: pl.DataFrame, album: pl.Series | None = None, uri: pl.Series | None = None) -> dict[str, pl.DataFrame]:
    """The tracks, artists, shows and episodes that a frame of mapped events names."""
    tracks = events.select(
        "item_id",
        pl.col("_track").alias("name"),
        "artist_id",
        pl.col("_artist").alias("artist_name"),
        (album if album is not None else pl.lit(None, dtype=pl.String)).alias("album_name"),
        (uri if uri is not None else pl.lit(None, dtype=pl.String)).alias("uri"),
        "item_kind",
    ).filter((pl.col("item_kind") == "track") & pl.col("item_id").is_not_null())
    tracks = tracks.rename({"item_id": "track_id"}).drop("item_kind").unique(maintain_order=True)
    artists = (
        events.select("artist_id", pl.col("_artist").alias("name"))
        .filter(pl.col("artist_id").is_not_null())
        .unique(maintain_order=True)
    )
    out = {"tracks": tracks, "artists": artists}
    if "_show" in events.columns:
        eps = events.filter(pl.col("item_kind") == "episode")
        if eps.height:
            out["episodes"] = eps.select(
                pl.col("item_id").alias("episode_id"), pl.col("_show_id").alias("show_id"), pl.col("_track").alias("name")
            ).unique(maintain_order=True)
            out["shows"] = eps.select(pl.col("_show_id").alias("show_id"), pl.col("_show").alias("name")).unique(
                maintain_order=True
            )
    return out


def read_account(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one ``StreamingHistory*.json`` file of Spotify's account-data export."""
    records, bad = load_json_array(path)
    if records is None:
        yield ReadBatch(rejects=[bad] if bad else [])
        return
    objects, lines, rejects = split_objects(records, str(path))
    fields = {k: pl.String() for k in ("endTime", "artistName", "trackName", "podcastName", "episodeName")}
    frame = typed_frame(objects, lines, {**fields, "msPlayed": pl.Int64()}, required=("endTime", "msPlayed"))
    is_episode = pl.col("podcastName").is_not_null() & pl.col("artistName").is_null()
    frame = frame.with_columns(
        parse_ts(pl.col("endTime"), "%Y-%m-%d %H:%M").alias("ts"),
        pl.when(is_episode).then(pl.col("podcastName")).otherwise(pl.col("artistName")).alias("_artist"),
        pl.when(is_episode).then(pl.col("episodeName")).otherwise(pl.col("trackName")).alias("_track"),
        pl.when(is_episode).then(pl.lit("episode")).otherwise(pl.lit("track")).alias("item_kind"),
    )
    frame = frame.with_columns(add_reason(unparsed("endTime", "ts"), "endTime is not 'YYYY-MM-DD HH:MM'"))
    frame = frame.with_columns(
        add_reason(pl.col("_artist").is_null() | pl.col("_track").is_null(), "missing artistName/trackName")
    )
    show_ids = _hex_ids("sh:", frame["_artist"])
    episode_ids = _hex_ids("ep:", frame["_artist"], frame["_track"])
    frame = frame.with_columns(
        pl.when(pl.col("item_kind") == "episode").then(episode_ids).otherwise(track_ids(frame["_artist"], frame["_track"])).alias("item_id"),
        pl.when(pl.col("item_kind") == "track").then(artist_ids(frame["_artist"])).alias("artist_id"),
        pl.when(pl.col("item_kind") == "episode").then(show_ids).alias("_show_id"),
        pl.col("_artist").alias("_show"),
    )
    events = frame.select(
        pl.lit(options.user).alias("user_id"),
        "ts",
        pl.lit("play").alias("type"),
        "item_id",
        "item_kind",
        "artist_id",
        pl.col("msPlayed").alias("ms_played"),
        (pl.col("msPlayed") < SKIP_THRESHOLD_MS).alias("skipped"),
        "_line",
        "_reject",
    )
    catalog = _catalog(frame.filter(pl.col("_reject").is_null()))
    yield ReadBatch(primary={"events": events}, derived=catalog, rejects=rejects)


def _extended_events(raw: pl.DataFrame, options: ReadOptions, file: str) -> ReadBatch:
    """Map string columns of the extended export to events plus the catalog they name."""
    if "user_id" in raw.columns and raw["user_id"].null_count() < raw.height:
        user = pl.col("user_id")
        if options.user_prefix:
            user = pl.lit(options.user_prefix) + user
    elif options.user is not None:
        user = pl.lit(options.user)
    else:
        raise ImportFormatError(f"{file}: extended exports carry no user id: pass --user ID")
    for col in EXTENDED_FIELDS:
        if col not in raw.columns:
            raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    raw = raw.with_columns(pl.col(c).replace("", None) for c in EXTENDED_FIELDS)
    is_track = pl.col("master_metadata_track_name").is_not_null() | pl.col("spotify_track_uri").is_not_null()
    is_episode = ~is_track & (pl.col("episode_name").is_not_null() | pl.col("spotify_episode_uri").is_not_null())
    is_book = ~is_track & ~is_episode & pl.col("audiobook_uri").is_not_null()

    def flag(col: str) -> pl.Expr:
        return pl.col(col).str.to_lowercase().replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)

    frame = raw.with_columns(
        parse_ts(pl.col("ts")).alias("_ts"),
        pl.col("ms_played").cast(pl.Float64, strict=False).cast(pl.Int64, strict=False).alias("_ms"),
        pl.when(is_track).then(pl.lit("track")).when(is_episode).then(pl.lit("episode"))
        .when(is_book).then(pl.lit("audiobook")).alias("item_kind"),
        pl.when(is_episode).then(pl.col("episode_show_name")).otherwise(pl.col("master_metadata_album_artist_name")).alias("_artist"),
        pl.when(is_episode).then(pl.col("episode_name")).when(is_book).then(pl.col("audiobook_title"))
        .otherwise(pl.col("master_metadata_track_name")).alias("_track"),
    )
    if "_line" not in frame.columns:
        frame = frame.with_row_index("_line", offset=1)
    if "_reject" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("_reject"))
    frame = frame.with_columns(add_reason(unparsed("ts", "_ts") | pl.col("ts").is_null(), "ts is missing or not ISO-8601"))
    frame = frame.with_columns(add_reason(unparsed("ms_played", "_ms") | pl.col("ms_played").is_null(), "ms_played is missing or not a number"))
    frame = frame.with_columns(add_reason(pl.col("item_kind").is_null(), "no track, episode or audiobook in record"))
    named = track_ids(frame["_artist"], frame["_track"])
    by_uri = _hex_ids("tr:u", frame["spotify_track_uri"])
    frame = frame.with_columns(
        pl.when(pl.col("item_kind") == "track").then(pl.coalesce(named, by_uri))
        .when(pl.col("item_kind") == "episode").then(pl.coalesce(_hex_ids("ep:", frame["_artist"], frame["_track"]), _hex_ids("ep:u", frame["spotify_episode_uri"])))
        .when(pl.col("item_kind") == "audiobook").then(_hex_ids("ab:", frame["audiobook_uri"]))
        .alias("item_id"),
        pl.when(pl.col("item_kind") == "track").then(artist_ids(frame["_artist"])).alias("artist_id"),
        _hex_ids("sh:", frame["episode_show_name"]).alias("_show_id"),
        pl.col("episode_show_name").alias("_show"),
    )
    events = frame.select(
        user.alias("user_id"),
        pl.col("_ts").alias("ts"),
        pl.lit("play").alias("type"),
        "item_id",
        "item_kind",
        "artist_id",
        pl.col("_ms").alias("ms_played"),
        flag("skipped").alias("skipped"),
        pl.col("platform"),
        pl.col("conn_country").alias("country"),
        flag("shuffle").alias("shuffle"),
        "reason_start",
        "reason_end",
        flag("offline").alias("offline"),
        "_line",
        "_reject",
    )
    ok = frame.filter(pl.col("_reject").is_null())
    catalog = _catalog(ok, ok["master_metadata_album_album_name"], ok["spotify_track_uri"])
    return ReadBatch(primary={"events": events}, derived=catalog)


def read_extended(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one file of Spotify's extended streaming history (JSON array or CSV)."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".csv"):
        try:
            raw = pl.read_csv(read_bytes(path), infer_schema=False, truncate_ragged_lines=False)
        except pl.exceptions.PolarsError as exc:
            yield ReadBatch(rejects=[Reject(str(path), None, f"file is not valid CSV: {exc}", "")])
            return
        yield _extended_events(raw, options, str(path))
        return
    records, bad = load_json_array(path)
    if records is None:
        yield ReadBatch(rejects=[bad] if bad else [])
        return
    objects, lines, rejects = split_objects(records, str(path))
    raw = typed_frame(objects, lines, {k: pl.String() for k in EXTENDED_FIELDS})
    batch = _extended_events(raw, options, str(path))
    batch.rejects.extend(rejects)
    yield batch
