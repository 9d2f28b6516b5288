"""Import of Spotify Million Playlist Dataset slices: the real sample, and malformed input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from summaries import counts as _counts, quarantine_rows as _quarantine
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import artist_id, track_id
from tastemaker.store import Store

MPD = FORMATS["mpd"]


@pytest.mark.realdata
def test_real_slice_counts_and_values(store: Store, shared_data: Path) -> None:
    path = shared_data / "spotify-mpd-slice-sample"
    summary = run_import(store, MPD, path)
    # 29 playlists + 1,448 playlist-track entries, all accepted; no two entries are identical
    # (each has its own position), and no playlist repeats.
    assert summary.files == 1 and _counts(summary) == (1477, 1477, 0, 0)
    assert summary.tables == {
        "playlists": {"accepted": 29, "duplicates": 0},
        "events": {"accepted": 1448, "duplicates": 0},
    }
    assert summary.read == summary.accepted + summary.duplicates + summary.quarantined

    again = run_import(store, MPD, path)
    assert _counts(again) == (1477, 0, 1477, 0)
    assert store.count("events") == 1448 and store.count("playlists") == 29

    first = store.entities("playlists").filter(pl.col("playlist_id") == "mpd:0").row(0, named=True)
    assert (first["name"], first["collaborative"], first["num_followers"]) == ("Throwbacks", False, 1)
    assert first["modified_at"] == datetime(2017, 4, 29, tzinfo=UTC)

    events = store.events().filter(pl.col("playlist_id") == "mpd:0").sort("position").collect()
    assert events.height == 52
    head = events.row(0, named=True)
    assert (head["type"], head["user_id"], head["position"]) == ("add_to_playlist", "mpd:0", 0)
    assert head["item_id"] == track_id("Missy Elliott", "Lose Control (feat. Ciara & Fat Man Scoop)")
    assert head["artist_id"] == artist_id("Missy Elliott")
    assert head["duration_ms"] == 226863 and head["ts"] == first["modified_at"]

    tracks = store.entities("tracks")
    assert tracks.height == 1397  # distinct (artist, title) pairs = distinct track URIs in this sample
    lose = tracks.filter(pl.col("track_id") == head["item_id"]).row(0, named=True)
    assert lose["uri"] == "spotify:track:0UaMYEvWZi0ZqiDOoHU3YI" and lose["album_name"] == "The Cookbook"
    artist = store.entities("artists").filter(pl.col("artist_id") == head["artist_id"]).row(0, named=True)
    assert artist["uri"] == "spotify:artist:2wIVse2owClT7go1WT98tk"


@pytest.mark.realdata
def test_user_prefix_applies_to_users_not_playlists(store: Store, shared_data: Path) -> None:
    run_import(store, MPD, shared_data / "spotify-mpd-slice-sample", ReadOptions(user_prefix="mpdtest:"))
    users = store.events().select("user_id", "playlist_id").unique().collect()
    assert users.height == 29
    assert users.filter(pl.col("user_id") != "mpdtest:" + pl.col("playlist_id")).height == 0


def _entry(pos: object, artist: str | None = "Artist A", title: str | None = "Song A") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "pos": pos,
        "track_uri": f"spotify:track:t{pos}",
        "artist_uri": "spotify:artist:a",
        "album_uri": "spotify:album:x",
        "duration_ms": 200000,
        "album_name": "Album",
    }
    if artist is not None:
        entry["artist_name"] = artist
    if title is not None:
        entry["track_name"] = title
    return entry


def _playlist(pid: int | None, name: str, tracks: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "collaborative": "true", "modified_at": 1500000000}
    out["num_followers"] = 3
    out["num_tracks"], out["tracks"] = len(tracks), tracks
    if pid is not None:
        out["pid"] = pid
    return out


def test_malformed_slice_quarantines_each_bad_record(store: Store, tmp_path: Path) -> None:
    mixed = [_entry(0, artist=None), _entry("first"), "oops", _entry(3, title="Song C")]
    doc = {
        "info": {"slice": "100-103"},
        "playlists": [
            _playlist(100, "good", [_entry(0), _entry(1, title="Song B")]),  # records 1-3
            _playlist(None, "no pid", [_entry(0)]),  # records 4-5
            _playlist(102, "mixed", mixed),  # records 6-10
            "not a playlist",  # record 11
        ],
    }
    path = tmp_path / "mpd.slice.100-103.json"
    path.write_bytes(orjson.dumps(doc))
    summary = run_import(store, MPD, path)
    assert _counts(summary) == (11, 5, 0, 6)
    assert summary.tables["playlists"]["accepted"] == 2 and summary.tables["events"]["accepted"] == 3

    rows = _quarantine(summary)
    assert {r["file"] for r in rows} == {str(path)}
    assert {r["line"]: r["reason"] for r in rows} == {
        4: "missing field 'pid'",
        5: "in a rejected playlist: missing field 'pid'",
        7: "missing field 'artist_name'",
        8: "field 'pos' is not a valid Int64",
        9: "playlist track entry is not a JSON object",
        11: "playlist is not a JSON object",
    }
    records = {r["line"]: r["record"] for r in rows}
    assert orjson.loads(records[4])["name"] == "no pid"
    assert orjson.loads(records[7])["playlist_id"] == "mpd:102" and orjson.loads(records[7])["position"] == 0
    assert "oops" in records[9]

    assert sorted(store.events().collect()["position"].to_list()) == [0, 1, 3]
    assert store.entities("tracks").height == 3


def test_file_that_is_not_json_is_one_reject(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "mpd.slice.0-999.json"
    bad.write_text('{"info": {}, "playlists": [')
    summary = run_import(store, MPD, bad)
    assert _counts(summary) == (1, 0, 0, 1)
    (row,) = _quarantine(summary)
    assert row["line"] is None and row["reason"].startswith("file is not valid JSON")

    other = tmp_path / "mpd.slice.1000-1999.json"
    other.write_text('[{"pid": 1}]')
    (row,) = _quarantine(run_import(store, MPD, other))
    assert "not an MPD slice" in row["reason"]
