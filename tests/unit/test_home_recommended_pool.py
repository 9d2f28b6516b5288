"""Home's "Recommended for you" survives a model that ranks a whole artist together: its pool goes deep enough
to hold other artists, two tracks of each at most (the pipeline's artist member put one artist's tracks at the
top 40 of 5 of the 28 real listeners, and the shelf, capped to two cards of that artist, was dropped)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from tastemaker.surfaces.home import HomeSources, home, standard_shelves

#: one artist with 60 tracks the model ranks first, then 20 artists with one track each
TRACKS = pl.DataFrame({"track_id": [f"t{i}" for i in range(80)], "name": [f"Song {i}" for i in range(80)],
                       "artist_id": ["a0"] * 60 + [f"a{i}" for i in range(1, 21)],
                       "artist_name": ["Big Artist"] * 60 + [f"Artist {i}" for i in range(1, 21)]})


class WholeArtist:
    """Ranks every track of the listener's favourite artist above anything else (as an artist model does)."""

    name = "whole-artist"
    item_ids = np.array(TRACKS["track_id"].to_list())

    def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        ids = [i for i in self.item_ids.tolist() if exclude is None or i not in set(exclude["item_id"])][:k]
        return pl.DataFrame({"user_id": [user_ids[0]] * len(ids), "item_id": ids,
                             "score": np.linspace(1.0, 0.0, len(ids)), "rank": np.arange(1, len(ids) + 1)})

    def item_vectors(self) -> np.ndarray:
        return np.random.default_rng(3).normal(size=(len(self.item_ids), 8))


def test_recommended_for_you_reaches_past_one_artists_tracks() -> None:
    history = pl.DataFrame({"item_id": ["t0", "t1"], "weight": [5.0, 3.0], "recency": [5.0, 3.0],
                            "last_ts": [datetime(2024, 1, 2)] * 2, "artist_id": ["a0", "a0"]})
    shelves, relevance = standard_shelves("u", HomeSources(WholeArtist(), history, TRACKS))
    page = home("u", shelves, relevance, cards=10)
    shelf = page.filter(pl.col("shelf") == "recommended")
    assert shelf.height >= 3
    assert shelf.group_by("subtitle").len()["len"].max() <= 2
    assert shelf["subtitle"].n_unique() >= 3
