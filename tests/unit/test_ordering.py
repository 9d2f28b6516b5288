"""Playlist ordering: the same rows, smoother transitions, artists spaced, the Camelot wheel."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from tastemaker.simulate import World, WorldConfig
from tastemaker.simulate.tables import audio_features_table, tracks_table
from tastemaker.surfaces.ordering import NEUTRAL, TransitionWeights, camelot, order_playlist, transition_cost

KEY_ONLY = TransitionWeights(tempo=0.0, energy=0.0, key=1.0)
TEMPO_ONLY = TransitionWeights(tempo=1.0, energy=0.0, key=0.0)


def _features(tempo: list[float], energy: list[float] | None = None, key: list[int] | None = None,
              mode: list[int] | None = None) -> pl.DataFrame:
    n = len(tempo)
    return pl.DataFrame({"track_id": [f"t{i}" for i in range(n)], "tempo": tempo,
                         "energy": energy or [0.5] * n, "key": key or [0] * n, "mode": mode or [1] * n,
                         "danceability": [0.5] * n})


def _pair(features: pl.DataFrame, a: int, b: int, weights: TransitionWeights) -> float:
    return transition_cost(pl.DataFrame({"item_id": [f"t{a}", f"t{b}"]}), features, weights)


def _random_list(rng: np.random.Generator, artists: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = len(artists)
    features = pl.DataFrame({"track_id": [f"t{i}" for i in range(n)], "tempo": rng.uniform(60, 180, n),
                             "energy": rng.uniform(0, 1, n), "key": rng.integers(-1, 12, n),
                             "mode": rng.integers(0, 2, n)})
    playlist = pl.DataFrame({"item_id": [f"t{i}" for i in range(n)], "artist_id": artists,
                             "score": np.linspace(1.0, 0.0, n)})
    return playlist, features


def _closest_repeat(artists: list[str]) -> int:
    """The fewest places between two tracks of one artist (a large number when none repeats)."""
    seen: dict[str, int] = {}
    closest = 10**9
    for place, artist in enumerate(artists):
        if artist in seen:
            closest = min(closest, place - seen[artist])
        seen[artist] = place
    return closest


def test_the_order_is_a_permutation_that_keeps_every_column() -> None:
    rng = np.random.default_rng(3)
    playlist, features = _random_list(rng, [f"a{i % 7}" for i in range(20)])
    playlist = playlist.with_columns(pl.lit("because").alias("reason"),
                                     pl.int_range(20, 0, -1).alias("position"),
                                     pl.Series("extra", [[i] for i in range(20)]))
    ordered = order_playlist(playlist, features)
    assert ordered.columns == playlist.columns  # position replaced where it stood
    assert ordered["position"].to_list() == list(range(1, 21))
    assert ordered.drop("position").sort("item_id").equals(playlist.drop("position").sort("item_id"))
    assert ordered["item_id"].to_list() != playlist["item_id"].to_list()
    fresh = order_playlist(playlist.drop("position"), features)
    assert fresh.columns == ["position", *playlist.drop("position").columns]


def test_camelot_codes_of_known_keys() -> None:
    assert camelot(0, 1) == "8B"  # C major
    assert camelot(9, 0) == "8A"  # A minor, its relative minor
    assert camelot(7, 1) == "9B" and camelot(4, 0) == "9A"  # G major, E minor: a fifth up
    assert camelot(6, 1) == "2B" and camelot(2, 0) == "7A"  # F♯ major, D minor
    assert camelot(-1, 1) is None and camelot(0, 2) is None


def test_key_costs_follow_the_camelot_wheel() -> None:
    # C major 8B, A minor 8A, E minor 9A, G major 9B, D major 10B, F♯ major 2B, E♭ minor 2A, unknown
    features = _features([120.0] * 8, key=[0, 9, 4, 7, 2, 6, 3, -1], mode=[1, 0, 0, 1, 1, 1, 0, 1])
    assert _pair(features, 0, 1, KEY_ONLY) == 0.0  # 8B ↔ 8A: relative major/minor
    assert _pair(features, 1, 2, KEY_ONLY) == 0.0  # 8A ↔ 9A: neighbours
    assert _pair(features, 0, 3, KEY_ONLY) == 0.0  # 8B ↔ 9B
    assert _pair(features, 0, 0, KEY_ONLY) == 0.0
    assert _pair(features, 0, 4, KEY_ONLY) == pytest.approx(1 / 6)  # two steps
    assert _pair(features, 1, 3, KEY_ONLY) == pytest.approx(1 / 6)  # 8A → 9B: one step and a switch
    assert _pair(features, 0, 5, KEY_ONLY) == pytest.approx(5 / 6)  # across the wheel
    assert _pair(features, 0, 6, KEY_ONLY) == pytest.approx(1.0)  # across and the other mode
    assert _pair(features, 6, 0, KEY_ONLY) == _pair(features, 0, 6, KEY_ONLY)
    assert _pair(features, 0, 7, KEY_ONLY) == NEUTRAL


def test_half_and_double_tempo_are_compatible() -> None:
    features = _features([60.0, 120.0, 90.0, 180.0, 100.0, 110.0, 150.0, 0.0, 200.0])
    assert _pair(features, 0, 1, TEMPO_ONLY) == 0.0
    assert _pair(features, 3, 2, TEMPO_ONLY) == 0.0
    assert _pair(features, 4, 5, TEMPO_ONLY) == pytest.approx((10 / 110) / 0.3)
    assert _pair(features, 4, 6, TEMPO_ONLY) == pytest.approx((50 / 200) / 0.3)  # closest to 2 × 100
    assert _pair(features, 0, 6, TEMPO_ONLY) == pytest.approx((30 / 150) / 0.3)  # 2 × 60 = 120
    assert _pair(features, 0, 8, TEMPO_ONLY) == 1.0  # 60 → 200 is far at any speed
    assert _pair(features, 4, 7, TEMPO_ONLY) == NEUTRAL  # tempo 0: unknown


def test_the_cost_is_the_weighted_mean_of_its_parts() -> None:
    features = _features([100.0, 110.0], energy=[0.2, 0.8], key=[0, 2], mode=[1, 1])
    tempo, energy, key = (10 / 110) / 0.3, 0.6, 1 / 6
    assert _pair(features, 0, 1, TransitionWeights()) == pytest.approx((tempo + energy + key) / 3)
    weights = TransitionWeights(tempo=2.0, energy=1.0, key=0.0)
    assert _pair(features, 0, 1, weights) == pytest.approx((2 * tempo + energy) / 3)
    three = pl.DataFrame({"item_id": ["t0", "t1", "t0"]})
    assert transition_cost(three, features) == pytest.approx((tempo + energy + key) / 3)
    assert transition_cost(three.head(1), features) == 0.0


@pytest.fixture(scope="module")
def world_lists() -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """30-track lists of 20 listeners' best-matching tracks, two per artist at most, and the features."""
    world = World(WorldConfig(seed=0, n_users=200))
    tracks = pl.DataFrame(tracks_table(world.catalog, world.config.start)).select(
        pl.col("track_id").alias("item_id"), "artist_id")
    every = np.arange(tracks.height)
    lists = [tracks.with_columns(pl.Series("score", world.match(np.full(every.size, user), every)))
             .sort("score", descending=True)
             .filter(pl.int_range(pl.len()).over("artist_id") < 2)
             .head(30) for user in range(20)]
    return lists, pl.DataFrame(audio_features_table(world.catalog))


