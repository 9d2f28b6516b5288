"""Importer fuzz: generated files of every text format, well-formed or not, never crash an import.

Each example writes one file (or a small folder) of random records in one of the formats of
``ingest/formats.py`` — bad types, missing and extra fields, other encodings, truncation, gzip or
not, empty files — and imports it into a fresh store. An import either returns a summary that
accounts for every record (``read == accepted + duplicates + quarantined + forgotten``, the
quarantine file holding exactly the quarantined ones), or raises the project's own
:class:`~tastemaker.errors.TastemakerError` naming the file. Examples are derandomised, so a run is
repeatable; the counts per test add up to 2,450 files.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastemaker.errors import TastemakerError
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.readers.spotify import EXTENDED_FIELDS
from tastemaker.store import open_store

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------------- values
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.text(alphabet=",\t\n\r\"'\\{}[]|\x00\ufffd\u00e9", max_size=6),
    st.lists(st.integers(0, 9), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
TIMES = st.sampled_from(["2024-01-01T10:00:00Z", "2021-03-11 17:34", "2009-05-04T23:08:57Z", "1704103200",
                         "1704103200000", "1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "yesterday", ""])
NUMBERS = st.one_of(st.integers(-5, 10**7), st.sampled_from(["1000", "3.5", "-1", "lots", "1e400", ""]))
NAMES = st.one_of(st.sampled_from(["A", "The Band", "Song", "Ep. 12 - Talk", "Unknown Artist", " "]), st.text(max_size=6))
IDS = st.one_of(st.sampled_from(["u1", "u2", "42", "a/b", " x", "spotify:track:abc"]), st.text(max_size=5))


def _value(kind: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value most of the time, anything at all otherwise."""
    return st.one_of(kind, kind, JUNK)


def _records(fields: dict[str, st.SearchStrategy[Any]], max_size: int = 6) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Records with each field present or not, and sometimes a field nobody knows."""
    record = st.fixed_dictionaries({}, optional={k: _value(v) for k, v in fields.items()}).flatmap(
        lambda r: st.dictionaries(st.text(max_size=4), JUNK, max_size=1).map(lambda extra: {**extra, **r})
    )
    return st.lists(record, max_size=max_size)


# ---------------------------------------------------------------------- how records become bytes
def _cell(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else json.dumps(value)


def _delimited(records: list[dict[str, Any]], sep: str, header: bool, quoted: bool, ragged: bool) -> bytes:
    names = list(dict.fromkeys(k for r in records for k in r)) or ["user_id"]
    rows = [[_cell(r.get(n)) for n in names] for r in records]
    if ragged and rows:
        rows[0].append("extra")
        rows[-1] = rows[-1][:-1]
    buffer = io.StringIO()
    if quoted:
        writer = csv.writer(buffer, delimiter=sep, lineterminator="\n")
        writer.writerows(([names] if header else []) + rows)
    else:
        buffer.writelines(sep.join(row) + "\n" for row in ([names] if header else []) + rows)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


def _json(records: list[Any], shape: str) -> bytes:
    if shape == "lines":
        return b"".join(json.dumps(r).encode() + b"\n" for r in records)
    document: Any = {"payload": {"listens": records}} if shape == "wrapped" else records
    return json.dumps(document, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def _damage(draw: st.DrawFn, data: bytes, gz: bool) -> bytes:
    """``data`` as it might arrive: other encodings, stray bytes, cut short, gzip-compressed or not."""
    how = draw(st.sampled_from(["none", "none", "truncate", "latin1", "utf16", "bom", "crlf", "bytes", "empty"]))
    if how == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "latin1":
        data = data.decode("utf-8", "replace").encode("latin-1", "replace") + b"caf\xe9\n"
    elif how == "utf16":
        data = data.decode("utf-8", "replace").encode("utf-16")
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "crlf":
        data = data.replace(b"\n", b"\r\n")
    elif how == "bytes" and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    elif how == "empty":
        data = b""
    if not gz:
        return data
    packed = gzip.compress(data)
    cut = draw(st.sampled_from(["whole", "whole", "truncate", "garbage"]))
    if cut == "truncate":
        return packed[: draw(st.integers(0, max(len(packed) - 1, 0)))]
    return packed if cut == "whole" else packed[:10] + b"\x00garbage" + packed[18:]


def _check(fmt: str, files: dict[str, bytes], user: str | None = None, folder: bool = False) -> None:
    """Import the files (the folder they are in, or the one file) and check the account of it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        for name, data in files.items():
            (root / name).write_bytes(data)
        path = root if folder else root / next(iter(files))
        try:
            summary = run_import(open_store(Path(tmp) / "store"), FORMATS[fmt], path, ReadOptions(user=user),
                                 decide_kinds=False)
        except TastemakerError as exc:  # the project's own error, naming what it refused
            assert str(root) in str(exc) or any(name in str(exc) for name in files), exc
            return
        assert summary.read == summary.accepted + summary.duplicates + summary.quarantined + summary.forgotten
        quarantined = Path(summary.quarantine_file).read_bytes().splitlines() if summary.quarantine_file else []
        assert len(quarantined) == summary.quarantined
        assert all(row["file"] and row["reason"] for row in map(orjson.loads, quarantined))
        assert all(p["file"] and p["problem"] for p in summary.problems)
        if folder:
            assert summary.files + len(summary.skipped) == len(files)


