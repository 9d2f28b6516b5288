"""Spotify exports on the real shared samples, plus malformed input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import polars as pl
import pytest

from summaries import balanced as _balanced
from tastemaker.errors import ImportFormatError
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import track_id

pytestmark = pytest.mark.realdata


def test_account_export_of_all_26_listeners_is_fully_accounted_and_idempotent(store, shared_data: Path) -> None:
    raw = shared_data / "spotify-streaming-history-basic" / "raw"
    first = run_import(store, FORMATS["spotify-account"], raw)
    assert first.read == 592_464 and _balanced(first)
    assert first.quarantined == 0 and first.accepted == 592_464
    users = store.events().select(pl.col("user_id").n_unique()).collect().item()
    assert users == 26
    again = run_import(store, FORMATS["spotify-account"], raw)
    assert (again.read, again.accepted, again.duplicates) == (592_464, 0, 592_464)
    assert store.count("events") == 592_464


def test_account_export_marks_short_streams_as_skips_and_names_tracks(store, shared_data: Path) -> None:
    run_import(store, FORMATS["spotify-account"], shared_data / "spotify-streaming-history-basic" / "raw")
    ev = store.events().collect()
    short = ev.filter(pl.col("ms_played") < 30_000)
    assert short.height == 205_396  # the data README's count of msPlayed < 30 s
    assert short["skipped"].all() and not ev.filter(pl.col("ms_played") >= 30_000)["skipped"].any()
    tracks = store.entities("tracks")
    named = ev.filter(pl.col("item_kind") == "track").select("item_id").unique()
    assert named.join(tracks, left_on="item_id", right_on="track_id", how="anti").height == 0


def test_single_file_needs_a_user_and_takes_it(store, shared_data: Path) -> None:
    file = next((shared_data / "spotify-streaming-history-basic" / "raw" / "u015").rglob("*.json.gz"))
    with pytest.raises(ImportFormatError, match="--user"):
        run_import(store, FORMATS["spotify-account"], file)
    summary = run_import(store, FORMATS["spotify-account"], file, ReadOptions(user="me"))
    assert summary.accepted == 4_508
    assert store.events().select(pl.col("user_id").unique()).collect()["user_id"].to_list() == ["me"]


def test_extended_export_keeps_skip_flags_uris_and_context(store, shared_data: Path) -> None:
    summary = run_import(store, FORMATS["spotify-extended"], shared_data / "spotify-extended-streaming-history-sample" / "raw")
    assert summary.read == 38_756 and summary.accepted == 38_756 and _balanced(summary)
    ev = store.events().collect()
    assert ev["skipped"].sum() == 16_855
    assert set(ev["user_id"].unique()) == {"e01", "e02"}
    assert ev["reason_end"].null_count() < ev.height and ev["shuffle"].null_count() < ev.height
    assert ev["platform"].null_count() < ev.height and ev["country"].null_count() < ev.height
    uris = store.entities("tracks")["uri"].drop_nulls()
    assert uris.len() > 1000 and uris.str.starts_with("spotify:track:").all()
    assert run_import(store, FORMATS["spotify-extended"], shared_data / "spotify-extended-streaming-history-sample" / "raw").accepted == 0


def test_extended_csv_form_with_user_column_matches_the_raw_files(store, shared_data: Path) -> None:
    sample = shared_data / "spotify-extended-streaming-history-sample"
    run_import(store, FORMATS["spotify-extended"], sample / "raw")
    again = run_import(store, FORMATS["spotify-extended"], sample / "events.csv.gz")
    # the combined CSV holds the same streams as the raw JSON/CSV files: nothing new
    assert (again.read, again.accepted, again.duplicates) == (38_756, 0, 38_756)


def _gz(path: Path, payload: object) -> Path:
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    return path


def test_account_export_quarantines_bad_records_with_line_and_reason(store, tmp_path: Path) -> None:
    good = {"endTime": "2021-03-11 17:34", "artistName": "A", "trackName": "T", "msPlayed": 200000}
    records = [
        good,
        {**good, "endTime": "yesterday"},
        {**good, "msPlayed": "lots"},
        {"endTime": "2021-03-11 17:35", "trackName": "T", "msPlayed": 1},
        "not an object",
        {**good, "msPlayed": -5},
        {**good, "endTime": "1970-01-01 00:00"},
    ]
    folder = tmp_path / "export" / "alice"
    folder.mkdir(parents=True)
    _gz(folder / "StreamingHistory0.json.gz", records)
    (folder / "StreamingHistory1.json").write_text("[{broken")
    summary = run_import(store, FORMATS["spotify-account"], tmp_path / "export")
    assert (summary.read, summary.accepted, summary.quarantined) == (8, 1, 7) and _balanced(summary)
    rows = [orjson.loads(x) for x in Path(summary.quarantine_file).read_bytes().splitlines()]
    by_line = {(Path(r["file"]).name, r["line"]): r["reason"] for r in rows}
    name = "StreamingHistory0.json.gz"
    assert "endTime" in by_line[(name, 2)]
    assert "msPlayed" in by_line[(name, 3)]
    assert "artistName" in by_line[(name, 4)]
    assert "not a JSON object" in by_line[(name, 5)]
    assert "negative" in by_line[(name, 6)]
    assert "1990" in by_line[(name, 7)]
    assert "not valid JSON" in by_line[("StreamingHistory1.json", None)]
    assert store.events().collect()["item_id"].to_list() == [track_id("A", "T")]


def test_extended_export_quarantines_records_without_an_item_or_time(store, tmp_path: Path) -> None:
    base = {"ts": "2024-01-01T10:00:00Z", "ms_played": 1000, "master_metadata_track_name": "T",
            "master_metadata_album_artist_name": "A", "spotify_track_uri": "spotify:track:1", "skipped": True}
    records = [base, {**base, "ts": None}, {**base, "master_metadata_track_name": None, "spotify_track_uri": None,
                                              "master_metadata_album_artist_name": None}, {**base, "ms_played": "x"}]
    path = _gz(tmp_path / "Streaming_History_Audio_2024.json.gz", records)
    summary = run_import(store, FORMATS["spotify-extended"], path, ReadOptions(user="bob"))
    assert (summary.read, summary.accepted, summary.quarantined) == (4, 1, 3)
    reasons = sorted(orjson.loads(x)["reason"] for x in Path(summary.quarantine_file).read_bytes().splitlines())
    assert any("ts" in r for r in reasons) and any("no track" in r for r in reasons) and any("ms_played" in r for r in reasons)