def test_ordering_smooths_generated_playlists(world_lists: tuple[list[pl.DataFrame], pl.DataFrame]) -> None:
    lists, features = world_lists
    before, after = [], []
    for playlist in lists:
        ordered = order_playlist(playlist, features, artist_gap=3)
        assert sorted(ordered["item_id"].to_list()) == sorted(playlist["item_id"].to_list())
        assert ordered["item_id"][0] == playlist["item_id"][0]
        assert _closest_repeat(ordered["artist_id"].to_list()) > 3
        before.append(transition_cost(playlist, features))
        after.append(transition_cost(ordered, features))
    assert all(a < b for a, b in zip(after, before, strict=True))
    # measured: 0.33 in relevance order, 0.13 ordered
    assert np.mean(after) < 0.5 * np.mean(before)


def test_artist_spacing_holds_whenever_the_list_allows_it() -> None:
    rng, draw = np.random.default_rng(0), random.Random(0)
    for _ in range(150):
        gap = draw.randint(1, 4)
        counts = [draw.choice([1, 1, 2, 3, 4]) for _ in range(draw.randint(1, 6))]
        artists = [f"a{a}" for a, c in enumerate(counts) for _ in range(c)]
        draw.shuffle(artists)
        most = max(counts)
        top = artists.index(f"a{counts.index(most)}")  # the most played artist opens: keeping it is free
        artists[0], artists[top] = artists[top], artists[0]
        spaceable = len(artists) >= (most - 1) * (gap + 1) + counts.count(most)  # the task-scheduler bound
        playlist, features = _random_list(rng, artists)
        for keep_first in (True, False):
            ordered = order_playlist(playlist, features, artist_gap=gap, keep_first=keep_first)
            closest = _closest_repeat(ordered["artist_id"].to_list())
            assert (closest > gap) == spaceable, (artists, gap, ordered["artist_id"].to_list())


def test_a_tight_list_is_spaced_exactly() -> None:
    playlist, features = _random_list(np.random.default_rng(1), list("ccaaabbb"))
    ordered = order_playlist(playlist, features, artist_gap=2, keep_first=False)
    assert ordered["artist_id"].to_list() in (["a", "b", "c", "a", "b", "c", "a", "b"],
                                              ["b", "a", "c", "b", "a", "c", "b", "a"])