# ---------------------------------------------------------------------- the formats
TABLE_FIELDS = {"user_id": IDS, "item_id": IDS, "ts": TIMES, "type": st.sampled_from(["play", "save", "dance"]),
                "ms_played": NUMBERS, "skipped": st.sampled_from(["true", "0", "maybe"]), "count": NUMBERS,
                "track_id": IDS, "name": NAMES, "genres": st.sampled_from(["rock|indie", ""]), "src": IDS, "dst": IDS,
                "item_kind": st.sampled_from(["track", "episode", "planet"]), "value": NUMBERS}
TABLE_NAMES = st.tuples(st.sampled_from(["events", "tracks", "listens", "edges", "users"]),
                        st.sampled_from(["csv", "tsv", "jsonl", "ndjson", "json", "parquet"]), st.booleans())


@settings(FUZZ, max_examples=450)
@given(name=TABLE_NAMES, records=_records(TABLE_FIELDS), quoted=st.booleans(), ragged=st.booleans(), data=st.data())
def test_table_files(name: tuple[str, str, bool], records: list[dict[str, Any]], quoted: bool, ragged: bool,
                     data: st.DataObject) -> None:
    stem, suffix, gz = name
    if suffix in ("csv", "tsv"):
        raw = _delimited(records, "\t" if suffix == "tsv" else ",", True, quoted, ragged)
    elif suffix == "parquet":
        buffer = io.BytesIO()
        names = list(dict.fromkeys(k for r in records for k in r))
        pl.DataFrame({n: [None if n not in r else _cell(r[n]) for r in records] for n in names},
                     schema={n: pl.String for n in names}).write_parquet(buffer)
        raw, gz = buffer.getvalue(), False
    else:
        raw = _json(records, data.draw(st.sampled_from(["array", "wrapped"])) if suffix == "json" else "lines")
    damaged = data.draw(_damage(raw, gz))
    _check("table", {f"{stem}.{suffix}{'.gz' if gz else ''}": damaged})


ACCOUNT_FIELDS = {"endTime": TIMES, "artistName": NAMES, "trackName": NAMES, "msPlayed": NUMBERS,
                  "podcastName": NAMES, "episodeName": NAMES, "ts": TIMES}
EXTENDED = {f: NAMES for f in EXTENDED_FIELDS} | {"ts": TIMES, "ms_played": NUMBERS, "user_id": IDS,
                                                   "skipped": st.sampled_from([True, False, "true", None])}


