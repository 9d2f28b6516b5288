"""Re-ranking policies on small hand-made candidate lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tastemaker.rerank.policies import (calibrate, cap, dedupe, explore, freshness, mmr, no_repeat, quota,
                                        rules, spread)


def _cands(n: int = 6) -> pl.DataFrame:
    return pl.DataFrame({
        "item_id": [f"t{i}" for i in range(n)],
        "score": [float(n - i) for i in range(n)],
        "artist_id": ["a", "a", "a", "b", "b", "c"][:n],
        "explicit": [False, True, False, False, False, False][:n],
        "genre": ["rock", "rock", "rock", "rock", "jazz", "jazz"][:n],
        "is_new_artist": [False, False, False, False, False, True][:n],
    })


def test_rules_drop_heard_blocked_and_explicit_tracks() -> None:
    got = rules(_cands(), heard=["t0"], blocked_artists=["c"], allow_explicit=False)
    assert got["item_id"].to_list() == ["t2", "t3", "t4"]
    with pytest.raises(ValueError, match="release_date"):
        freshness(_cands(), date(2024, 1, 1))


def test_artist_cap_keeps_the_best_two_per_artist_in_order() -> None:
    assert cap(_cands(), "artist_id", 2)["item_id"].to_list() == ["t0", "t1", "t3", "t4", "t5"]


def test_artist_cap_counts_what_the_list_holds_caps_each_list_and_never_caps_an_unknown_artist() -> None:
    assert cap(_cands(), "artist_id", 2, counted=["a", "b"])["item_id"].to_list() == ["t0", "t3", "t5"]
    two = pl.concat([_cands().with_columns(pl.lit(u).alias("user_id")) for u in ("u", "v")])
    assert cap(two, "artist_id", 1, by=["user_id"]).select("user_id", "item_id").rows() == \
        [("u", "t0"), ("u", "t3"), ("u", "t5"), ("v", "t0"), ("v", "t3"), ("v", "t5")]
    unknown = _cands().with_columns(pl.when(pl.col("artist_id") == "a").then(None).otherwise("artist_id")
                                    .alias("artist_id"))
    assert cap(unknown, "artist_id", 1)["item_id"].to_list() == ["t0", "t1", "t2", "t3", "t5"]


def test_dedupe_keeps_each_item_once_and_none_already_shown() -> None:
    cards = pl.DataFrame({"item_id": ["x", "y", "x", "z"], "kind": ["track", "track", "track", "playlist"],
                          "score": [4.0, 3.0, 2.0, 1.0]})
    shown = pl.DataFrame({"item_id": ["y", "z"], "kind": ["track", "track"]})
    assert dedupe(cards, ("kind", "item_id"), shown=shown)["item_id"].to_list() == ["x", "z"]  # z was a track
    assert dedupe(cards)["score"].to_list() == [4.0, 3.0, 1.0]


def test_spread_keeps_an_artist_out_of_the_next_gap_places_counting_what_played_before() -> None:
    assert spread(_cands(), "artist_id", 1)["item_id"].to_list() == ["t0", "t3", "t5"]
    assert spread(_cands(), "artist_id", 1, before=["a"])["item_id"].to_list() == ["t3", "t5"]
    assert spread(_cands(), "artist_id", 0, k=2)["item_id"].to_list() == ["t0", "t1"]
    unknown = _cands().with_columns(pl.lit(None, dtype=pl.String).alias("artist_id"))
    assert spread(unknown, "artist_id", 3, k=4)["item_id"].to_list() == ["t0", "t1", "t2", "t3"]
    with pytest.raises(ValueError, match="gap"):
        spread(_cands(), "artist_id", -1)


def test_no_repeat_drops_only_what_was_served_inside_the_window() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    served = pl.DataFrame({"item_id": ["t0", "t1"], "ts": [now - timedelta(days=1), now - timedelta(days=10)]})
    assert no_repeat(_cands(), served, now, window_days=7)["item_id"].to_list()[:2] == ["t1", "t2"]


def test_freshness_lifts_a_new_release_over_a_slightly_better_old_one() -> None:
    frame = pl.DataFrame({"item_id": ["old", "new"], "score": [1.0, 0.8],
                          "release_date": [date(2020, 1, 1), date(2024, 5, 30)]})
    assert freshness(frame, date(2024, 6, 1), boost=0.5)["item_id"].to_list() == ["new", "old"]
    assert freshness(frame, date(2024, 6, 1), boost=0.1)["item_id"].to_list() == ["old", "new"]


def test_mmr_interleaves_a_near_duplicate_cluster_with_the_other_item() -> None:
    frame = pl.DataFrame({"item_id": ["x1", "x2", "y"], "score": [1.0, 0.99, 0.9]})
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    assert mmr(frame, vectors, lam=1.0)["item_id"].to_list() == ["x1", "x2", "y"]
    assert mmr(frame, vectors, lam=0.5)["item_id"].to_list() == ["x1", "y", "x2"]
    with pytest.raises(ValueError, match="one vector per candidate"):
        mmr(frame, vectors[:2])


def test_calibration_moves_the_list_towards_the_history_genre_mix() -> None:
    plain = _cands().head(4)["genre"].to_list()
    calibrated = calibrate(_cands(), {"rock": 0.5, "jazz": 0.5}, k=4, lam=0.9)["genre"].to_list()
    assert plain.count("jazz") == 0 and calibrated.count("jazz") == 2


def test_quota_puts_a_new_artist_into_the_top_k_at_its_tail() -> None:
    got = quota(_cands(), "is_new_artist", share=0.25, k=4)["item_id"].to_list()
    assert got[:4] == ["t0", "t1", "t2", "t5"] and sorted(got) == sorted(_cands()["item_id"].to_list())
    assert quota(_cands(), "is_new_artist", share=0.0, k=4)["item_id"].to_list() == _cands()["item_id"].to_list()


def test_exploration_records_propensities_that_match_how_often_it_explores() -> None:
    pool = pl.DataFrame({"item_id": ["e1", "e2"]})
    rng = np.random.default_rng(0)
    shown = [explore(_cands(), pool, slots=[2], epsilon=0.2, rng=rng) for _ in range(2000)]
    explored = [s for s in shown if s["reason"][2] == "exploration"]
    assert 0.17 < len(explored) / len(shown) < 0.23
    assert all(s["propensity"][2] == pytest.approx(0.1) for s in explored)
    assert all(s["propensity"][2] == pytest.approx(0.8) for s in shown if s["reason"][2] is None)
    assert all(s["propensity"][0] == 1.0 for s in shown)


def test_calibrate_still_calibrates_when_candidates_bring_genres_the_history_lacks() -> None:
    # "pop" is not in the listener's history: its share in the target is 0, which must count as
    # nothing in the KL (not NaN, which made every candidate look alike and returned the plain top k)
    cands = _cands().with_columns(pl.Series("genre", ["rock", "rock", "rock", "rock", "jazz", "pop"]))
    got = calibrate(cands, {"rock": 0.5, "jazz": 0.5}, k=4, lam=0.9)
    assert got["genre"].to_list() == ["rock", "jazz", "rock", "rock"]
