"""Similar and radio answer in names: a played track nothing is like yet gets an empty list (not "nobody has
played it"), and a seed that is no music (a podcast show taken for an artist) is refused by its name, never by
a raw id."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tastemaker.api import Workspace

RAW_ID = re.compile(r"\b(?:tr|ar|ep|sh|ab):u?[0-9a-f]{8,}")
SONGS = ["Hey Jude", "Let It Be", "Yesterday", "Help!", "Something", "Come Together"]
SHOW = "Morning Chat"


def _account_export(folder: Path, user: str, rows: list[tuple[str, str, int]]) -> None:
    """An account-data export of ``(artist, title, ms)`` plays for ``user``."""
    path = folder / user / "StreamingHistory0.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [{"endTime": f"2021-03-{1 + i % 27:02d} 10:{i % 60:02d}", "artistName": a, "trackName": t,
                "msPlayed": ms} for i, (a, t, ms) in enumerate(rows)]
    path.write_bytes(gzip.compress(json.dumps(records).encode()))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three listeners of a band; the first also plays a song nobody else plays, again and again, and the
    episodes of a show podcast-metadata names; ALS trained."""
    root = tmp_path_factory.mktemp("names")
    raw = root / "raw"
    for user in ("a", "b", "c"):
        rows = [("The Band", s, 200_000) for s in SONGS for _ in range(2)]
        if user == "a":
            rows += [("Solo Artist", "Lonely Song", 200_000)] * 20
            rows += [(SHOW, day, 1_800_000) for day in ("Monday", "Tuesday", "Wednesday")]
        _account_export(raw, user, rows)
    shows = root / "shows.csv"
    pl.DataFrame({"Parent_Category": "Educational", "Category": "education", "Podcast_Name": [SHOW],
                  "Description": "talk", "Publisher": "p", "Episode_Count": "10", "ID": ["id0"],
                  "Cover_URL": ""}).write_csv(shows)
    ws = Workspace.create(root / "ws")
    ws.import_(raw, "spotify-account")
    ws.import_(shows, "podcasts")
    ws.train("als", factors=4)
    return ws.path


def _tm(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(workspace), *args],
                          check=False, capture_output=True, text=True, timeout=300, env=env)


def test_a_played_track_nothing_is_like_yet_gets_an_empty_list(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    like = ws.similar("Solo Artist - Lonely Song")
    assert like.is_empty() and {"item_id", "name", "artist_name", "reason"} <= set(like.columns)
    assert ws.similar(artist="Solo Artist").is_empty()
    done = _tm(workspace, "similar", "--track", "Solo Artist - Lonely Song")
    assert done.returncode == 0, done.stderr
    assert "nothing is like Lonely Song by Solo Artist yet" in done.stdout
    assert not RAW_ID.search(done.stdout + done.stderr)


def test_no_music_seed_is_refused_by_its_name(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    with pytest.raises(ValueError, match="Monday by Morning Chat") as refused:
        ws.similar(f"{SHOW} - Monday")
    assert not RAW_ID.search(str(refused.value))
    for args in (("radio", "--artist", SHOW), ("similar", "--artist", SHOW)):
        done = _tm(workspace, *args)
        assert done.returncode != 0
        assert SHOW in done.stderr and "unknown artist" in done.stderr, done.stderr
        assert not RAW_ID.search(done.stdout + done.stderr), done.stderr
