"""Last.fm research datasets: HetRec 2011 Last.fm-2k and Last.fm-1K.

HetRec 2011 Last.fm-2k: tab-separated files with a header (optionally ``.gz``), told apart by
their header, so renamed files still read. ``user_artists.dat`` (userID, artistID, weight) ->
``play`` events on the artist with ``count`` = weight and no time; ``artists.dat`` (id, name,
url, pictureURL) -> ``artists`` rows; ``user_taggedartists.dat`` (userID, artistID, tagID, day,
month, year) -> ``tag`` events at 00:00 UTC that day (``user_taggedartists-timestamps.dat``, ms
``timestamp``, is read when given directly but not picked from a folder: it repeats the same
assignments); ``user_friends.dat`` (userID, friendID) -> ``edges`` rows of kind ``friend``.
Artists and tags are resolved through ``artists.dat`` and ``tags.dat`` beside the file: an
artist becomes its canonical ``artist_id`` (``lfm2k-artist:<id>`` when unnamed), a tag its text
(else ``lfm2k-tag:<id>``). ``tags.dat`` has no table of its own. Those two files are latin-1 in
the original release and UTF-8 in some copies: a line is UTF-8 when valid, else latin-1.

Last.fm-1K: ``userid-timestamp-artid-artname-traid-traname.tsv`` (no header, six columns,
quotes are literal) -> ``play`` events on canonical tracks, MBIDs kept on the derived
tracks/artists; ``userid-profile.tsv`` (``#id, gender, age, country, registered``) -> users.

User ids come from the files, with ``options.user_prefix`` before each (edge ends too).
``_line`` is the physical line number (a header is line 1). A line with the wrong number of
fields is a :class:`Reject` carrying the raw line; one whose fields do not parse is a row with
``_reject`` (helpers in :mod:`tastemaker.ingest.delimited`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tastemaker.errors import ImportFormatError
from tastemaker.ingest.delimited import (
    READ_ERRORS,
    bad_whole,
    blank_to_null,
    cannot_read,
    first_line,
    header_names,
    read_guarded,
    reasons,
    split_lines,
    user_ids,
)
from tastemaker.ingest.identity import artist_ids, track_ids
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.sniff import hint
from tastemaker.ingest.records import parse_ts

HETREC_PATTERNS: tuple[str, ...] = (
    "user_artists.dat", "artists.dat", "user_taggedartists.dat", "user_friends.dat"
)  # fmt: skip
LFM1K_PATTERNS: tuple[str, ...] = ("userid-timestamp-artid-artname-traid-traname*.tsv", "userid-profile*.tsv")

PLAYS = ("userID", "artistID", "weight")
ARTISTS = ("id", "name", "url", "pictureURL")
TAGGED = ("userID", "artistID", "tagID", "day", "month", "year")
TAGGED_MS = ("userID", "artistID", "tagID", "timestamp")
FRIENDS = ("userID", "friendID")
TAGS = ("tagID", "tagValue")
SCROBBLE = ("user", "ts", "artist_mbid", "artist", "track_mbid", "track")
PROFILE = ("id", "gender", "age", "country", "registered")
UTC_MS = pl.Datetime("ms", "UTC")


# ---------------------------------------------------------------------- HetRec 2k
@dataclass(frozen=True, slots=True)
class _Lookups:
    artists: pl.DataFrame  # _lfm, artist_id, name, url
    tags: pl.DataFrame  # _tag, tag


def _load(path: Path, name: str, names: Sequence[str]) -> pl.DataFrame:
    """The well-formed rows of sibling file ``name`` (or ``name.gz``); empty when absent or unreadable."""
    empty = pl.DataFrame(schema={n: pl.String for n in names})
    for source in (path.parent / name, path.parent / f"{name}.gz"):
        if source.is_file():
            frames = []
            try:  # a file cut short: the lines before the cut
                for frame, _ in split_lines(source, names, header=True):
                    frames.append(frame.select(names))
            except READ_ERRORS:
                pass
            return pl.concat([empty, *frames]).with_columns(blank_to_null(*names))
    return empty


def _lookups(path: Path) -> _Lookups:
    raw = _load(path, "artists.dat", ARTISTS).drop_nulls(["id", "name"])
    raw = raw.unique("id", keep="first", maintain_order=True)
    ids = artist_ids(raw["name"]).alias("artist_id")
    artists = raw.select(pl.col("id").alias("_lfm"), ids, "name", "url")
    tags = _load(path, "tags.dat", TAGS).drop_nulls()
    tags = tags.unique("tagID", keep="first", maintain_order=True)
    return _Lookups(artists, tags.rename({"tagID": "_tag", "tagValue": "tag"}))


def _with_artist(frame: pl.DataFrame, lookups: _Lookups) -> pl.DataFrame:
    """Add ``artist_id`` (canonical, else ``lfm2k-artist:<id>``) for column ``artistID``."""
    known = lookups.artists.select("_lfm", "artist_id")
    frame = frame.join(known, left_on="artistID", right_on="_lfm", how="left", maintain_order="left")
    fallback = pl.lit("lfm2k-artist:") + pl.col("artistID")
    return frame.with_columns(pl.coalesce("artist_id", fallback).alias("artist_id"))


def _artist_events(frame: pl.DataFrame, prefix: str, lookups: _Lookups, *extra: pl.Expr) -> ReadBatch:
    """Events on the artist of each row (``type``/``ts``/... in ``extra``) and the artists they name."""
    events = frame.select(
        user_ids("userID", prefix).alias("user_id"),
        pl.col("artist_id").alias("item_id"),
        pl.lit("artist").alias("item_kind"),
        "artist_id",
        *extra,
        "_line",
        "_reject",
    )
    used = frame.filter(pl.col("_reject").is_null())["artistID"].unique().implode()
    artists = lookups.artists.filter(pl.col("_lfm").is_in(used)).drop("_lfm").unique(maintain_order=True)
    return ReadBatch(primary={"events": events}, derived={"artists": artists})


def _hetrec_plays(frame: pl.DataFrame, prefix: str, lookups: _Lookups) -> ReadBatch:
    frame = _with_artist(frame.with_columns(blank_to_null(*PLAYS)), lookups)
    count = pl.col("weight").cast(pl.Int64, strict=False).alias("count")
    too_large = (count >= 2**31, "weight is too large")
    frame = frame.with_columns(reasons(*(bad_whole(c) for c in PLAYS), too_large))
    play, no_ts = pl.lit("play").alias("type"), pl.lit(None, dtype=UTC_MS).alias("ts")
    return _artist_events(frame, prefix, lookups, play, no_ts, count)


def _tag_ts(columns: Sequence[str]) -> tuple[pl.Expr, str]:
    """The tag time (null when it does not parse) and the reason given when it is null."""
    if "timestamp" in columns:
        ms = pl.col("timestamp").cast(pl.Int64, strict=False)
        ts = pl.when(ms.is_between(0, 10**14)).then(pl.from_epoch(ms, time_unit="ms"))
        return ts.dt.replace_time_zone("UTC"), "timestamp is not unix milliseconds"
    day = pl.format("{}-{}-{}", "year", "month", "day").str.to_date("%Y-%m-%d", strict=False)
    return day.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"), "day/month/year is not a valid date"


def _hetrec_tags(frame: pl.DataFrame, prefix: str, lookups: _Lookups) -> ReadBatch:
    names = [c for c in frame.columns if not c.startswith("_")]
    frame = _with_artist(frame.with_columns(blank_to_null(*names)), lookups)
    frame = frame.join(lookups.tags, left_on="tagID", right_on="_tag", how="left", maintain_order="left")
    ts, why = _tag_ts(names)
    frame = frame.with_columns(ts.alias("ts"))
    frame = frame.with_columns(reasons(*(bad_whole(c) for c in names[:3]), (pl.col("ts").is_null(), why)))
    tag = pl.coalesce("tag", pl.lit("lfm2k-tag:") + pl.col("tagID")).alias("tag")
    return _artist_events(frame, prefix, lookups, pl.lit("tag").alias("type"), pl.col("ts"), tag)


def _hetrec_friends(frame: pl.DataFrame, prefix: str, lookups: _Lookups) -> ReadBatch:
    frame = frame.with_columns(blank_to_null(*FRIENDS))
    edges = frame.with_columns(reasons(*(bad_whole(c) for c in FRIENDS))).select(
        user_ids("userID", prefix).alias("src"),
        user_ids("friendID", prefix).alias("dst"),
        pl.lit("friend").alias("kind"),
        pl.lit("lastfm-hetrec").alias("source"),
        "_line",
        "_reject",
    )
    return ReadBatch(primary={"edges": edges})


def _hetrec_artists(frame: pl.DataFrame, prefix: str, lookups: _Lookups) -> ReadBatch:
    frame = frame.with_columns(blank_to_null(*ARTISTS))
    frame = frame.with_columns(reasons((pl.col("name").is_null(), "missing artist name")))
    artists = frame.select(artist_ids(frame["name"]).alias("artist_id"), "name", "url", "_line", "_reject")
    return ReadBatch(primary={"artists": artists})


_Handler = Callable[[pl.DataFrame, str, _Lookups], ReadBatch]
_HETREC: dict[tuple[str, ...], tuple[tuple[str, ...], _Handler]] = {
    tuple(n.lower() for n in names): (names, handler)
    for names, handler in (
        (PLAYS, _hetrec_plays),
        (ARTISTS, _hetrec_artists),
        (TAGGED, _hetrec_tags),
        (TAGGED_MS, _hetrec_tags),
        (FRIENDS, _hetrec_friends),
    )
}


def read_hetrec(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one file of HetRec 2011 Last.fm-2k, chosen by its header (see the module docstring)."""
    try:
        header = first_line(path)
    except READ_ERRORS as exc:
        yield cannot_read(path, exc)
        return
    key = tuple(h.strip().lower() for h in header.split("\t"))
    if key == tuple(n.lower() for n in TAGS):
        raise ImportFormatError(
            f"{path}: tags.dat only names tags; import the folder or user_taggedartists.dat, which look it up"
        )
    if key not in _HETREC:
        known = ", ".join("/".join(names) for names, _ in _HETREC.values())
        reason = f"not a HetRec Last.fm-2k file: unknown header (expected one of: {known})"
        reason += hint("lastfm-hetrec", header_names(header))
        yield ReadBatch(rejects=[Reject(str(path), None, reason, header[:2000])])
        return
    names, handler = _HETREC[key]
    if handler in (_hetrec_plays, _hetrec_tags):
        lookups = _lookups(path)
    else:
        lookups = _Lookups(pl.DataFrame(), pl.DataFrame())
    yield from read_guarded(path, names, lambda f: handler(f, options.user_prefix, lookups), header=True)


