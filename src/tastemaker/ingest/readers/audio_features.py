"""Audio-feature tables: the Spotify Hit Predictor CSVs (``dataset-of-60s.csv`` ... ``-10s``).

Columns: ``track, artist, uri, danceability, energy, key, loudness, mode, speechiness,
acousticness, instrumentalness, liveness, valence, tempo, duration_ms, time_signature, chorus_hit,
sections, target`` (``target`` 1 = on the Billboard Hot-100 in that decade). Other audio-feature
CSVs with these column names (any subset of the features) read the same way.

Each row is one ``audio_features`` row. It is joined by name: keyed by the canonical
``track_id(artist, track)``, so it lands on the track id a Spotify export gives the same names.
A row with a ``uri`` but no names is keyed by the URI (``"tr:u" + hash``, as in
:mod:`tastemaker.ingest.readers.spotify`); otherwise the URI is an attribute, kept in
``audio_features.uri`` and the tracks table's ``uri`` column, through which URI-keyed sources
join. ``hit`` is ``target == 1``. The same song in two decade files is two rows: a row identical
to one already stored is a duplicate (420 across the six Hit Predictor files); differing ones (a hit
in one decade only) are versions of one entity, and ``entities("audio_features")`` shows the
latest version stored.

Derived: the tracks (name, artist, duration, uri) and artists the rows name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from tastemaker.ingest.delimited import read_whole_csv
from tastemaker.ingest.identity import artist_ids, track_ids
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.sniff import hint
from tastemaker.ingest.readers.spotify import _hex_ids
from tastemaker.ingest.records import add_reason

PATTERNS: tuple[str, ...] = (
    "dataset-of-*.csv",  # the Hit Predictor's decade files
    "audio_features*.csv",
    "audio-features*.csv",
    "*.audio_features.csv",
)

NAMES = ("track", "artist", "uri")
#: Feature column -> stored type. ``duration_ms`` goes to the tracks table; ``chorus_hit`` and
#: ``sections`` are checked but not stored (the tables have no columns for them).
FEATURES: dict[str, pl.DataType] = {
    "danceability": pl.Float64(),
    "energy": pl.Float64(),
    "key": pl.Int32(),
    "loudness": pl.Float64(),
    "mode": pl.Int32(),
    "speechiness": pl.Float64(),
    "acousticness": pl.Float64(),
    "instrumentalness": pl.Float64(),
    "liveness": pl.Float64(),
    "valence": pl.Float64(),
    "tempo": pl.Float64(),
    "duration_ms": pl.Int64(),
    "time_signature": pl.Int32(),
    "chorus_hit": pl.Float64(),
    "sections": pl.Int32(),
    "target": pl.Int32(),
}
#: The features stored in ``audio_features`` (besides ``hit``, from ``target``).
STORED = [c for c in FEATURES if c not in ("duration_ms", "chorus_hit", "sections", "target")]


def _read_csv(path: Path) -> tuple[pl.DataFrame | None, ReadBatch]:
    """All columns as trimmed strings (empty -> null) with ``_line`` and ``_reject``, and what could
    not be read (the whole file, when it has no columns to key its rows by)."""
    raw, batch = read_whole_csv(path)
    if raw is None:
        return None, batch
    data = [c for c in raw.columns if c not in ("_line", "_reject")]
    if "uri" not in data and not {"track", "artist"} <= set(data):
        reason = f"no 'uri' or 'track'+'artist' columns; expected: {', '.join((*NAMES, *FEATURES))}"
        reason += hint("audio-features", data)
        batch.rejects.append(Reject(str(path), None, reason, ",".join(data)[:2000]))
        return None, batch
    raw = raw.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in data)
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in (*NAMES, *FEATURES) if c not in raw.columns]
    return raw.with_columns(missing), batch


def _typed(raw: pl.DataFrame) -> pl.DataFrame:
    """Features cast to their types; ``_reject`` names the first column that did not parse."""
    number = {c: pl.col(c).cast(pl.Float64, strict=False) for c in FEATURES}
    frame = raw
    for col, dtype in FEATURES.items():
        bad = pl.col(col).is_not_null() & (number[col].is_null() | ~number[col].is_finite())
        frame = frame.with_columns(add_reason(bad, f"column {col!r} is not a number"))
        if dtype.is_integer():
            frac = number[col].is_not_null() & (number[col] != number[col].round())
            frame = frame.with_columns(add_reason(frac, f"column {col!r} is not a whole number"))
            too_big = number[col].is_finite() & number[col].cast(dtype, strict=False).is_null()
            frame = frame.with_columns(add_reason(too_big.fill_null(False), f"column {col!r} is out of range"))
    no_key = pl.col("uri").is_null() & (pl.col("artist").is_null() | pl.col("track").is_null())
    label = ~number["target"].is_in([0.0, 1.0])
    frame = frame.with_columns(add_reason(label, "column 'target' is not 0 or 1"))
    frame = frame.with_columns(
        add_reason(no_key & pl.col("artist").is_null(), "missing 'artist' (and no 'uri' to key by)")
    ).with_columns(add_reason(no_key, "missing 'track' (and no 'uri' to key by)"))
    return frame.with_columns(number[c].cast(t, strict=False) for c, t in FEATURES.items())


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``track_id`` (by names, else by URI) and ``artist_id``."""
    named = track_ids(frame["artist"], frame["track"])
    return frame.with_columns(
        pl.coalesce(named, _hex_ids("tr:u", frame["uri"])).alias("track_id"),
        artist_ids(frame["artist"]).alias("artist_id"),
    )


def _catalog(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The tracks and artists that the accepted rows name."""
    ok = frame.filter(pl.col("_reject").is_null() & pl.col("track_id").is_not_null())
    tracks = ok.select(
        "track_id",
        pl.col("track").alias("name"),
        "artist_id",
        pl.col("artist").alias("artist_name"),
        "duration_ms",
        "uri",
    ).unique(maintain_order=True)
    artists = ok.select("artist_id", pl.col("artist").alias("name")).drop_nulls("artist_id")
    return {"tracks": tracks, "artists": artists.unique(maintain_order=True)}


def read_features(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one audio-feature CSV into ``audio_features`` rows keyed by canonical track id."""
    raw, read = _read_csv(path)
    if raw is None:
        yield read
        return
    frame = _keyed(_typed(raw))
    rows = frame.select(
        "track_id",
        "uri",
        *STORED,
        pl.when(pl.col("target").is_not_null()).then(pl.col("target") == 1).alias("hit"),
        "_line",
        "_reject",
    )
    yield ReadBatch(primary={"audio_features": rows}, derived=_catalog(frame), rejects=read.rejects,
                    problems=read.problems)
