"""Similarity with support: shrinkage by shared listeners, the minimum support, fallbacks and their basis,
and neighbours found through the listeners (no item × item matrix)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import polars as pl
import pytest

from tastemaker.candidates.similarity import CoListening, Vectors
from tastemaker.errors import NotFittedError
from tastemaker.surfaces.radio import Radio
from tastemaker.surfaces.similar import similar_artists


def _listening(audiences: dict[str, list[int]]) -> pl.DataFrame:
    """``user_id, item_id`` rows: item -> the numbers of its listeners."""
    return pl.DataFrame([{"user_id": f"u{u}", "item_id": item} for item, users in audiences.items() for u in users])


# seed s has 4 listeners; "niche" shares 2 of them (and has no others), "broad" shares all 4 (and has 5 more),
# "single" shares one
WORLD = _listening({"s": [0, 1, 2, 3], "niche": [0, 1], "broad": [0, 1, 2, 3, 4, 5, 6, 7, 8], "single": [3, 9]})


def test_score_is_cosine_shrunk_by_shared_listeners_which_the_rows_carry() -> None:
    found = CoListening(shrinkage=5.0, min_shared=2, blend=0.0).fit(WORLD).similar_items("s", k=5)
    assert found["item_id"].to_list() == ["broad", "niche"]  # shrinkage puts 4 shared before 2
    assert found["shared_listeners"].to_list() == [4, 2] and set(found["basis"]) == {"co-listeners"}
    assert found["score"].to_list() == pytest.approx([4 / np.sqrt(4 * 9) * 4 / 9, 2 / np.sqrt(4 * 2) * 2 / 7])
    plain = CoListening(shrinkage=0.0, min_shared=2, blend=0.0).fit(WORLD).similar_items("s", k=5)
    assert plain["item_id"].to_list() == ["niche", "broad"]  # unshrunk cosine prefers the small audience
    assert ((plain["score"] >= 0) & (plain["score"] <= 1)).all()


def test_pairs_below_the_minimum_support_are_not_similar() -> None:
    def ids(min_shared: int) -> list[str]:
        return CoListening(min_shared=min_shared).fit(WORLD).similar_items("s", k=5)["item_id"].to_list()

    assert "single" not in ids(2) and "single" in ids(1)
    assert ids(3) == ["broad"]
    assert ids(5) == []  # nothing shares five: no list rather than strangers' plays


def test_model_vectors_blend_in_only_where_support_is_enough() -> None:
    # the model calls "single" identical to the seed; it still needs two shared listeners to count
    vectors = Vectors(["s", "niche", "broad", "single"], np.array([[1.0, 0], [0, 1.0], [1.0, 0.2], [1.0, 0]]))
    sim = CoListening(shrinkage=5.0, min_shared=2, blend=0.5).fit(WORLD, vectors=vectors)
    found = sim.similar_items("s", k=5)
    assert found["item_id"].to_list() == ["broad", "niche"]
    broad = 0.5 * 4 / 6 + 0.5 * 1 / np.sqrt(1.04)
    assert found["score"][0] == pytest.approx(broad * 4 / 9)
    assert found["score"][1] == pytest.approx(0.5 * 2 / np.sqrt(8) * 2 / 7)  # orthogonal vectors: half the cosine


def test_a_sparse_track_falls_back_to_its_artist_then_to_content_and_says_so() -> None:
    listening = _listening({"lonely": [0], "a-hit": [1, 2, 3], "a-deep": [1, 2], "b-hit": [1, 2, 3, 4],
                            "c-hit": [7, 8], "orphan": [9], "sounds-like": [5]})
    artists = {"lonely": "A", "a-hit": "A", "a-deep": "A", "b-hit": "B", "c-hit": "C", "sounds-like": "D"}
    audio = Vectors(["orphan", "sounds-like", "c-hit"], np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]))
    sim = CoListening(shrinkage=5.0, min_shared=2).fit(listening, artists, content=audio)
    found = sim.similar_items("lonely", k=4)
    # A's own tracks, most played first, at A's self-similarity; then B, whose listeners overlap A's on 3
    assert found["item_id"].to_list() == ["a-hit", "a-deep", "b-hit"]
    assert set(found["basis"]) == {"artist"} and found["shared_listeners"].to_list() == [4, 4, 3]
    assert found["score"][0] == pytest.approx(4 / 9)
    assert found["score"][2] == pytest.approx(3 / np.sqrt(4 * 4) * 3 / 8)
    lone = sim.similar_items("orphan", k=3)  # no artist, no co-listener: audio features
    assert lone["item_id"].to_list() == ["sounds-like"] and lone["basis"].to_list() == ["content"]
    assert lone["shared_listeners"].is_null().all()
    assert sim.similar_items("never-played", k=3).is_empty()


def test_similar_artists_need_support_and_unknown_artists_are_refused() -> None:
    listening = _listening({"a1": [0, 1, 2], "b1": [0, 1, 2], "c1": [2], "d1": [5, 6]})
    sim = CoListening(shrinkage=1.0, min_shared=2).fit(listening, {"a1": "A", "b1": "B", "c1": "C", "d1": "D"})
    like = similar_artists("A", sim, k=5)
    assert like.columns == ["artist_id", "score", "shared_listeners", "basis", "rank"]
    assert like["artist_id"].to_list() == ["B"] and like["score"][0] == pytest.approx(1.0 * 3 / 4)
    with pytest.raises(KeyError, match="unknown artist"):
        similar_artists("Z", sim)
    with pytest.raises(ValueError, match="k must be"):
        similar_artists("A", sim, k=0)


def test_no_support_and_full_blend_is_the_models_cosine_of_listener_weighted_artist_vectors() -> None:
    rng = np.random.default_rng(3)
    users, items = 60, 40
    rows = [(f"u{u}", f"t{i:02d}") for u in range(users) for i in rng.choice(items, 6, replace=False)]
    listening = pl.DataFrame(rows, schema=["user_id", "item_id"], orient="row")
    assert listening["item_id"].n_unique() == items
    ids = [f"t{i:02d}" for i in range(items)]
    artists = {t: f"a{int(t[1:]) % 8}" for t in ids}
    vectors = rng.normal(size=(items, 5))
    sim = CoListening(shrinkage=0.0, min_shared=0, blend=1.0).fit(listening, artists, Vectors(ids, vectors))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    listeners = listening.group_by("item_id").len().sort("item_id")["len"].to_numpy()
    mean = np.stack([(unit * listeners[:, None])[[int(t[1:]) % 8 == a for t in ids]].sum(axis=0) for a in range(8)])
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    cosines = mean @ mean[0]
    expected = [f"a{a}" for a in np.argsort(-cosines) if a != 0 and cosines[a] > 0]
    found = sim.similar_artists("a0", k=7)
    assert found["artist_id"].to_list() == expected
    assert found["score"].to_list() == pytest.approx(sorted(cosines[cosines > 0][1:], reverse=True))


def test_neighbours_go_through_the_listeners_on_a_large_catalogue() -> None:
    rng = np.random.default_rng(0)
    n_items, users, per_user = 300_000, 3_000, 100
    items = np.char.add("t", np.arange(n_items).astype(str))
    chosen = rng.choice(n_items, (users, per_user))
    listening = pl.DataFrame({"user_id": np.repeat(np.char.add("u", np.arange(users).astype(str)), per_user),
                              "item_id": items[chosen.ravel()]})
    sim = CoListening(min_shared=1).fit(listening)
    seed = str(listening["item_id"][0])
    tracemalloc.start()
    found = sim.similar_items(seed, k=10)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert found.height == 10 and (found["shared_listeners"] >= 1).all()
    assert peak < 50 * 2**20  # an item × item row of floats is 2.4 MB; the matrix would be 720 GB


def test_parameters_are_checked_at_fit_and_use_before_fit_fails() -> None:
    for bad in ({"shrinkage": -1.0}, {"blend": 1.5}, {"min_shared": -1}, {"per_artist": 0}):
        with pytest.raises(ValueError):
            CoListening(**bad).fit(WORLD)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user_id, item_id"):
        CoListening().fit(pl.DataFrame({"user_id": ["u"]}))
    with pytest.raises(NotFittedError):
        CoListening().similar_items("s")


def test_around_several_seeds_averages_and_leaves_the_seeds_out() -> None:
    sim = CoListening(shrinkage=5.0, min_shared=2).fit(WORLD)
    both = sim.around(["s", "broad"], k=10)
    assert "s" not in both["item_id"].to_list() and "broad" not in both["item_id"].to_list()
    alone = sim.similar_items("s", k=10)
    niche = both.filter(pl.col("item_id") == "niche")["score"][0]
    from_broad = sim.similar_items("broad", k=10).filter(pl.col("item_id") == "niche")["score"][0]
    assert niche == pytest.approx((alone.filter(pl.col("item_id") == "niche")["score"][0] + from_broad) / 2)


def test_radio_plays_the_seeds_neighbourhood_before_a_strangers_lookalikes() -> None:
    # "stranger" has one listener, who also played the seed: the model puts it right on the seed
    listening = _listening({"seed": [0, 1, 2, 3], "shared": [0, 1, 2], "stranger": [3], "other": [5, 6]})
    ids = ["seed", "shared", "stranger", "other"]
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [1.0, 0.01], [0.0, 1.0]])
    plain = Radio(ids, vectors).next_tracks("seed", k=2)
    assert plain["item_id"][0] == "stranger"
    sim = CoListening(min_shared=2).fit(listening)
    steered = Radio(ids, vectors, similarity=sim).next_tracks("seed", k=3)
    assert steered["item_id"].to_list()[0] == "shared"
    assert set(steered["item_id"]) == {"shared", "stranger", "other"}  # the rest of the catalogue follows


def test_several_seeds_keep_co_listened_tracks_before_the_artist_fallback() -> None:
    # artist-level scores run higher than a track pair's: radio must not let them jump the queue
    listening = _listening({"seed": [0, 1, 2], "pal": [0, 1], "a-hit": [3, 4, 5, 6, 7, 8, 9]})
    sim = CoListening(min_shared=2).fit(listening, {"seed": "A", "pal": "B", "a-hit": "A"})
    near = sim.around(["seed"], k=5)
    assert near["basis"].to_list() == ["co-listeners", "artist"] and near["item_id"].to_list() == ["pal", "a-hit"]
    assert near["score"][1] > near["score"][0]
    queue = Radio(["seed", "pal", "a-hit"], np.eye(3), ["A", "B", "A"], similarity=sim, chain=())
    assert queue.next_tracks("seed", k=2)["item_id"].to_list() == ["pal", "a-hit"]