# ---------------------------------------------------------------------- Last.fm-1K
def _scrobbles(frame: pl.DataFrame, prefix: str) -> ReadBatch:
    frame = frame.with_columns(blank_to_null(*SCROBBLE))
    frame = frame.with_columns(parse_ts(pl.col("ts"), "%Y-%m-%dT%H:%M:%SZ").alias("_ts")).with_columns(
        reasons(
            (pl.col("user").is_null(), "missing user id"),
            (pl.col("_ts").is_null(), "timestamp is missing or not ISO-8601 UTC (YYYY-MM-DDTHH:MM:SSZ)"),
            (pl.col("artist").is_null() | pl.col("track").is_null(), "missing artist or track name"),
        ),
        track_ids(frame["artist"], frame["track"]).alias("item_id"),
        artist_ids(frame["artist"]).alias("artist_id"),
    )
    events = frame.select(
        user_ids("user", prefix).alias("user_id"),
        pl.col("_ts").alias("ts"),
        pl.lit("play").alias("type"),
        "item_id",
        pl.lit("track").alias("item_kind"),
        "artist_id",
        "_line",
        "_reject",
    )
    ok = frame.filter(pl.col("_reject").is_null())
    tracks = ok.select(
        pl.col("item_id").alias("track_id"),
        pl.col("track").alias("name"),
        "artist_id",
        pl.col("artist").alias("artist_name"),
        pl.col("track_mbid").alias("mbid"),
    )
    artists = ok.select("artist_id", pl.col("artist").alias("name"), pl.col("artist_mbid").alias("mbid"))
    derived = {"tracks": tracks.unique(maintain_order=True), "artists": artists.unique(maintain_order=True)}
    return ReadBatch(primary={"events": events}, derived=derived)


