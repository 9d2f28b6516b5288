"""Import of audio-feature tables (Spotify Hit Predictor CSVs): real data, the join, malformed input."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from summaries import counts as _counts, quarantine_rows as _quarantine
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import artist_id, track_id
from tastemaker.store import Store

FEATURES = FORMATS["audio-features"]
HEADER = (
    "track,artist,uri,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,"
    "liveness,valence,tempo,duration_ms,time_signature,chorus_hit,sections,target"
)


@pytest.mark.realdata
def test_real_hit_predictor_counts_and_values(store: Store, shared_data: Path) -> None:
    path = shared_data / "spotify-hit-predictor-audio-features"
    summary = run_import(store, FEATURES, path)
    # 41,106 rows in six files; 420 rows repeat an earlier row exactly (the same song listed
    # with the same features and label in two decades), so they are duplicates.
    assert summary.files == 6 and _counts(summary) == (41106, 40686, 420, 0)
    assert summary.read == summary.accepted + summary.duplicates + summary.quarantined

    again = run_import(store, FEATURES, path)
    assert _counts(again) == (41106, 0, 41106, 0)
    assert store.count("audio_features") == 40686

    features = store.entities("audio_features")
    assert features.height == 39916  # distinct canonical (artist, title) ids
    key = track_id("Montgomery Gentry", "Lucky Man")
    lucky = features.filter(pl.col("track_id") == key).row(0, named=True)
    assert lucky["tempo"] == pytest.approx(133.061)
    assert lucky["danceability"] == pytest.approx(0.578) and lucky["loudness"] == pytest.approx(-7.27)
    assert (lucky["key"], lucky["mode"], lucky["time_signature"], lucky["hit"]) == (4, 1, 4, True)
    assert lucky["uri"] == "spotify:track:4GiXBCUF7H6YfNQsnBRIzl"

    track = store.entities("tracks").filter(pl.col("track_id") == key).row(0, named=True)
    assert (track["name"], track["artist_name"]) == ("Lucky Man", "Montgomery Gentry")
    assert track["duration_ms"] == 196707
    assert track["artist_id"] == artist_id("Montgomery Gentry") and track["uri"] == lucky["uri"]
    assert features.filter(pl.col("hit")).height > 15000


@pytest.mark.realdata
def test_features_land_on_tracks_that_listening_events_reference(store: Store, shared_data: Path) -> None:
    u001 = shared_data / "spotify-streaming-history-basic" / "raw" / "u001"
    account = run_import(store, FORMATS["spotify-account"], u001, ReadOptions(user="u001"))
    assert account.accepted > 30000
    run_import(store, FEATURES, shared_data / "spotify-hit-predictor-audio-features")
    events = store.events().filter(pl.col("item_kind") == "track").select("item_id").collect()
    with_features = store.entities("audio_features").select(pl.col("track_id").alias("item_id"))
    featured = events.join(with_features, on="item_id")
    # Joined by names alone (the account export has no URIs): 390 of u001's tracks, 5,128 plays.
    assert featured["item_id"].n_unique() == 390
    assert featured.height == 5128


def test_malformed_rows_are_quarantined_with_the_column(store: Store, tmp_path: Path) -> None:
    good = "0.5,0.6,4,-7.2,1,0.03,0.3,0,0.1,0.5,120.0,200000,4,30.1,10"
    rows = [
        f"Good Song,Good Artist,spotify:track:good,{good},1",  # 1 ok
        f"No Artist,,,{good},0",  # 2 missing artist, no uri
        f",Some Artist,,{good},0",  # 3 missing track, no uri
        f",,spotify:track:urionly,{good},0",  # 4 ok: keyed by uri
        f"Slow,Artist B,spotify:track:b,{good.replace('120.0', 'fast')},0",  # 5 tempo
        f"Key,Artist C,spotify:track:c,{good.replace(',4,-7.2', ',4.5,-7.2')},0",  # 6 key not whole
        f"Label,Artist D,spotify:track:d,{good},2",  # 7 target
        f"Chorus,Artist E,spotify:track:e,{good.replace('30.1', 'n/a')},0",  # 8 chorus_hit
        f"Flop Song,Good Artist,spotify:track:flop,{good},0",  # 9 ok
    ]
    (tmp_path / "audio_features_test.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    summary = run_import(store, FEATURES, tmp_path)
    assert _counts(summary) == (9, 3, 0, 6)

    assert {r["line"]: r["reason"] for r in _quarantine(summary)} == {
        2: "missing 'artist' (and no 'uri' to key by)",
        3: "missing 'track' (and no 'uri' to key by)",
        5: "column 'tempo' is not a number",
        6: "column 'key' is not a whole number",
        7: "column 'target' is not 0 or 1",
        8: "column 'chorus_hit' is not a number",
    }
    stored = store.entities("audio_features").sort("uri")
    assert stored["uri"].to_list() == ["spotify:track:flop", "spotify:track:good", "spotify:track:urionly"]
    by_uri = stored.filter(pl.col("uri") == "spotify:track:urionly")["track_id"].item()
    assert by_uri.startswith("tr:u") and len(by_uri) == 20
    by_name = stored.filter(pl.col("uri") == "spotify:track:good")["track_id"].item()
    assert by_name == track_id("Good Artist", "Good Song")
    assert store.entities("artists")["name"].to_list() == ["Good Artist"]


def test_file_without_key_columns_is_one_reject(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "dataset-of-20s.csv"
    path.write_text("song,singer,tempo\nA,B,120\nC,D,130\n")
    summary = run_import(store, FEATURES, path)
    assert _counts(summary) == (1, 0, 0, 1)
    (row,) = _quarantine(summary)
    assert row["line"] is None and "no 'uri' or 'track'+'artist' columns" in row["reason"]
