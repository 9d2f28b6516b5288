"""Home's *Because you played X* falls back from a latest favourite nothing is like yet to the next one."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tastemaker.api import Workspace


def _record(ts: str, artist: str, title: str) -> dict[str, object]:
    return {"ts": ts, "ms_played": 200_000, "master_metadata_track_name": title,
            "master_metadata_album_artist_name": artist, "master_metadata_album_album_name": "An Album",
            "conn_country": "SE", "platform": "ios", "skipped": None}


def _exports(folder: Path) -> Path:
    """Seven listeners of Band A and two other bands each (pairs share them); the first knows half of Band A
    alone, then loops a song only they play."""
    band = {b: [f"Song {b}{i}" for i in range(6)] for b in "ABCDEFG"}
    others = ["BC", "BC", "DE", "DE", "FG", "FG"]
    for n in range(7):
        if n == 0:
            rows = [_record(f"2024-01-01T1{rep}:{i:02d}:00Z", "Band A", t) for i, t in enumerate(band["A"][:3])
                    for rep in range(3)]
            rows += [_record(f"2024-02-01T1{rep}:00:00Z", "Only Mine", "Lonely Song") for rep in range(10)]
        else:
            rows = [_record(f"2024-01-0{n + 1}T1{rep}:{i:02d}:00Z", f"Band {b}", t)
                    for b in "A" + others[n - 1] for i, t in enumerate(band[b]) for rep in range(2)]
        (folder / f"l{n}").mkdir(parents=True)
        (folder / f"l{n}" / "Streaming_History_Audio_2024.json").write_text(json.dumps(rows))
    return folder


def test_because_you_played_is_seeded_by_the_latest_favourite_with_tracks_like_it(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ws.import_(_exports(tmp_path / "raw"), "spotify-extended")
    ws.train("als", factors=8)
    assert ws.similar(track="Lonely Song").is_empty()  # only one listener: nothing is like it yet
    page = ws.home("l0")
    because = page.filter(pl.col("shelf").str.starts_with("because-"))
    assert because.height >= 3
    title = because["shelf_title"][0]
    assert title.startswith("Because you played Song A") and "Lonely Song" not in title