def _profiles(frame: pl.DataFrame, prefix: str) -> ReadBatch:
    frame = frame.with_columns(blank_to_null(*PROFILE)).with_columns(
        pl.col("age").cast(pl.Int32, strict=False).alias("_age"),
        pl.col("registered").str.to_date("%b %d, %Y", strict=False).alias("_signup"),
    )
    frame = frame.with_columns(
        reasons(
            (pl.col("id").is_null(), "missing user id"),
            (pl.col("age").is_not_null() & pl.col("_age").is_null(), "age is not a whole number"),
            (
                pl.col("registered").is_not_null() & pl.col("_signup").is_null(),
                "registered is not a date like 'Aug 13, 2006'",
            ),
        )
    )
    users = frame.select(
        user_ids("id", prefix).alias("user_id"),
        "gender",
        pl.col("_age").alias("age"),
        "country",
        pl.col("_signup").alias("signup_date"),
        "_line",
        "_reject",
    )
    return ReadBatch(primary={"users": users})


def read_1k(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read a Last.fm-1K scrobble TSV, or the ``userid-profile.tsv`` user table."""
    try:
        header = first_line(path)
    except READ_ERRORS as exc:
        yield cannot_read(path, exc)
        return
    prefix = options.user_prefix
    if header.startswith("#") or path.name.startswith("userid-profile"):
        with_header = header.startswith("#")
        yield from read_guarded(path, PROFILE, lambda f: _profiles(f, prefix), header=with_header)
    else:
        yield from read_guarded(path, SCROBBLE, lambda f: _scrobbles(f, prefix))