@settings(FUZZ, max_examples=350)
@given(records=_records(ACCOUNT_FIELDS), shape=st.sampled_from(["array", "array", "lines", "wrapped"]),
       gz=st.booleans(), data=st.data())
def test_spotify_account_files(records: list[dict[str, Any]], shape: str, gz: bool, data: st.DataObject) -> None:
    damaged = data.draw(_damage(_json(records, shape), gz))
    _check("spotify-account", {f"StreamingHistory_music_0.json{'.gz' if gz else ''}": damaged}, user="me")


@settings(FUZZ, max_examples=350)
@given(records=_records(EXTENDED, max_size=5), as_csv=st.booleans(), gz=st.booleans(), user=st.sampled_from([None, "me"]),
       data=st.data())
def test_spotify_extended_files(records: list[dict[str, Any]], as_csv: bool, gz: bool, user: str | None,
                                data: st.DataObject) -> None:
    raw = _delimited(records, ",", True, True, data.draw(st.booleans())) if as_csv else _json(records, "array")
    name = f"Streaming_History_Audio_2024.{'csv' if as_csv else 'json'}{'.gz' if gz else ''}"
    _check("spotify-extended", {name: data.draw(_damage(raw, gz))}, user=user)


LISTEN = st.fixed_dictionaries({}, optional={
    "listened_at": _value(NUMBERS), "user_name": _value(IDS),
    "track_metadata": st.one_of(JUNK, st.fixed_dictionaries({}, optional={
        "artist_name": _value(NAMES), "track_name": _value(NAMES), "release_name": _value(NAMES),
        "additional_info": st.one_of(JUNK, st.fixed_dictionaries({}, optional={
            "duration_ms": _value(NUMBERS), "artist_mbids": st.lists(IDS, max_size=2), "spotify_id": _value(IDS)})),
    })),
})  # fmt: skip


@settings(FUZZ, max_examples=250)
@given(listens=st.lists(st.one_of(LISTEN, LISTEN, JUNK), max_size=6), shape=st.sampled_from(["array", "lines", "wrapped"]),
       gz=st.booleans(), data=st.data())
def test_listenbrainz_files(listens: list[Any], shape: str, gz: bool, data: st.DataObject) -> None:
    name = f"listens.json{'l' if shape == 'lines' else ''}{'.gz' if gz else ''}"
    _check("listenbrainz", {name: data.draw(_damage(_json(listens, shape), gz))}, user=data.draw(st.sampled_from([None, "me"])))


ENTRY = {"pos": NUMBERS, "artist_name": NAMES, "track_name": NAMES, "track_uri": IDS, "album_name": NAMES,
         "duration_ms": NUMBERS}
PLAYLIST = st.fixed_dictionaries({}, optional={
    "pid": _value(NUMBERS), "name": _value(NAMES), "collaborative": _value(st.sampled_from(["true", "false"])),
    "modified_at": _value(NUMBERS), "num_followers": _value(NUMBERS), "tracks": st.one_of(_records(ENTRY, 4), JUNK),
})  # fmt: skip


@settings(FUZZ, max_examples=250)
@given(playlists=st.lists(st.one_of(PLAYLIST, PLAYLIST, JUNK), max_size=4), wrapped=st.booleans(), gz=st.booleans(),
       data=st.data())
def test_mpd_files(playlists: list[Any], wrapped: bool, gz: bool, data: st.DataObject) -> None:
    document: Any = {"info": {"slice": "0-999"}, "playlists": playlists} if wrapped else playlists
    raw = json.dumps(document, allow_nan=True).encode()
    _check("mpd", {f"mpd.slice.0-999.json{'.gz' if gz else ''}": data.draw(_damage(raw, gz))})


