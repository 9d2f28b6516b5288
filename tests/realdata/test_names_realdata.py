"""Names on the real Spotify exports, through the real command: radio from an artist by name, search, and
playlist files with Spotify links where the export has URIs."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tastemaker.ingest.identity import artist_id, track_id

pytestmark = pytest.mark.realdata

#: tastemaker's own ids (ingest/identity.py, the Spotify readers)
INTERNAL_ID = re.compile(r"\b(?:tr|ar|ep|sh|ab):u?[0-9a-f]{16}\b")


def tm(workspace: Path, *args: str) -> str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(workspace), *args],
                          check=False, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def basic(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 26 account-data exports imported, ALS trained."""
    ws = tmp_path_factory.mktemp("basic") / "ws"
    tm(ws, "import", "spotify-account", str(shared_data / "spotify-streaming-history-basic" / "raw"), "--json")
    tm(ws, "train", "als")
    return ws


def test_radio_from_an_artist_by_name(basic: Path) -> None:
    radio = json.loads(tm(basic, "radio", "--artist", "Bad Bunny", "--json"))
    assert radio["artist"] == artist_id("Bad Bunny") and len(radio["tracks"]) == 10
    assert all(t["reason"] == "radio from Bad Bunny" for t in radio["tracks"])
    assert all(t["name"] and t["artist_name"] for t in radio["tracks"])
    table = tm(basic, "radio", "--artist", "bad bunny")
    assert "radio from Bad Bunny" in table and not INTERNAL_ID.search(table)


def test_search_finds_acdc_however_it_is_written(basic: Path) -> None:
    for query in ("AC/DC", "acdc", "ac-dc"):
        first = json.loads(tm(basic, "search", query, "--json"))["matches"][0]
        assert (first["kind"], first["name"], first["id"], first["exact"]) == ("artist", "AC/DC", artist_id("AC/DC"),
                                                                              True)
    tracks = json.loads(tm(basic, "search", "AC/DC", "--kind", "track", "--limit", "20", "--json"))["matches"]
    assert len(tracks) == 20 and all(m["by"] == "AC/DC" for m in tracks[:5])


def test_similar_and_radio_take_a_track_by_artist_and_title(basic: Path) -> None:
    seed = track_id("AC/DC", "Back In Black")
    similar = json.loads(tm(basic, "similar", "--track", "AC/DC - Back In Black", "-k", "5", "--json"))
    assert similar["track"] == seed and len(similar["similar"]) == 5
    table = tm(basic, "radio", "--seed", "Back In Black", "-k", "5")
    assert "radio from Back In Black by AC/DC" in table and not INTERNAL_ID.search(table)
    table = tm(basic, "similar", "--artist", "AC/DC", "-k", "5")
    assert "AC/DC" in table and not INTERNAL_ID.search(table)


def test_playlist_files_link_the_tracks_of_an_extended_export_to_spotify(shared_data: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    tm(ws, "import", "spotify-extended", str(shared_data / "spotify-extended-streaming-history-sample" / "raw"),
       "--json")
    tm(ws, "train", "als")
    tm(ws, "playlist", "discover-weekly", "--user", "e01", "--csv", str(tmp_path / "csv"))
    (written,) = (tmp_path / "csv").glob("*.csv")
    with written.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30 and all(r["Track Name"] and r["Artist Name(s)"] for r in rows)
    linked = [r["Track URI"] for r in rows if r["Track URI"]]
    assert len(linked) >= 27 and all(re.fullmatch(r"spotify:track:[0-9A-Za-z]{22}", u) for u in linked)
    tm(ws, "playlist", "discover-weekly", "--all", "--out", str(tmp_path / "batch"))
    docs = [json.loads(line) for line in (tmp_path / "batch" / "playlists.jspf.jsonl").read_text().splitlines()]
    tracks = [t for d in docs for t in d["playlist"]["track"]]
    identified = [t for t in tracks if t.get("identifier")]
    assert len(identified) >= 0.9 * len(tracks)
    assert all(t["identifier"][0].startswith("https://open.spotify.com/track/") for t in identified)
    assert all(t["title"] and t["creator"] for t in tracks)