def test_spacing_degrades_gracefully_when_the_list_cannot_keep_the_gap() -> None:
    rng = np.random.default_rng(2)
    artists = ["x"] * 8 + [f"s{i}" for i in range(12)]
    random.Random(2).shuffle(artists)
    playlist, features = _random_list(rng, artists)
    ordered = order_playlist(playlist, features, artist_gap=3)["artist_id"].to_list()
    assert _closest_repeat(ordered) == 2  # 8 of 20 cannot keep 3 apart, nor 2, but never back to back
    alone = order_playlist(playlist.with_columns(pl.lit("x").alias("artist_id")), features, artist_gap=3)
    assert sorted(alone["item_id"].to_list()) == sorted(playlist["item_id"].to_list())


def test_without_features_the_relevance_order_only_makes_room_between_artists() -> None:
    playlist = pl.DataFrame({"item_id": ["t0", "t1", "t2", "t3", "t4"],
                             "artist_id": ["a", "a", "b", "c", "d"]})
    assert order_playlist(playlist, artist_gap=2)["item_id"].to_list() == ["t0", "t2", "t3", "t1", "t4"]
    assert order_playlist(playlist, artist_gap=0)["item_id"].to_list() == ["t0", "t1", "t2", "t3", "t4"]
    no_artists = playlist.drop("artist_id")
    assert order_playlist(no_artists, artist_gap=3)["item_id"].to_list() == ["t0", "t1", "t2", "t3", "t4"]


def test_tracks_without_features_are_placed_at_a_neutral_cost() -> None:
    features = _features([100.0, 200.0, 101.0, 150.0], energy=[0.1, 0.9, 0.12, 0.5])
    playlist = pl.DataFrame({"item_id": ["t0", "t1", "new1", "t2", "new2", "t3"]})
    ordered = order_playlist(playlist, features, artist_gap=0)
    assert sorted(ordered["item_id"].to_list()) == sorted(playlist["item_id"].to_list())
    assert ordered["item_id"][:2].to_list() == ["t0", "t2"]  # the near twin comes next
    unknown = pl.DataFrame({"item_id": ["new1", "new2", "t0"]})
    assert transition_cost(unknown.head(2), features) == NEUTRAL
    assert transition_cost(unknown.tail(2), features) == NEUTRAL


def test_keep_first_holds_the_opening_track_or_frees_it() -> None:
    # energies on a line: from the middle the path must turn back once; free, it runs end to end
    features = _features([120.0] * 5, energy=[0.5, 0.0, 0.1, 0.9, 1.0])
    playlist = pl.DataFrame({"item_id": [f"t{i}" for i in range(5)]})
    kept = order_playlist(playlist, features)
    free = order_playlist(playlist, features, keep_first=False)
    assert kept["item_id"][0] == "t0" and free["item_id"][0] != "t0"
    assert free["item_id"].to_list() in (["t1", "t2", "t0", "t3", "t4"], ["t4", "t3", "t0", "t2", "t1"])
    assert transition_cost(free, features) < transition_cost(kept, features)


def test_the_order_is_deterministic_and_ties_keep_the_relevance_order() -> None:
    playlist, features = _random_list(np.random.default_rng(4), [f"a{i % 9}" for i in range(40)])
    first = order_playlist(playlist, features)
    assert first.equals(order_playlist(playlist, features))
    assert first.equals(order_playlist(playlist, features.reverse()))  # the features' row order is irrelevant
    same = features.with_columns(pl.lit(120.0).alias("tempo"), pl.lit(0.5).alias("energy"),
                                   pl.lit(5).alias("key"), pl.lit(1).alias("mode"))
    assert order_playlist(playlist, same, artist_gap=0)["item_id"].to_list() == playlist["item_id"].to_list()


def test_bad_input_is_refused_with_the_fix() -> None:
    playlist, features = _random_list(np.random.default_rng(5), ["a", "b", "c"])
    with pytest.raises(ValueError, match="item_id"):
        order_playlist(playlist.drop("item_id"), features)
    with pytest.raises(ValueError, match="artist_gap must be a whole number >= 0"):
        order_playlist(playlist, features, artist_gap=-1)
    with pytest.raises(ValueError, match="artist_gap"):
        order_playlist(playlist, features, artist_gap=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tempo"):
        order_playlist(playlist, features.drop("tempo"))
    with pytest.raises(ValueError, match="item_id"):
        transition_cost(playlist.drop("item_id"), features)
    with pytest.raises(TypeError, match="polars DataFrame"):
        order_playlist(playlist.to_dicts(), features)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weights"):
        TransitionWeights(tempo=-1.0)
    with pytest.raises(ValueError, match="weights"):
        TransitionWeights(0.0, 0.0, 0.0)
