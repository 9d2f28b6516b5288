"""A radio started from a playlist is called by the playlist's name, and its queue names every track."""

from __future__ import annotations

import polars as pl

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.surfaces import lists


def test_a_playlist_radio_goes_by_the_playlists_name(store) -> None:  # type: ignore[no-untyped-def]
    users, tracks = [f"u{u}" for u in range(6)], [f"t{t}" for t in range(12)]
    plays = [(u, t) for i, u in enumerate(users) for t in tracks[i % 3 * 4:i % 3 * 4 + 6]]
    store.append({"events": pl.DataFrame({
        "row_id": range(len(plays)), "user_id": [u for u, _ in plays], "item_id": [t for _, t in plays],
        "type": ["play"] * len(plays), "item_kind": ["track"] * len(plays),
        "playlist_id": ["mpd:1" if t in ("t0", "t1") else None for _, t in plays]}),
        "tracks": pl.DataFrame({"row_id": range(12), "track_id": tracks, "name": [f"Song {t}" for t in tracks],
                                "artist_id": [f"a{i % 4}" for i in range(12)],
                                "artist_name": [f"Band {i % 4}" for i in range(12)]}),
        "playlists": pl.DataFrame({"row_id": [0], "playlist_id": ["mpd:1"], "name": ["Road Trip"]})})
    model = create("als", factors=4, iterations=3).fit(TrainingData.from_store(store))
    queue, title = lists.radio(store, model, playlist="mpd:1", k=3)
    assert title == "the playlist Road Trip"
    assert set(queue["reason"]) == {"radio from the playlist Road Trip"}
    assert queue["name"].str.starts_with("Song ").all() and queue["artist_name"].str.starts_with("Band ").all()
