"""Radio: close to the seed, steered by the session, no repeats."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tastemaker.surfaces.chains import Rules, Spread
from tastemaker.surfaces.radio import Played, Radio

# a seed between two groups: "a*" tracks lean one way, "b*" tracks the other
IDS = ["seed", "a1", "a2", "a3", "b1", "b2", "b3"]
VECTORS = np.array([[1.0, 1.0], [1.0, 0.6], [1.0, 0.5], [1.0, 0.4], [0.6, 1.0], [0.5, 1.0], [0.4, 1.0]])


def test_a_skip_steers_away_from_tracks_like_the_skipped_one() -> None:
    radio = Radio(IDS, VECTORS, like=0.5, skip=1.0)
    before = radio.next_tracks("seed", [], k=6)["item_id"].to_list()
    after = radio.next_tracks("seed", [Played("a1", skipped=True)], k=3)["item_id"].to_list()
    assert set(before) == set(IDS) - {"seed"}
    assert set(after) == {"b1", "b2", "b3"}
    kept = radio.next_tracks("seed", [Played("a1", skipped=False)], k=2)["item_id"].to_list()
    assert kept == ["a2", "a3"]


def test_no_track_twice_and_artists_spaced() -> None:
    artists = ["x", "x", "x", "y", "y", "z", "z"]
    radio = Radio(IDS, VECTORS, artists, chain=(Rules(), Spread("artist_id", 1)))
    queue = radio.next_tracks("seed", [Played("b1", skipped=False)], k=4)
    names = queue["item_id"].to_list()
    assert "seed" not in names and "b1" not in names and len(set(names)) == len(names)
    spaced = [artists[IDS.index(i)] for i in names]
    assert all(a != b for a, b in itertools.pairwise(spaced))
    with pytest.raises(KeyError, match="unknown track"):
        radio.next_tracks("nope")


def test_several_seeds_start_from_their_common_direction_and_none_is_played() -> None:
    radio = Radio(IDS, VECTORS)
    queue = radio.next_tracks(["b1", "b2", "unknown"], k=3, label="artist B")
    assert queue["item_id"].to_list() == ["b3", "seed", "a1"]
    assert set(queue["reason"]) == {"radio from artist B"}
    assert radio.next_tracks(["a1", "a2"], k=1)["item_id"].to_list() == ["a3"]
    with pytest.raises(KeyError, match="unknown track"):
        radio.next_tracks(["nope", "never"])


def test_an_artists_radio_plays_the_artist_spaced_out() -> None:
    ids = ["m1", "m2", "m3", "o1", "o2", "o3", "o4"]  # the artist's tracks lean one way, the others near them
    vectors = np.array([[1.0, 0.1], [1.0, 0.2], [1.0, 0.0], [1.0, 0.3], [1.0, 0.35], [1.0, 0.4], [0.9, 0.5]])
    artists = ["me", "me", "me", "o", "p", "q", "r"]
    radio = Radio(ids, vectors, artists, chain=(Rules(), Spread("artist_id", 1)))
    seeds = ["m1", "m2", "m3"]
    plain = radio.next_tracks(seeds, k=4)["item_id"].to_list()
    assert not set(plain) & set(seeds)  # a playlist's radio plays none of its tracks
    mine = radio.next_tracks(seeds, k=5, play_seeds=True)["item_id"].to_list()
    assert mine[0] in seeds and mine[4] in seeds and not set(mine[1:4]) & set(seeds)  # every fourth place
    assert mine[0] == "m1"  # the artist's track closest to the radio's direction opens it
    spaced = [artists[ids.index(i)] for i in mine]
    assert all(a != b for a, b in itertools.pairwise(spaced))
