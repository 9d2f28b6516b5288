"""Spotify's own exports: the account-data history and the extended streaming history.

Account data (``StreamingHistory*.json``): ``endTime`` (UTC, minute), ``artistName``,
``trackName``, ``msPlayed`` — no track ids, so identity comes from normalised names. Podcast
files carry ``podcastName``/``episodeName`` instead. A stream under 30 s is marked ``skipped``.

Extended history (``Streaming_History_Audio_*.json``, ``endsong_*.json``, or the same columns
as CSV): ``ts``, ``ms_played``, names, ``spotify_track_uri``, episode fields, ``reason_start``,
``reason_end``, ``shuffle``, ``skipped``, ``offline``, ``platform``, ``conn_country``.
Every stream becomes a ``play`` event with ``ms_played`` and the export's own skip flag.

A file of one export given to the other reader (no record has ``endTime`` and ``msPlayed``, or
``ts`` and ``ms_played``) has every record quarantined with the command that reads it
(:mod:`tastemaker.ingest.readers.sniff`), and the summary lists the file as a problem. A file cut
short keeps the records before the cut (:func:`tastemaker.ingest.records.load_json`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.domain import SKIP_THRESHOLD_MS
from tastemaker.errors import ImportFormatError
from tastemaker.ingest.delimited import read_whole_csv
from tastemaker.ingest.identity import artist_ids, map_unique, track_ids
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.sniff import fits, mismatch
from tastemaker.ingest.records import (
    add_reason,
    load_json,
    parse_ts,
    raw_records,
    split_objects,
    typed_frame,
    unparsed,
)

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


ACCOUNT_NEEDS = ("endTime", "msPlayed")
EXTENDED_NEEDS = ("ts", "ms_played")


def load_records(
    path: Path, needs: tuple[str, ...], fmt: str
) -> tuple[list[dict[str, Any]], list[int], ReadBatch, str | None]:
    """The objects of a file holding one JSON array (as far as it could be read) with their record
    numbers; a batch of the records that are not objects and of what could not be read; and, when no
    object has all of ``needs``, the reason every record is rejected (naming the format they fit)."""
    loaded = load_json(path)
    batch = ReadBatch(rejects=loaded.rejects, problems=loaded.problems)
    records = loaded.document
    if records is not None and not isinstance(records, list):
        batch.rejects.append(Reject(str(path), None, "file is not a JSON array of records", str(records)[:2000]))
        records = None
    objects, lines, rejects = split_objects(records or [], str(path), loaded.lossy)
    batch.rejects.extend(rejects)
    wrong = None
    if objects and not fits(objects, needs):
        wrong = mismatch(fmt, ", ".join(needs), {k for o in objects[:1000] for k in o})
        batch.problems.append(wrong)
    return objects, lines, batch, wrong


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
    objects, lines, read, wrong = load_records(path, ACCOUNT_NEEDS, "spotify-account")
    if not objects:
        yield read
        return
    fields = {k: pl.String() for k in ("endTime", "artistName", "trackName", "podcastName", "episodeName")}
    frame = typed_frame(objects, lines, {**fields, "msPlayed": pl.Int64()}, required=ACCOUNT_NEEDS)
    if wrong is not None:
        frame = frame.with_columns(pl.lit(wrong).alias("_reject"), raw_records(objects))
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
        *(["_record"] if wrong is not None else []),
    )
    catalog = _catalog(frame.filter(pl.col("_reject").is_null()))
    yield ReadBatch(primary={"events": events}, derived=catalog, rejects=read.rejects, problems=read.problems)


def _extended_events(raw: pl.DataFrame, options: ReadOptions, file: str, wrong: str | None) -> ReadBatch:
    """Map string columns of the extended export to events plus the catalog they name.

    ``wrong``: the records are not this export's; each is rejected with this reason (and no user is needed).
    """
    if "user_id" in raw.columns and raw["user_id"].null_count() < raw.height:
        user = pl.col("user_id")
        if options.user_prefix:
            user = pl.lit(options.user_prefix) + user
    elif options.user is not None or wrong is not None:
        user = pl.lit(options.user, dtype=pl.String)
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
    if wrong is not None:
        frame = frame.with_columns(pl.lit(wrong).alias("_reject"))
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
        *(["_record"] if "_record" in frame.columns else []),
    )
    ok = frame.filter(pl.col("_reject").is_null())
    catalog = _catalog(ok, ok["master_metadata_album_album_name"], ok["spotify_track_uri"])
    return ReadBatch(primary={"events": events}, derived=catalog)


def read_extended(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one file of Spotify's extended streaming history (JSON array or CSV)."""
    if path.name.removesuffix(".gz").endswith(".csv"):
        raw, read = read_whole_csv(path)
        if raw is None:
            yield read
            return
        columns = [c for c in raw.columns if c not in ("_line", "_reject")]
        wrong = None
        if raw.height and not fits([columns], EXTENDED_NEEDS):
            wrong = mismatch("spotify-extended", ", ".join(EXTENDED_NEEDS), columns)
            read.problems.append(wrong)
        raw = raw.select(*(c for c in columns if c in EXTENDED_FIELDS), "_line", "_reject")
    else:
        objects, lines, read, wrong = load_records(path, EXTENDED_NEEDS, "spotify-extended")
        if not objects:
            yield read
            return
        raw = typed_frame(objects, lines, {k: pl.String() for k in EXTENDED_FIELDS})
        if wrong is not None:
            raw = raw.with_columns(raw_records(objects))
    batch = _extended_events(raw, options, str(path), wrong)
    batch.rejects.extend(read.rejects)
    batch.problems.extend(read.problems)
    yield batch
