"""Stable identities: name normalisation, canonical track/artist ids, and event ids.

Every id here is a pure function of the record, so the same record imported twice, from
another machine or another release of tastemaker, gets the same id — that is what makes
re-sending idempotent. Hashes are xxh3-64 (a fixed, versioned algorithm), never Python's
``hash`` or a DataFrame library's internal hash, which change between versions.

Music identity: a track is ``artist + title`` after :func:`normalize_name`, so a basic Spotify
export (names only), an extended export (names + URI) and an audio-feature table (URI + names)
land on the same track. URIs, ISRCs and MBIDs are kept as attributes of the track.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import polars as pl
import xxhash

_SPACE = re.compile(r"\s+")
# Version tags that name the same recording: "Song - Remastered 2011", "Song (2009 Remaster)".
_VERSION_TAG = re.compile(
    r"\s*(?:-\s*(?:\d{4}\s+)?(?:digital\s+)?remaster(?:ed)?(?:\s+version)?(?:\s+\d{4})?"
    r"|[(\[](?:\d{4}\s+)?(?:digital\s+)?remaster(?:ed)?(?:\s+version)?(?:\s+\d{4})?[)\]])\s*$"
)


def normalize_name(text: str) -> str:
    """Fold a human-written name to a comparison key.

    NFKC, case-folded, whitespace collapsed, and trailing remaster tags removed.

    >>> normalize_name("  Here Comes  The Sun - Remastered 2009 ")
    'here comes the sun'
    """
    folded = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return _VERSION_TAG.sub("", folded).strip() or folded


def hash_text(text: str) -> int:
    """Signed 64-bit xxh3 of ``text`` (UTF-8)."""
    return xxhash.xxh3_64_intdigest(text.encode()) - (1 << 63)


def _hex(text: str) -> str:
    return xxhash.xxh3_64_hexdigest(text.encode())


def artist_id(name: str) -> str:
    """Canonical artist id from an artist name: ``ar:`` + 16 hex digits."""
    return "ar:" + _hex(normalize_name(name))


def track_id(artist: str, title: str) -> str:
    """Canonical track id from artist and title names: ``tr:`` + 16 hex digits."""
    return "tr:" + _hex(normalize_name(artist) + "\x1f" + normalize_name(title))


def map_unique(series: pl.Series, fn: object, dtype: pl.DataType) -> pl.Series:
    """Apply a Python function to each distinct non-null value only, then broadcast back.

    Per-record catalogs repeat a few thousand names millions of times; this keeps the Python
    work proportional to the distinct values.
    """
    uniq = series.drop_nulls().unique()
    mapped = pl.Series([fn(v) for v in uniq.to_list()], dtype=dtype)  # type: ignore[operator]
    lookup = pl.DataFrame({"_k": uniq, "_v": mapped})
    return (
        pl.DataFrame({"_k": series}).join(lookup, on="_k", how="left", maintain_order="left")["_v"].alias(series.name)
    )


def artist_ids(names: pl.Series) -> pl.Series:
    """Vector form of :func:`artist_id`."""
    return map_unique(names, artist_id, pl.String())


def track_ids(artists: pl.Series, titles: pl.Series) -> pl.Series:
    """Vector form of :func:`track_id`."""
    pairs = pl.DataFrame({"a": artists, "t": titles}).select(
        pl.when(pl.col("a").is_not_null() & pl.col("t").is_not_null())
        .then(pl.col("a") + "\x1f" + pl.col("t"))
        .alias("p")
    )["p"]
    return map_unique(pairs, lambda p: track_id(*p.split("\x1f", 1)), pl.String())


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _column_hash(series: pl.Series) -> np.ndarray:
    if series.dtype == pl.String:
        hashed = map_unique(series, hash_text, pl.Int64())
        return hashed.fill_null(0).to_numpy().astype(np.int64).view(np.uint64)
    values = series.cast(pl.Int64, strict=False).fill_null(-1).to_numpy().astype(np.int64)
    return values.view(np.uint64)


def row_ids(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """A stable signed 64-bit id per row from the values of ``columns``.

    Strings are hashed per distinct value and integers/timestamps taken as they are; the
    columns are combined in order with splitmix64, so the id changes when any value does.
    """
    acc = np.full(frame.height, np.uint64(len(columns)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in columns:
            series = frame[col]
            if series.dtype == pl.Boolean:
                series = series.cast(pl.Int64)
            elif isinstance(series.dtype, pl.Datetime):
                series = series.dt.epoch("ms")
            elif isinstance(series.dtype, pl.List):
                series = series.list.join("\x1f")
            elif series.dtype == pl.Float64 or series.dtype == pl.Float32:
                series = (series * 1_000_000).round().cast(pl.Int64)
            elif series.dtype == pl.Date:
                series = series.cast(pl.Int64)
            acc = _mix(acc * _GOLDEN + _column_hash(series))
    return pl.Series("row_id", acc.view(np.int64))


#: The columns that make an event the same event. Context (device, shuffle...) is excluded on
#: purpose: two exports of the same play may disagree on it.
EVENT_IDENTITY = ["user_id", "ts", "type", "item_id", "ms_played", "count", "value", "tag", "playlist_id", "position"]
