"""BPR, artist-aware discovery, per-country charts and new releases on tiny made-up data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from tastemaker.candidates.artist import ArtistDiscovery, artists_from_item_ids
from tastemaker.candidates.bpr import BPR
from tastemaker.candidates.popularity import NewReleases, Popularity
from tastemaker.candidates.catalogue import create
from tastemaker.candidates.recommender import MatrixRecommender
from tastemaker.candidates.data import TrainingData
from tastemaker.errors import NotFittedError

# items 0-2 are always listened together, items 3-5 together; user 12 has only items 0 and 1
ROWS = [[1, 1, 1, 0, 0, 0]] * 6 + [[0, 0, 0, 1, 1, 1]] * 6 + [[1, 1, 0, 0, 0, 0]]
X = sp.csr_matrix(np.array(ROWS, dtype=np.float32))


def _frame(rows: list[tuple[str, str, float]], **extra: list[object]) -> pl.DataFrame:
    return pl.DataFrame({"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
                         "weight": [float(r[2]) for r in rows], **extra})


# --- BPR ---------------------------------------------------------------------------------------


def test_bpr_ranks_the_co_listened_item_first_and_refuses_to_score_before_fit() -> None:
    with pytest.raises(NotFittedError):
        BPR().score(np.array([0]), X)
    model = BPR(factors=4, learning_rate=0.05, iterations=200, random_state=0).fit(X)
    scores = model.score(np.array([12]), X)[0]
    assert max([2, 3, 4, 5], key=lambda i: scores[i]) == 2
    # implicit's bias column is split off, not left inside the factors
    assert model.item_factors_.shape == (6, 4) and model.item_bias_.shape == (6,)


def test_bpr_survives_a_save_load_round_trip_through_the_recommender(tmp_path: Path) -> None:
    rows = [(f"a{u}", f"x{i}", 1) for u in range(6) for i in range(3)] + [(f"b{u}", f"y{i}", 1) for u in range(6)
                                                                         for i in range(3)]
    data = _frame([*rows, ("new-ish", "x0", 1), ("new-ish", "x1", 1)])
    model = create("bpr", factors=4, learning_rate=0.05, iterations=200).fit(TrainingData(data))
    heard = data.filter(pl.col("user_id") == "new-ish").select("user_id", "item_id")
    recs = model.recommend(["new-ish"], k=3, exclude=heard)
    assert recs["item_id"][0] == "x2" and not set(recs["item_id"]) & {"x0", "x1"}
    model.save(tmp_path / "bpr")
    again = MatrixRecommender.load(tmp_path / "bpr").recommend(["new-ish"], k=3, exclude=heard)
    assert again["item_id"].to_list() == recs["item_id"].to_list()
    assert np.array_equal(again["score"].to_numpy(), recs["score"].to_numpy())


# --- artist-aware discovery -------------------------------------------------------------------

#: artist of each track: A has a1-a4, B b1-b3 (the most played overall), C c1-c2, D d1
ARTIST = {"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B", "b2": "B", "b3": "B", "c1": "C", "c2": "C",
          "d1": "D"}
LISTENS = (
    [("me", "a1", 5), ("me", "a2", 3)]
    + [(f"fanA{n}", t, 1) for n in range(3) for t in ("a1", "a2", "a3", "c1", "c2")]  # A's fans also play C
    + [("fanA0", "a4", 1)]  # a4 is A's least-played track
    + [(f"fanB{n}", t, 1) for n in range(6) for t in ("b1", "b2", "b3")]
    + [(f"fanB{n}", "d1", 1) for n in range(3)]
)


def _listens() -> pl.DataFrame:
    return _frame(LISTENS, artist_id=[ARTIST[i] for _, i, _ in LISTENS])


def _heard() -> pl.DataFrame:
    return pl.DataFrame({"user_id": ["me", "me"], "item_id": ["a1", "a2"]})


def test_artist_discovery_puts_unheard_tracks_of_the_users_artist_first_and_never_a_heard_one() -> None:
    model = create("artist", similar_weight=0.0).fit(TrainingData(_listens()))
    recs = model.recommend(["me"], k=10, exclude=_heard())
    assert recs["item_id"].to_list()[:2] == ["a3", "a4"]  # the better-known unheard track of A first
    assert not set(recs["item_id"]) & {"a1", "a2"} and recs.height == 8
    # without the exclusion the heard tracks (of the same artist) would be there: the mask is what removes them
    assert {"a1", "a2"} <= set(model.recommend(["me"], k=4)["item_id"])
    # past the user's own artist, similar_weight=0 falls back to global popularity: B's tracks, not C's
    assert ARTIST[recs["item_id"][2]] == "B"
    fresh = create("artist", freshness=1.0, similar_weight=0.0).fit(TrainingData(_listens()))
    assert fresh.recommend(["me"], k=2, exclude=_heard())["item_id"].to_list() == ["a4", "a3"]  # deep cut first


def test_similar_artist_expansion_brings_co_listened_artists_ahead_of_popular_ones() -> None:
    model = create("artist", similar_artists=5, similar_weight=0.5).fit(TrainingData(_listens()))
    recs = model.recommend(["me"], k=4, exclude=_heard())
    assert recs["item_id"].to_list()[:2] == ["a3", "a4"]  # own artist still first
    assert {ARTIST[i] for i in recs["item_id"].to_list()[2:]} == {"C"}  # then C, whom A's listeners play


def test_artist_discovery_round_trips_and_says_what_it_needs(tmp_path: Path) -> None:
    model = create("artist", similar_artists=5, similar_weight=0.5).fit(TrainingData(_listens()))
    before = model.recommend(["me", "fanB0"], k=5, exclude=_heard())
    model.save(tmp_path / "artist")
    after = MatrixRecommender.load(tmp_path / "artist").recommend(["me", "fanB0"], k=5, exclude=_heard())
    assert after.equals(before)
    with pytest.raises(ValueError, match="artist_id"):
        create("artist").fit(TrainingData(_listens().drop("artist_id")))
    with pytest.raises(ValueError, match="item_artists"):
        ArtistDiscovery().fit(X)
    with pytest.raises(ValueError, match="6 integers"):
        ArtistDiscovery(item_artists=np.array([0, 1])).fit(X)
    with pytest.raises(NotFittedError):
        ArtistDiscovery().score(np.array([0]), X)


def test_items_without_a_known_artist_are_scored_by_popularity_only() -> None:
    data = _listens().with_columns(pl.when(pl.col("item_id") == "a3").then(None).otherwise("artist_id")
                                   .alias("artist_id"))
    recs = create("artist", similar_weight=0.0).fit(TrainingData(data)).recommend(["me"], k=2, exclude=_heard())
    assert recs["item_id"].to_list()[0] == "a4"  # a3 lost its artist, so it no longer rides on A


def test_artists_come_from_benchmark_item_ids() -> None:
    ids = ["Björk\u241fJóga", "Aphex Twin\u241fXtal", "Björk\u241fHyperballad", "no separator"]
    assert artists_from_item_ids(ids).tolist() == [1, 0, 1, -1]
    model = ArtistDiscovery(item_artists=artists_from_item_ids(ids), similar_weight=0.0)
    listened = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 1, 1]], dtype=np.float32))
    scores = model.fit(listened).score(np.array([0]), listened)[0]
    assert scores[2] > scores[1] and scores[2] > scores[3]  # Hyperballad: same artist as what user 0 played


# --- popularity per country and new releases --------------------------------------------------


def _countries() -> pl.DataFrame:
    rows = ([(f"us{n}", t, 1) for n in range(8) for t in ("hit", "us-song")]
            + [(f"se{n}", t, 1) for n in range(3) for t in ("se-song", "se-other")] + [("se0", "hit", 1)]
            + [("no1", "no-song", 1), ("anon", "hit", 1)])
    country = [{"us": "US", "se": "SE", "no": "NO"}.get(u[:2]) for u, _, _ in rows]
    return _frame(rows, country=country)


def test_country_charts_differ_per_country_and_fall_back_to_the_global_chart(tmp_path: Path) -> None:
    model = Popularity(by="country", min_country_listens=5).fit(TrainingData(_countries()))
    recs = model.recommend(["se0", "us0", "no1", "anon", "stranger"], k=2)
    top = {u: g["item_id"].to_list() for (u,), g in recs.group_by("user_id")}
    assert top["se0"] == ["se-other", "se-song"]  # 3 listens each (ties by id) beat the global hit's 1 in SE
    assert top["us0"] == ["hit", "us-song"]
    global_top = Popularity().fit(TrainingData(_countries())).recommend(["x"], k=2)["item_id"].to_list()
    assert global_top == ["hit", "us-song"]
    # NO has one listen (< 5), "anon" has no country, "stranger" was never seen: all get the global chart
    assert top["no1"] == top["anon"] == top["stranger"] == global_top
    # a given country overrides the learned one; a short chart is topped up from the global chart
    se = model.recommend(["us0"], k=4, exclude=pl.DataFrame({"user_id": ["us0"], "item_id": ["hit"]}),
                         countries={"us0": "SE"})["item_id"].to_list()
    assert se == ["se-other", "se-song", "us-song", "no-song"]
    model.save(tmp_path / "country")
    assert Popularity.load(tmp_path / "country").recommend(["se0", "us0"], k=3).equals(model.recommend(["se0", "us0"], k=3))
    with pytest.raises(ValueError, match="country"):
        Popularity(by="country").fit(TrainingData(_countries().drop("country")))


def test_plain_popularity_keeps_its_call_and_excludes_what_was_heard() -> None:
    model = Popularity().fit(TrainingData(_countries()))
    recs = model.recommend(["us0", "se0"], 2, pl.DataFrame({"user_id": ["us0"], "item_id": ["hit"]}))
    assert recs.filter(pl.col("user_id") == "us0")["item_id"].to_list() == ["us-song", "se-other"]
    assert recs.filter(pl.col("user_id") == "se0")["item_id"].to_list() == ["hit", "us-song"]
    assert recs.columns == ["user_id", "item_id", "score", "rank"]


def test_new_releases_only_include_recent_tracks_fastest_played_first(tmp_path: Path) -> None:
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)
    releases = pl.DataFrame({"item_id": ["old", "month", "week", "today", "unplayed", "future"],
                             "release_date": [date(2023, 1, 1), date(2024, 2, 5), date(2024, 2, 25),
                                              date(2024, 3, 1), date(2024, 2, 28), date(2024, 3, 9)]})
    plays = _frame([("u", "old", 100), ("u", "month", 26), ("u", "week", 10), ("v", "today", 3), ("v", "future", 5)])
    model = NewReleases(days=30).fit(TrainingData(plays, now=now, releases=releases))
    recs = model.recommend(["u"], k=10)["item_id"].to_list()
    # per day since release: today 3/1, week 10/6, month 26/26; the unplayed release comes last
    assert recs == ["today", "week", "month", "unplayed"]
    assert model.recommend(["u"], k=10, exclude=pl.DataFrame({"user_id": ["u"], "item_id": ["week"]})).height == 3
    model.save(tmp_path / "new")
    assert NewReleases.load(tmp_path / "new").recommend(["u"], k=10)["item_id"].to_list() == recs
    with pytest.raises(ValueError, match="release dates"):
        NewReleases().fit(TrainingData(plays, now=now))
    with pytest.raises(ValueError, match="release dates"):
        NewReleases().fit(TrainingData(plays, now=now, releases=releases.with_columns(pl.lit(None, pl.Date).alias("release_date"))))


# --- from a generated world's store, as `tastemaker train NAME` does ------------------------------


def test_every_new_model_trains_from_a_generated_store_and_recommends(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tastemaker.candidates.catalogue import create
    from tastemaker.features.interactions import interactions
    from tastemaker.ingest import run_import
    from tastemaker.ingest.formats import FORMATS
    from tastemaker.simulate import World, WorldConfig, write_world

    write_world(World(WorldConfig(seed=1, n_users=80, n_tracks=600, days=20, events_per_user=40)), tmp_path / "w",
                "parquet")
    run_import(store, FORMATS["table"], tmp_path / "w")
    data = interactions(store.events())
    assert data["artist_id"].null_count() == 0 and data["country"].null_count() == 0
    user = data["user_id"][0]
    heard = data.filter(pl.col("user_id") == user).select("user_id", "item_id")
    fitted = {}
    for name in ("bpr", "artist", "country", "new-releases"):
        fitted[name] = create(name).fit(TrainingData.from_store(store))
        recs = fitted[name].recommend([user], k=5, exclude=heard)
        assert recs.height == 5 and recs.join(heard, on=["user_id", "item_id"]).is_empty(), name
    # the country model placed every listener in the country the users table gives them
    country = fitted["country"]
    homes = pl.DataFrame({"user_id": country.user_ids_, "country": country.user_countries_})
    listed = store.entities("users").select("user_id", pl.col("country").alias("listed"))
    assert homes.height == data["user_id"].n_unique()
    assert homes.join(listed, on="user_id").filter(pl.col("country") != pl.col("listed")).is_empty()
    # new releases: only tracks released in the 30 days up to the newest listen, though older ones exist
    tracks = store.entities("tracks")
    released = tracks.filter(pl.col("track_id").is_in(fitted["new-releases"].item_ids_.tolist()))["release_date"]
    newest = data["last_ts"].max().date()  # type: ignore[union-attr]
    assert released.len() == len(fitted["new-releases"].item_ids_) > 0
    assert released.min() > newest - timedelta(days=30) and released.max() <= newest
    assert (tracks["release_date"] <= newest - timedelta(days=30)).any()


def test_this_weeks_chart_counts_listeners_in_the_seven_days_to_the_datas_own_clock(tmp_path: Path) -> None:
    clock = datetime(2021, 3, 10, 12, tzinfo=UTC)  # long before today: the data's clock, not the wall clock
    rows = [("fan", "replayed", 3834.0, clock - timedelta(days=1))]  # one listener replaying a track
    rows += [(f"u{i}", "shared", 1.0, clock - timedelta(days=2)) for i in range(3)]  # three listeners
    rows += [(f"v{i}", "old-hit", 1.0, clock - timedelta(days=90)) for i in range(9)]  # many, three months ago
    frame = pl.DataFrame(rows, schema=["user_id", "item_id", "weight", "last_ts"], orient="row")
    week = create("this-week").fit(TrainingData(frame))
    assert week.recommend(["nobody"], k=3)["item_id"].to_list() == ["shared", "replayed"]
    assert week.describe() == "listeners in the 7 days to 2021-03-09" and week.weekly  # the newest listen
    now = create("popularity").fit(TrainingData(frame))  # decayed from the same clock: the old hit still counts
    assert now.recommend(["nobody"], k=3)["item_id"].to_list() == ["shared", "old-hit", "replayed"]
    week.save(tmp_path / "w")
    assert Popularity.load(tmp_path / "w").describe() == week.describe()
