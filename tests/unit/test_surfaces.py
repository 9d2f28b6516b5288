"""Daily Mixes, Home, similar artists and reasons on a generated world with a trained ALS."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from tastemaker.candidates.popularity import Popularity
from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.candidates.similarity import CoListening, Vectors
from tastemaker.features.interactions import interactions
from tastemaker.simulate.config import WorldConfig
from tastemaker.simulate.tables import tracks_table
from tastemaker.simulate.world import World
from tastemaker.store.tables import conform
from tastemaker.surfaces.chains import DAILY_MIX, Cap
from tastemaker.surfaces.daily_mix import DailyMixes, MixParams
from tastemaker.surfaces.home import HomeSources, Shelf, home, standard_shelves
from tastemaker.surfaces.reasons import ItemSpace, because_you_played, display_names
from tastemaker.surfaces.similar import similar_artists


@pytest.fixture(scope="module")
def world() -> dict:  # type: ignore[type-arg]
    config = WorldConfig(seed=5, n_users=300, n_tracks=3000, days=30, events_per_user=150)
    raw = pl.DataFrame(pa.concat_tables(World(config).generate_events())).filter(pl.col("item_kind") == "track")
    events = conform("events", raw.with_columns(pl.int_range(pl.len()).alias("row_id")))
    tracks = pl.DataFrame(tracks_table(World(config).catalog, config.start))
    inter = interactions(events.lazy())
    model = create("als", factors=32, iterations=10).fit(TrainingData(inter))
    return {"inter": inter, "tracks": tracks, "model": model, "today": config.start + timedelta(days=config.days),
            "space": ItemSpace(model.items_, model.item_vectors()),
            "artists": dict(zip(tracks["track_id"], tracks["artist_id"], strict=True))}


def _mixes(world: dict, users: list[str]) -> pl.DataFrame:  # type: ignore[type-arg]
    inter, model = world["inter"], world["model"]
    candidates = model.recommend(users, k=300, exclude=inter.select("user_id", "item_id"))
    history = inter.select("user_id", "item_id", pl.col("recency").alias("weight"))
    return DailyMixes(world["space"], world["artists"], params=MixParams(size=30, new=5)).batch(users, history, candidates)


def test_daily_mixes_are_coherent_mostly_familiar_disjoint_and_new_tracks_are_unheard(world: dict) -> None:  # type: ignore[type-arg]
    users = world["inter"]["user_id"].unique().sort().to_list()[:120]
    mixes = _mixes(world, users)
    heard = world["inter"].select("user_id", "item_id")
    space = world["space"]
    within, between = [], []
    for _, rows in mixes.group_by("user_id"):
        assert rows["item_id"].is_unique().all()  # no track in two mixes
        unit = space.unit[space.rows(rows["item_id"].to_numpy().astype(str))]
        mix = rows["mix"].to_numpy()
        sim, same = unit @ unit.T, mix[:, None] == mix[None, :]
        np.fill_diagonal(same, False)
        if (~same).sum() > len(mix):
            within.append(sim[same].mean())
            between.append(sim[~same & ~np.eye(len(mix), dtype=bool)].mean())
    assert len(within) > 20  # many listeners have several tastes
    assert np.mean(within) > np.mean(between) + 0.1
    per_mix = mixes.group_by("user_id", "mix").agg(pl.col("familiar").sum().alias("old"), (~pl.col("familiar")).sum()
                                                   .alias("new"))
    assert (per_mix["new"] <= 5).all() and (per_mix["old"] >= 3 * per_mix["new"]).all()
    assert per_mix["new"].sum() > 0.1 * per_mix["old"].sum()
    new = mixes.filter(~pl.col("familiar"))
    assert new.join(heard, on=["user_id", "item_id"]).is_empty()
    assert new["reason"].str.starts_with("because you played").all() and new["because"].is_not_null().all()
    assert mixes.filter(pl.col("familiar")).join(heard, on=["user_id", "item_id"]).height == \
        mixes.filter(pl.col("familiar")).height
    per_artist = next(step.limit for step in DAILY_MIX if isinstance(step, Cap))
    assert mixes.group_by("user_id", "mix", "artist_id").len()["len"].max() <= per_artist
    assert _mixes(world, users).equals(mixes)  # stable: same history, same mixes


def test_a_listener_the_model_does_not_know_gets_no_mix_and_bad_params_are_refused(world: dict) -> None:  # type: ignore[type-arg]
    mixes = DailyMixes(world["space"], world["artists"])
    assert mixes.for_user("nobody", pl.DataFrame({"item_id": ["?"], "weight": [1.0]})).is_empty()
    with pytest.raises(ValueError, match="new must be"):
        DailyMixes(world["space"], params=MixParams(size=5, new=6))
    with pytest.raises(ValueError, match="need columns"):
        mixes.for_user("u", pl.DataFrame({"item_id": ["x"]}))


def test_home_ranks_shelves_never_repeats_a_card_and_every_card_has_a_reason(world: dict) -> None:  # type: ignore[type-arg]
    inter, model, tracks = world["inter"], world["model"], world["tracks"]
    chart = Popularity(by="country", min_country_listens=10).fit(TrainingData(inter))
    checked = 0
    for user in inter["user_id"].unique().sort().to_list()[:25]:
        history = inter.filter(pl.col("user_id") == user)
        mixes = _mixes(world, [user])
        shelves, relevance = standard_shelves(user, HomeSources(model, history, tracks, chart, mixes, None,
                                                                today=world["today"]))
        page = home(user, shelves, relevance, cards=10)
        assert page.select("kind", "item_id").is_unique().all()
        assert page["reason"].is_not_null().all() and (page["reason"].str.len_chars() > 0).all()
        tracks_on_page = page.filter(pl.col("kind") == "track")
        assert tracks_on_page.group_by("shelf", "subtitle").len()["len"].max() <= 2
        ranked = page.unique("shelf_position").sort("shelf_position")
        if mixes.height:
            assert ranked["shelf"][0] == "made-for-you"
        rest = ranked.filter(pl.col("shelf") != "made-for-you")["relevance"].to_numpy()
        assert np.all(np.diff(rest) <= 1e-12)  # shelves by relevance to the listener
        heard = set(history["item_id"])
        discovery = page.filter(pl.col("shelf").is_in(["recommended", "popular", "new-releases"]))
        assert not heard & set(discovery["item_id"])
        checked += 1
    assert checked == 25


def test_home_drops_thin_shelves_and_moves_the_next_card_up() -> None:
    cards = lambda ids, artist="a": pl.DataFrame({  # noqa: E731
        "item_id": ids, "kind": ["track"] * len(ids), "title": ids, "subtitle": [f"{artist}{i}" for i in ids],
        "score": [1.0] * len(ids), "reason": ["r"] * len(ids)})
    shelves = [Shelf("one", "One", cards(["t1", "t2", "t3"])), Shelf("two", "Two", cards(["t1", "t2", "t4", "t5"]))]
    relevance = {"t1": 1.0, "t2": 1.0, "t3": 1.0, "t4": 0.0, "t5": 0.0}
    rank = lambda ids: np.array([relevance[i] for i in ids])  # noqa: E731
    page = home("u", shelves, rank, cards=3, min_cards=2)  # "two" ranks second and shows what "one" did not
    assert page["shelf"].to_list() == ["one"] * 3 + ["two"] * 2
    assert page.filter(pl.col("shelf") == "two")["item_id"].to_list() == ["t4", "t5"]
    assert home("u", shelves, rank, cards=3, min_cards=3)["shelf"].unique().to_list() == ["one"]
    tied = home("u", shelves[::-1], rank, cards=2, min_cards=2)  # equal relevance: the given order wins
    assert tied["shelf"].to_list() == ["two", "two"] and tied["item_id"].to_list() == ["t1", "t2"]
    capped = home("u", [Shelf("same", "Same", cards(["t1", "t2", "t3"]).with_columns(pl.lit("x").alias("subtitle")))],
                  rank, min_cards=1)
    assert capped["item_id"].to_list() == ["t1", "t2"]  # two per artist
    with pytest.raises(ValueError, match="unique"):
        home("u", [shelves[0], shelves[0]])
    with pytest.raises(ValueError, match="cards need columns"):
        Shelf("x", "X", pl.DataFrame({"item_id": ["a"]}))


def test_because_you_played_names_the_closest_track_of_the_listener(world: dict) -> None:  # type: ignore[type-arg]
    inter, model, space = world["inter"], world["model"], world["space"]
    user = inter["user_id"][0]
    history = inter.filter(pl.col("user_id") == user).select("user_id", "item_id", pl.col("recency").alias("weight"))
    recs = model.recommend([user], k=20, exclude=history)
    explained = because_you_played(recs, history, space, display_names(world["tracks"]), top_history=10_000)
    played = history["item_id"].to_numpy().astype(str)
    for row in explained.iter_rows(named=True):
        closeness = space.unit[space.rows(played)] @ space.unit[space.rows([row["item_id"]])[0]]
        assert row["because"] == played[int(np.argmax(closeness))]
        assert row["reason"].startswith("because you played ")
    stranger = because_you_played(recs.with_columns(pl.lit("stranger").alias("user_id")), history, space)
    assert stranger["because"].is_null().all() and (stranger["reason"] == "new to you").all()


def test_because_you_played_names_a_track_of_the_same_artist_first(world: dict) -> None:  # type: ignore[type-arg]
    from tastemaker.surfaces.reasons import track_artists

    inter, model, space = world["inter"], world["model"], world["space"]
    artists = track_artists(world["tracks"])
    user = inter["user_id"][0]
    history = inter.filter(pl.col("user_id") == user).select("user_id", "item_id", pl.col("recency").alias("weight"))
    recs = model.recommend([user], k=50, exclude=history)
    explained = because_you_played(recs, history, space, display_names(world["tracks"]), top_history=10_000,
                                   artists=artists)
    played = history["item_id"].to_numpy().astype(str)
    own_artist = 0
    for row in explained.iter_rows(named=True):
        mine = [p for p in played if artists.get(p) == artists.get(row["item_id"])]
        pool = mine or list(played)
        closeness = space.unit[space.rows(np.array(pool))] @ space.unit[space.rows([row["item_id"]])[0]]
        assert row["because"] == pool[int(np.argmax(closeness))]
        own_artist += bool(mine)
    assert own_artist > 0  # the world's listeners are recommended artists they play: the test reaches that branch


def test_similar_artists_share_a_genre_more_often_than_chance(world: dict) -> None:  # type: ignore[type-arg]
    tracks, model = world["tracks"], world["model"]
    genre = dict(zip(tracks["artist_id"], tracks["genres"].list.first(), strict=False))
    listened = set(world["inter"]["artist_id"].drop_nulls())
    same, base = [], []
    similarity = CoListening().fit(world["inter"], world["artists"], Vectors(model.items_, model.item_vectors()))
    for artist in sorted(listened)[:60]:
        like = similar_artists(artist, similarity, k=5)
        assert like.height == 5 and like["shared_listeners"].min() >= 2 and set(like["basis"]) == {"co-listeners"}
        assert artist not in like["artist_id"].to_list() and like["score"].is_sorted(descending=True)
        same.append(np.mean([genre[a] == genre[artist] for a in like["artist_id"]]))
        base.append(np.mean([genre[a] == genre[artist] for a in listened if a != artist]))
    assert np.mean(same) > 2 * np.mean(base)
    with pytest.raises(KeyError, match="unknown artist"):
        similar_artists("nobody", similarity)