#: delimited research formats: (format, file name, column names, header line or not, separator)
DELIMITED = [
    ("movielens", "u.data", ["user", "item", "rating", "timestamp"], False, "\t"),
    ("movielens", "ratings.csv", ["userId", "movieId", "rating", "timestamp"], True, ","),
    ("lastfm-hetrec", "user_artists.dat", ["userID", "artistID", "weight"], True, "\t"),
    ("lastfm-hetrec", "artists.dat", ["id", "name", "url", "pictureURL"], True, "\t"),
    ("lastfm-hetrec", "user_taggedartists.dat", ["userID", "artistID", "tagID", "day", "month", "year"], True, "\t"),
    ("lastfm-hetrec", "user_friends.dat", ["userID", "friendID"], True, "\t"),
    ("lastfm-hetrec", "tags.dat", ["tagID", "tagValue"], True, "\t"),
    ("lastfm-1k", "userid-timestamp-artid-artname-traid-traname.tsv", ["u", "ts", "am", "artist", "tm", "track"], False, "\t"),
    ("lastfm-1k", "userid-profile.tsv", ["#id", "gender", "age", "country", "registered"], True, "\t"),
    ("audio-features", "dataset-of-10s.csv", ["track", "artist", "uri", "danceability", "key", "tempo", "target"], True, ","),
    ("podcasts", "podcast_shows.csv", ["Parent_Category", "Category", "Podcast_Name", "Description", "Publisher",
                                       "Episode_Count", "ID", "Cover_URL"], True, ","),
    ("podcasts", "podcast_episodes.csv", ["Podcast Name", "Podcast ID", "Episode Name", "Description"], True, ","),
]
CELL = st.one_of(IDS, NAMES, TIMES, st.integers(-3, 3000).map(str), st.text(max_size=5),
                st.sampled_from(["1704103200000", "99999999999999999999", "1e400", "-0", "0.5", "nan"]))


@settings(FUZZ, max_examples=450)
@given(spec=st.sampled_from(DELIMITED), rows=st.lists(st.lists(CELL, min_size=1, max_size=8), max_size=6),
       quoted=st.booleans(), gz=st.booleans(), data=st.data())
def test_delimited_research_files(spec: tuple[str, str, list[str], bool, str], rows: list[list[str]], quoted: bool,
                                  gz: bool, data: st.DataObject) -> None:
    fmt, name, columns, header, sep = spec
    width = data.draw(st.sampled_from([len(columns), len(columns), len(columns) - 1, len(columns) + 1]))
    records = [dict(zip([*columns, "extra"][:width], row + [""] * (width - len(row)), strict=False)) for row in rows]
    if data.draw(st.booleans()):  # a header of some other file
        records = [{f"col{i}": v for i, v in enumerate(r.values())} for r in records]
    raw = _delimited(records, sep, header, quoted, data.draw(st.booleans()))
    _check(fmt, {f"{name}{'.gz' if gz else ''}": data.draw(_damage(raw, gz))})


FOLDER_NAMES = st.sampled_from(["events.csv", "listens.jsonl.gz", "notes.txt", "x.json", ".DS_Store", "tracks.tsv",
                                "README.md", "events.ndjson"])


@settings(FUZZ, max_examples=350)
@given(files=st.dictionaries(FOLDER_NAMES, st.tuples(_records(TABLE_FIELDS, 3), st.booleans()), min_size=1, max_size=4),
       data=st.data())
def test_table_folders(files: dict[str, tuple[list[dict[str, Any]], bool]], data: st.DataObject) -> None:
    written = {}
    for name, (records, quoted) in files.items():
        bare = name.removesuffix(".gz")
        if bare.endswith((".csv", ".tsv", ".txt", ".md")):
            raw = _delimited(records, "\t" if bare.endswith(".tsv") else ",", True, quoted, False)
        else:
            raw = _json(records, "lines" if bare.endswith((".jsonl", ".ndjson")) else "array")
        written[name] = data.draw(_damage(raw, name.endswith(".gz")))
    _check("table", written, folder=True)
