"""Episodes for you: new episodes first, similar shows with their reason, cold start, caps, bad input."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl
import pytest

from tastemaker.errors import NotFittedError
from tastemaker.surfaces import podcasts
from tastemaker.surfaces.podcasts import COLUMNS, EpisodeRecommender

SHOWS = pl.DataFrame(
    [
        ("sA", "Crime Junkie", "true crime murder mystery cases investigated by detectives", "true crime"),
        ("sB", "Murder Files", "murder cases and detectives solving true crime mystery", "true crime"),
        ("sC", "Cold Case Club", "unsolved murder mystery cold cases true crime", "true crime"),
        ("sD", "Startup Stories", "founders build a startup company business and money", "business"),
        ("sE", "Founders Hour", "startup founders on business company and money", "business"),
        ("sF", "Football Weekly", "football soccer league goals and transfers", "sports"),
        ("sG", "Goal Talk", "soccer football goals league matches", "sports"),
    ],
    schema=["show_id", "name", "description", "category"],
    orient="row",
)
# four episodes per show, listed oldest first here so that the order must come from release_date
EPISODES = pl.DataFrame(
    [(f"{show.lower()}{i}", show, f"{show} episode {i}", date(2024, 1, i))
     for show in SHOWS["show_id"] for i in range(1, 5)],
    schema=["episode_id", "show_id", "name", "release_date"],
    orient="row",
)


def _events(pairs: Sequence[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"user_id": [u for u, _ in pairs], "item_id": [e for _, e in pairs],
                         "item_kind": ["episode"] * len(pairs), "type": ["play"] * len(pairs)})


# u1 plays Crime Junkie (episodes 1 and 3, one twice); u2 plays Football Weekly and Startup Stories;
# u4 also plays Football Weekly, so it is the most listened show; u3 only played a track.
EVENTS = pl.concat([
    _events([("u1", "sa1"), ("u1", "sa3"), ("u1", "sa3"), ("u2", "sf4"), ("u2", "sd1"), ("u4", "sf2")]),
    pl.DataFrame({"user_id": ["u3"], "item_id": ["t1"], "item_kind": ["track"], "type": ["play"]}),
])


def _model(**params: object) -> EpisodeRecommender:
    return EpisodeRecommender("words", **params).fit(EVENTS, EPISODES, SHOWS)  # type: ignore[arg-type]


def test_new_episodes_of_a_played_show_come_first_newest_first() -> None:
    shelf = _model().recommend(["u1"], k=6)
    assert shelf.columns == list(COLUMNS)
    assert shelf["position"].to_list() == list(range(1, 7))
    assert shelf["episode_id"].to_list()[:2] == ["sa4", "sa2"]  # unplayed, newest first
    assert shelf["reason"].to_list()[:2] == ["new episode of Crime Junkie"] * 2
    assert shelf["show_name"][0] == "Crime Junkie" and shelf["name"][0] == "sA episode 4"
    assert shelf["score"].to_list() == sorted(shelf["score"].to_list(), reverse=True)


def test_played_episodes_never_come_back() -> None:
    model = _model(per_show=4)
    shelf = model.recommend(["u1", "u2", "u4"], k=50)
    played = set(EVENTS.select("user_id", "item_id").iter_rows())
    assert shelf.height > 20
    assert not played & set(shelf.select("user_id", "episode_id").iter_rows())
    crime = shelf.filter(pl.col("user_id") == "u1", pl.col("show_id") == "sA")
    assert crime["episode_id"].to_list() == ["sa4", "sa2"]


def test_a_listener_who_played_the_newest_episodes_gets_the_next_unplayed_ones() -> None:
    events = pl.concat([EVENTS, _events([("u5", "sg4"), ("u5", "sg3"), ("u5", "sg4")])])
    shelf = EpisodeRecommender("words").fit(events, EPISODES, SHOWS).recommend(["u5"], k=3)
    assert shelf["episode_id"].to_list()[:2] == ["sg2", "sg1"]
    assert shelf["score"].to_list()[:2] == [1.0, 0.5]
    assert shelf["reason"][2] == "because you listen to Goal Talk" and shelf["show_id"][2] == "sF"


def test_similar_show_episodes_name_the_show_and_never_come_from_played_shows() -> None:
    shelf = _model().recommend(["u1", "u2"], k=20)
    similar = shelf.filter(pl.col("reason").str.starts_with("because you listen to"))
    u1 = similar.filter(pl.col("user_id") == "u1")
    assert set(u1["show_id"].head(4)) == {"sB", "sC"}  # the other true-crime shows lead
    crime = u1.filter(pl.col("show_id").is_in(["sB", "sC"]))
    assert set(crime["reason"]) == {"because you listen to Crime Junkie"}
    u2 = similar.filter(pl.col("user_id") == "u2")
    assert not {"sF", "sD"} & set(u2["show_id"])  # u2 plays those: only their new episodes appear
    reasons = dict(u2.select("show_id", "reason").unique().iter_rows())
    assert reasons["sG"] == "because you listen to Football Weekly"
    assert reasons["sE"] == "because you listen to Startup Stories"
    # two shows near each other, both played (one much more): each only gives new episodes
    events = pl.concat([EVENTS, _events([("u6", "sb1")] * 5 + [("u6", "sc1")])])
    both = EpisodeRecommender("words", per_show=4).fit(events, EPISODES, SHOWS).recommend(["u6"], k=30)
    played_shows = both.filter(pl.col("show_id").is_in(["sB", "sC"]))
    assert played_shows.height == 6 and set(played_shows["reason"].str.slice(0, 11)) == {"new episode"}
    # the reason names the played show that gives Crime Junkie the most
    assert set(both.filter(pl.col("show_id") == "sA")["reason"]) == {"because you listen to Murder Files"}


def test_at_most_per_show_episodes_of_one_show() -> None:
    for per_show in (1, 2):
        shelf = _model(per_show=per_show).recommend(["u1", "u2", "u3"], k=30)
        most = shelf.group_by("user_id", "show_id").len()["len"].max()
        assert most == per_show
    assert _model(per_show=1).recommend(["u1"], k=3)["show_id"].n_unique() == 3


def test_cold_start_gets_the_most_listened_shows_or_the_picked_categories() -> None:
    model = _model()
    shelf = model.recommend(["u3", "nobody"], k=4)
    for user in ("u3", "nobody"):  # a listener with tracks only, and one the model never saw
        mine = shelf.filter(pl.col("user_id") == user)
        # the newest episode of the most listened show (2 listeners) leads, its next one follows later
        assert mine["episode_id"][0] == "sf4" and "sf3" in mine["episode_id"].to_list()
        assert mine["reason"][0] == "popular in sports"
    picked = model.recommend(["u3"], k=4, categories={"u3": ["Business"]})
    assert set(picked["show_id"]) == {"sD", "sE"}
    assert set(picked["reason"]) == {"popular in business"}
    # an unknown category falls back to every show
    unknown = model.recommend(["u3"], k=4, categories={"u3": ["knitting"]})
    assert unknown.equals(shelf.filter(pl.col("user_id") == "u3"))
    parent = EpisodeRecommender("words").fit(EVENTS, EPISODES, SHOWS.with_columns(
        pl.when(pl.col("category") == "sports").then(pl.lit("Sport & Fitness")).alias("parent_category")))
    sport = parent.recommend(["u3"], k=4, categories={"u3": ["sport & fitness"]})
    assert set(sport["show_id"]) == {"sF", "sG"} and set(sport["reason"]) == {"popular in Sport & Fitness"}


def test_popular_picks_only_fill_the_end_of_a_listeners_shelf() -> None:
    shelf = _model().recommend(["u1"], k=50)
    reasons = shelf["reason"].to_list()
    first_popular = next(i for i, r in enumerate(reasons) if r.startswith("popular in"))
    assert all(r.startswith("popular in") for r in reasons[first_popular:])
    assert "sA" not in shelf["show_id"].to_list()[first_popular:]
    assert shelf["score"].to_list() == sorted(shelf["score"].to_list(), reverse=True)
    assert shelf["score"][first_popular - 1] > 0 >= shelf["score"][first_popular]


def test_batch_is_deterministic_and_matches_one_listener_at_a_time() -> None:
    users = ["u4", "u1", "nobody", "u2", "u3", "u1"]
    batch = _model().recommend(users, k=5)
    assert batch.equals(_model().recommend(users, k=5))
    assert batch.equals(_model().recommend(users, k=5, chunk=2))
    assert batch["user_id"].unique(maintain_order=True).to_list() == ["nobody", "u1", "u2", "u3", "u4"]
    for user in set(users):
        assert batch.filter(pl.col("user_id") == user).equals(_model().recommend([user], k=5))


def test_similar_shows_returns_the_same_kind_of_show() -> None:
    model = _model()
    near = model.similar_shows("sA", k=2)
    assert set(near["show_id"]) == {"sB", "sC"} and set(near["category"]) == {"true crime"}
    assert near["score"].to_list() == sorted(near["score"].to_list(), reverse=True)
    assert model.similar_shows("sF", k=1)["show_id"].to_list() == ["sG"]
    assert model.encoder_ == "words"


def test_undated_episodes_keep_the_catalog_order_and_unknown_shows_get_their_id() -> None:
    episodes = pl.DataFrame({"episode_id": ["x3", "x2", "x1"], "show_id": ["sX"] * 3,
                             "name": ["3", "2", "1"]})
    model = EpisodeRecommender("words").fit(_events([("u", "x2")]), episodes, SHOWS)
    shelf = model.recommend(["u"], k=1)
    assert shelf.row(0, named=True) | {"score": 0} == {
        "user_id": "u", "position": 1, "episode_id": "x3", "show_id": "sX", "name": "3", "show_name": "sX",
        "score": 0, "reason": "new episode of sX"}


def test_auto_encoder_says_which_one_ran_and_text_uses_text_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podcasts, "content_extra_available", lambda: False)
    assert EpisodeRecommender().fit(EVENTS, EPISODES, SHOWS).encoder_ == "words"
    seen: list[list[str | None]] = []

    def fake_text_vectors(texts: list[str | None], device: str = "cpu") -> np.ndarray:
        seen.append(texts)  # one axis per category word: shows of a category point the same way
        words = ["crime", "business", "sports"]
        return np.array([[float(w in (t or "")) for w in words] for t in texts], dtype=np.float32)

    monkeypatch.setattr("tastemaker.candidates.content.text_vectors", fake_text_vectors)
    model = EpisodeRecommender("text").fit(EVENTS, EPISODES, SHOWS)
    assert model.encoder_ == "text"
    assert seen[0][0] == ("Crime Junkie. true crime murder mystery cases investigated by detectives. "
                          "true crime")
    assert set(model.similar_shows("sD", k=5)["show_id"]) == {"sE"}


def test_bad_input_raises_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"encoder must be one of auto, text, words, got 'bert'"):
        EpisodeRecommender("bert").fit(EVENTS, EPISODES, SHOWS)
    with pytest.raises(ValueError, match=r"per_show and neighbours must be at least 1"):
        EpisodeRecommender("words", per_show=0).fit(EVENTS, EPISODES, SHOWS)
    with pytest.raises(ValueError, match=r"events needs columns \['item_id'\]"):
        EpisodeRecommender("words").fit(EVENTS.drop("item_id"), EPISODES, SHOWS)
    with pytest.raises(ValueError, match=r"shows needs columns \['name'\]"):
        EpisodeRecommender("words").fit(EVENTS, EPISODES, SHOWS.drop("name"))
    with pytest.raises(ValueError, match=r"none of text_columns \['summary'\]"):
        EpisodeRecommender("words", text_columns=["summary"]).fit(EVENTS, EPISODES, SHOWS)
    with pytest.raises(NotFittedError, match="call fit"):
        EpisodeRecommender().recommend(["u1"])
    model = _model()
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        model.recommend(["u1"], k=0)
    with pytest.raises(TypeError, match=r"not one string: pass \['u1'\]"):
        model.recommend("u1")
    with pytest.raises(TypeError, match="categories must map each user id to a list"):
        model.recommend(["u3"], categories={"u3": "comedy"})
    with pytest.raises(KeyError, match="unknown show 'nope'"):
        model.similar_shows("nope")
