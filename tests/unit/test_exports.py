"""Playlist files: JSPF with Spotify links where the catalogue knows them, CSV in Exportify's layout."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import polars as pl

from tastemaker.surfaces.discover_weekly import write_playlists
from tastemaker.surfaces.exports import CSV_COLUMNS, described, file_name, jspf, spotify_url, write_csv

URI = "spotify:track:08mG3Y1vljYA6bvDt4Wqkj"
TRACKS = pl.DataFrame({"track_id": ["tr:1", "tr:2"], "name": ["Back In Black", "Halo"],
                       "artist_id": ["ar:1", "ar:2"], "artist_name": ["AC/DC", "Beyoncé"],
                       "album_name": ["Back In Black", None], "duration_ms": [255_493, None],
                       "release_date": [date(1980, 7, 25), None], "uri": [URI, None], "isrc": [None, None]},
                      schema_overrides={"isrc": pl.String})
PLAYLIST = pl.DataFrame({"user_id": ["u1", "u1"], "position": [1, 2], "track_id": ["tr:1", "tr:2"],
                         "name": ["Back In Black", "Halo"], "artist_name": ["AC/DC", "Beyoncé"],
                         "reason": ["because you played Highway to Hell by AC/DC", "new to you"]})


def test_only_a_spotify_track_uri_becomes_a_link() -> None:
    assert spotify_url(URI) == "https://open.spotify.com/track/08mG3Y1vljYA6bvDt4Wqkj"
    for other in (None, "", "tr:1", "spotify:episode:08mG3Y1vljYA6bvDt4Wqkj", "spotify:track:short"):
        assert spotify_url(other) is None


def test_jspf_names_every_track_and_links_the_ones_with_a_spotify_uri(tmp_path: Path) -> None:
    paths = write_playlists(PLAYLIST, tmp_path, "Discover Weekly", TRACKS)
    (doc,) = [json.loads(line) for line in paths["jspf"].read_text().splitlines()]
    first, second = doc["playlist"]["track"]
    assert doc["playlist"]["title"] == "Discover Weekly for u1"
    assert first == {"title": "Back In Black", "creator": "AC/DC", "album": "Back In Black", "duration": 255_493,
                     "identifier": ["https://open.spotify.com/track/08mG3Y1vljYA6bvDt4Wqkj"],
                     "annotation": "because you played Highway to Hell by AC/DC",
                     "meta": [{"tastemaker:track_id": "tr:1"}]}
    assert "identifier" not in second and (second["title"], second["creator"]) == ("Halo", "Beyoncé")
    assert pl.read_parquet(paths["parquet"]).equals(PLAYLIST)  # the Parquet keeps the playlist as it was


def test_without_a_catalogue_the_jspf_still_names_the_tracks() -> None:
    doc = jspf("Mix", described(PLAYLIST, None))
    assert [t["title"] for t in doc["playlist"]["track"]] == ["Back In Black", "Halo"]
    assert all("identifier" not in t for t in doc["playlist"]["track"])


def test_the_csv_has_exportifys_columns_in_order_with_the_uri_where_known(tmp_path: Path) -> None:
    path = write_csv(described(PLAYLIST, TRACKS), tmp_path / "out" / f"{file_name('Discover Weekly for tm:u:1')}.csv")
    assert path.name == "Discover Weekly for tm_u_1.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(CSV_COLUMNS) == ["Track URI", "Track Name", "Album Name", "Artist Name(s)", "Release Date",
                                           "Duration (ms)", "ISRC"]
    assert rows[1] == [URI, "Back In Black", "Back In Black", "AC/DC", "1980-07-25", "255493", ""]
    assert rows[2][:4] == ["", "Halo", "", "Beyoncé"]
