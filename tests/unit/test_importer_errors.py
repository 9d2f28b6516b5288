"""Every importer error is a clear message: JSON tables, wrong columns, text that is not UTF-8, files a
folder import skips, truncated gzip, and an export given to the wrong Spotify format (issue 19, point 5)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from tastemaker.cli.main import app
from tastemaker.errors import ImportFormatError
from tastemaker.ingest import ImportSummary, ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS

TABLE = FORMATS["table"]
ROWS = [{"user_id": "a", "item_id": f"s{i}", "ts": "2024-01-01T10:00:00Z", "ms_played": 1000 + i} for i in range(3)]


def _balanced(summary: ImportSummary) -> bool:
    return summary.read == summary.accepted + summary.duplicates + summary.quarantined + summary.forgotten


def _quarantine(summary: ImportSummary) -> list[dict[str, Any]]:
    assert summary.quarantine_file is not None
    return [orjson.loads(line) for line in Path(summary.quarantine_file).read_bytes().splitlines()]


def _cli(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "import", *args])


# ---------------------------------------------------------------------- 1. JSON files in the table format
@pytest.mark.parametrize("shape", ["array", "wrapped", "array.gz"])
def test_a_json_table_file_imports_like_json_lines(store, tmp_path: Path, shape: str) -> None:
    document: Any = {"events": ROWS} if shape == "wrapped" else ROWS
    data = orjson.dumps(document)
    path = tmp_path / ("listens.json.gz" if shape.endswith(".gz") else "listens.json")
    path.write_bytes(gzip.compress(data) if shape.endswith(".gz") else data)
    summary = run_import(store, TABLE, path)
    assert (summary.read, summary.accepted, summary.quarantined, summary.problems) == (3, 3, 0, [])
    events = store.events().sort("item_id").collect()
    assert events["item_id"].to_list() == ["s0", "s1", "s2"] and events["ms_played"].to_list() == [1000, 1001, 1002]
    lines = tmp_path / "listens.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    assert run_import(store, TABLE, lines).duplicates == 3  # the same records as JSON lines


def test_a_json_table_file_numbers_its_records_and_a_file_of_another_kind_is_refused(store, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_bytes(orjson.dumps([ROWS[0], "not a record", {**ROWS[1], "ts": "yesterday"}]))
    summary = run_import(store, TABLE, path)
    assert (summary.read, summary.accepted, summary.quarantined) == (3, 1, 2) and _balanced(summary)
    reasons = {row["line"]: row["reason"] for row in _quarantine(summary)}
    assert "not a JSON object" in reasons[2] and "'ts'" in reasons[3]
    other = tmp_path / "events.xml"
    other.write_text("<events/>")
    with pytest.raises(ImportFormatError, match=r"events\.xml.*\.csv, \.tsv, \.parquet, \.jsonl, \.ndjson, \.json"):
        run_import(store, TABLE, other)


# ---------------------------------------------------------------------- 2. a CSV without the required columns
def test_a_csv_without_the_required_columns_names_them_and_counts_every_row(store, tmp_path: Path) -> None:
    path = tmp_path / "listens.csv"
    path.write_text("listener,song\na,s1\nb,s2\n")
    summary = run_import(store, TABLE, path)
    assert (summary.read, summary.accepted, summary.quarantined) == (2, 0, 2) and _balanced(summary) and summary.failed
    ((problem),) = summary.problems
    assert problem["file"] == str(path)
    for part in ("user_id, item_id", "columns found: listener, song", "--map user_id=COLUMN"):
        assert part in problem["problem"]
    rows = _quarantine(summary)
    assert [r["line"] for r in rows] == [2, 3] and orjson.loads(rows[0]["record"]) == {"listener": "a", "song": "s1"}
    assert all(r["reason"] == problem["problem"] for r in rows)
    fixed = run_import(store, TABLE, path, ReadOptions(mapping={"user_id": "listener", "item_id": "song"}))
    assert (fixed.accepted, fixed.problems) == (2, [])


def test_the_cli_prints_the_missing_columns_and_the_map_option_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "listens.csv"
    path.write_text("listener,song\na,s1\nb,s2\n")
    result = _cli(tmp_path, "table", str(path))
    assert result.exit_code == 1
    for part in ("listens.csv", "user_id, item_id", "listener, song", "--map user_id=COLUMN", "nothing was imported"):
        assert part in result.output
    fixed = _cli(tmp_path, "table", str(path), "--map", "user_id=listener", "--map", "item_id=song", "--json")
    assert fixed.exit_code == 0 and json.loads(fixed.stdout)["accepted"] == 2


# ---------------------------------------------------------------------- 3. text that is not UTF-8
def test_a_csv_line_that_is_not_utf8_is_quarantined_with_its_line_and_the_fix(store, tmp_path: Path) -> None:
    path = tmp_path / "listens.csv"
    path.write_bytes("user_id,item_id\na,s1\nJosé,s2\nb,s3\n".encode("latin-1"))
    summary = run_import(store, TABLE, path)
    assert (summary.read, summary.accepted, summary.quarantined) == (3, 2, 1) and _balanced(summary)
    (row,) = _quarantine(summary)
    assert row["line"] == 3 and "not valid UTF-8" in row["reason"] and "re-save the file as UTF-8" in row["reason"]
    ((problem),) = summary.problems
    assert problem["file"] == str(path) and "line 3" in problem["problem"] and "UTF-8" in problem["problem"]
    result = _cli(tmp_path, "table", str(path))
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "line 3" in result.output and "re-save the file as UTF-8" in result.output


def test_records_that_are_not_utf8_in_a_json_export_are_quarantined_and_the_rest_kept(store, tmp_path: Path) -> None:
    good = orjson.dumps({"endTime": "2024-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 200000})
    latin1 = good.replace(b'"T"', b'"Caf\xe9"')
    path = tmp_path / "StreamingHistory0.json"
    path.write_bytes(b"[" + b",".join([good, latin1, good.replace(b'"T"', b'"U"')]) + b"]")
    summary = run_import(store, FORMATS["spotify-account"], path, ReadOptions(user="me"))
    assert (summary.read, summary.accepted, summary.quarantined) == (3, 2, 1) and _balanced(summary)
    (row,) = _quarantine(summary)
    assert row["line"] == 2 and "not valid UTF-8" in row["reason"]


# ---------------------------------------------------------------------- 4. files a folder import skips
def test_a_folder_import_lists_the_files_it_skipped_and_why(store, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "events.csv").write_text("user_id,item_id\na,s1\n")
    (folder / "notes.txt").write_text("my notes")
    (folder / "cover.png").write_bytes(b"\x89PNG")
    summary = run_import(store, TABLE, folder)
    assert (summary.files, summary.accepted) == (1, 1)
    skipped = {Path(s["file"]).name: s["reason"] for s in summary.skipped}
    assert set(skipped) == {"notes.txt", "cover.png"} and "not a table file name" in skipped["notes.txt"]
    assert "*.csv" in skipped["notes.txt"]
    printed = _cli(tmp_path, "table", str(folder))
    assert printed.exit_code == 0 and "skipped (2 files)" in printed.output and "notes.txt" in printed.output
    as_json = json.loads(_cli(tmp_path, "table", str(folder), "--json").stdout)
    assert sorted(Path(s["file"]).name for s in as_json["skipped"]) == ["cover.png", "notes.txt"]


def test_a_folder_with_no_file_of_the_format_names_what_it_holds(store, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ImportFormatError, match=r"no movielens files .*notes\.txt"):
        run_import(store, FORMATS["movielens"], tmp_path)


# ---------------------------------------------------------------------- 5. a truncated gzip
def _cut(data: bytes) -> bytes:
    packed = gzip.compress(data)
    return packed[: len(packed) * 3 // 5]


@pytest.mark.parametrize("name", ["events.csv.gz", "events.jsonl.gz"])
def test_a_truncated_gzip_table_keeps_every_line_before_the_cut(store, tmp_path: Path, name: str) -> None:
    rows = [{"user_id": f"u{i % 7}", "item_id": f"song {i} {'x' * (i % 13)}", "ts": 1704103200 + i} for i in range(3000)]
    if name.startswith("events.csv"):
        data = b"user_id,item_id,ts\n" + b"".join(f"{r['user_id']},{r['item_id']},{r['ts']}\n".encode() for r in rows)
    else:
        data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    path = tmp_path / name
    path.write_bytes(_cut(data))
    summary = run_import(store, TABLE, path)
    assert 1000 < summary.accepted < 3000 and summary.quarantined == 1 and _balanced(summary)
    (row,) = _quarantine(summary)
    last = row["line"] - 1
    assert row["reason"].startswith(f"file truncated after line {last}")
    header = 1 if name.startswith("events.csv") else 0
    assert summary.accepted == last - header  # every complete line before the cut
    assert store.events().collect()["item_id"].sort().to_list() == sorted(r["item_id"] for r in rows[: last - header])
    assert summary.problems == [{"file": str(path), "problem": row["reason"]}]


def test_a_truncated_gzip_json_export_keeps_the_records_before_the_cut(store, tmp_path: Path) -> None:
    records = [{"endTime": f"2024-01-01 10:{i % 60:02d}", "artistName": f"A{i}", "trackName": "T", "msPlayed": 200000 + i}
               for i in range(2000)]
    path = tmp_path / "StreamingHistory0.json.gz"
    path.write_bytes(_cut(orjson.dumps(records)))
    summary = run_import(store, FORMATS["spotify-account"], path, ReadOptions(user="me"))
    assert 500 < summary.accepted < 2000 and summary.quarantined == 1 and _balanced(summary)
    (row,) = _quarantine(summary)
    assert row["reason"].startswith(f"file truncated after record {summary.accepted}")
    kept = store.events().collect()["ms_played"].sort().to_list()
    assert kept == [200000 + i for i in range(summary.accepted)]


def test_a_truncated_gzip_tsv_keeps_its_lines(store, tmp_path: Path) -> None:
    lines = [f"user_{i % 3}\t2009-05-04T23:08:57Z\t\tArtist {i}\t\tTrack {i}\n" for i in range(3000)]
    path = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv.gz"
    path.write_bytes(_cut("".join(lines).encode()))
    summary = run_import(store, FORMATS["lastfm-1k"], path)
    (row,) = _quarantine(summary)
    assert row["reason"].startswith(f"file truncated after line {row['line'] - 1}")
    assert summary.accepted == row["line"] - 1 and _balanced(summary)


# ---------------------------------------------------------------------- 6. the wrong Spotify format
EXTENDED = {"ts": "2024-01-01T10:00:00Z", "ms_played": 200000, "master_metadata_track_name": "T",
            "master_metadata_album_artist_name": "A", "spotify_track_uri": "spotify:track:1", "platform": "ios"}
ACCOUNT = {"endTime": "2024-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 200000}


def test_extended_records_given_as_account_data_say_which_format_to_use(store, tmp_path: Path) -> None:
    path = tmp_path / "StreamingHistory_music_0.json"
    path.write_bytes(orjson.dumps([EXTENDED, {**EXTENDED, "ms_played": 5}]))
    summary = run_import(store, FORMATS["spotify-account"], path, ReadOptions(user="me"))
    assert (summary.read, summary.accepted, summary.quarantined) == (2, 0, 2) and summary.failed
    ((problem),) = summary.problems
    assert "Spotify extended streaming history" in problem["problem"]
    assert "tastemaker import spotify-extended" in problem["problem"]
    rows = _quarantine(summary)
    assert all("import spotify-extended" in r["reason"] for r in rows)
    assert orjson.loads(rows[0]["record"])["master_metadata_track_name"] == "T"  # the record as it was
    result = _cli(tmp_path, "spotify-account", str(path), "--user", "me")
    assert result.exit_code == 1 and "import spotify-extended" in result.output
    assert run_import(store, FORMATS["spotify-extended"], path, ReadOptions(user="me")).accepted == 2


@pytest.mark.parametrize("suffix", ["json", "csv"])
def test_account_records_given_as_extended_say_which_format_to_use(store, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"Streaming_History_Audio_2024.{suffix}"
    if suffix == "json":
        path.write_bytes(orjson.dumps([ACCOUNT]))
    else:
        pl.DataFrame([ACCOUNT]).write_csv(path)
    summary = run_import(store, FORMATS["spotify-extended"], path)  # no --user: the mismatch is said first
    assert (summary.read, summary.quarantined) == (1, 1) and summary.failed
    assert "import spotify-account PATH --user ID" in summary.problems[0]["problem"]
    result = _cli(tmp_path, "spotify-extended", str(path), "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["problems"]


def test_some_bad_records_among_good_ones_are_no_format_mismatch(store, tmp_path: Path) -> None:
    path = tmp_path / "StreamingHistory0.json"
    path.write_bytes(orjson.dumps([ACCOUNT, {"trackName": "T"}, {**ACCOUNT, "msPlayed": "x"}]))
    summary = run_import(store, FORMATS["spotify-account"], path, ReadOptions(user="me"))
    assert (summary.accepted, summary.quarantined, summary.problems, summary.failed) == (1, 2, [], False)


# ---------------------------------------------------------------------- found by the importer fuzz
def test_a_header_with_a_stray_carriage_return_is_read(store, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"user_id,item\rid\na,s1\n")
    summary = run_import(store, TABLE, path)
    assert (summary.read, summary.quarantined) == (1, 1) and "item_id" in summary.problems[0]["problem"]


def test_an_audio_feature_outside_its_integer_range_is_quarantined(store, tmp_path: Path) -> None:
    path = tmp_path / "dataset-of-10s.csv"
    path.write_text("track,artist,key,target\nA,B,1704103200000,1\nC,D,3,0\n")
    summary = run_import(store, FORMATS["audio-features"], path)
    assert (summary.read, summary.accepted, summary.quarantined) == (2, 1, 1)
    assert _quarantine(summary)[0]["reason"] == "column 'key' is out of range"


@pytest.mark.parametrize("value", ["1e300", "inf", "-inf"])
def test_a_float_too_large_to_identify_its_row_is_quarantined(store, tmp_path: Path, value: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(f"user_id,item_id,value\na,s1,{value}\na,s2,4.5\n")
    summary = run_import(store, TABLE, path)
    assert (summary.read, summary.accepted, summary.quarantined) == (2, 1, 1)
    assert _quarantine(summary)[0]["reason"].startswith("column 'value' is out of range")
