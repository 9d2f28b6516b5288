"""Home's track shelves come from the listener's music: an episode they played is no "Jump back in" track."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from tastemaker.api import Workspace

RAW_ID = re.compile(r"\b(?:tr|ar|ep|sh|ab):u?[0-9a-f]{8,}")
BANDS = {f"Band {b}": [f"Song {b}{i}" for i in range(6)] for b in "ABCD"}


def _record(ts: str, artist: str | None = None, title: str | None = None, show: str | None = None,
            episode: str | None = None, ms: int = 200_000) -> dict[str, object]:
    return {"ts": ts, "ms_played": ms, "master_metadata_track_name": title, "master_metadata_album_artist_name": artist,
            "master_metadata_album_album_name": "An Album" if title else None, "episode_name": episode,
            "episode_show_name": show, "conn_country": "SE", "platform": "ios", "skipped": None}


def _exports(folder: Path) -> Path:
    """Five listeners of two bands each (extended exports); the first then listens to a show every day,
    its episodes played more and more lately than any song."""
    for n, (bands, day) in enumerate([("AB", 1), ("BC", 2), ("CD", 3), ("AD", 4), ("AC", 5)]):
        rows = [_record(f"2024-01-{day:02d}T1{rep}:{i:02d}:00Z", f"Band {b}", title)
                for b in bands for i, title in enumerate(BANDS[f"Band {b}"]) for rep in range(3)]
        if n == 0:
            rows += [_record(f"2024-02-{d:02d}T0{rep}:00:00Z", show="Morning Talk", episode=f"Episode {d}", ms=1_800_000)
                     for d in range(1, 13) for rep in range(4)]
        (folder / f"l{n}").mkdir(parents=True)
        (folder / f"l{n}" / "Streaming_History_Audio_2024.json").write_text(json.dumps(rows))
    return folder


def test_home_track_shelves_hold_no_episode_and_name_no_raw_id(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ws.import_(_exports(tmp_path / "raw"), "spotify-extended")
    ws.train("als", factors=8)
    page = ws.home("l0")
    episodes = set(ws.store.entities("episodes")["episode_id"])
    assert len(episodes) == 12
    tracks = page.filter(pl.col("kind") == "track")
    jump = tracks.filter(pl.col("shelf") == "jump-back-in")
    assert jump.height and episodes.isdisjoint(tracks["item_id"])
    assert set(jump["subtitle"]) <= {"Band A", "Band B"}
    for column in ("shelf_title", "title", "subtitle", "reason"):
        texts = page[column].drop_nulls().to_list()
        assert not [t for t in texts if RAW_ID.search(t)], column
