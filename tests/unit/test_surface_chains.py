"""Every surface runs the re-ranking chain it declares (``surfaces/chains.py``): its lists keep the
chain's caps and gaps, and another chain gives another list."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from tastemaker.surfaces.chains import (DAILY_MIX, DISCOVER_WEEKLY, HOME, RADIO, SIMILAR, Calibrate, Cap,
                                        Chain, Context, Dedupe, Explore, Mmr, Rules, Spread, apply)
from tastemaker.surfaces.daily_mix import DailyMixes, MixParams
from tastemaker.surfaces.discover_weekly import discover_weekly, discover_weekly_batch
from tastemaker.surfaces.for_you import DEPTH, for_you
from tastemaker.surfaces.home import HomeSources, Shelf, home, standard_shelves
from tastemaker.surfaces.radio import Played, Radio
from tastemaker.surfaces.reasons import ItemSpace
from tastemaker.surfaces.similar import similar_tracks


class Ranked:
    """A stand-in personal model: one ranking for every listener (best first), excluded pairs left out."""

    name = "ranked"

    def __init__(self, order: Sequence[str], vectors: np.ndarray | None = None) -> None:
        self.item_ids = np.asarray(order, dtype=str)
        self.vectors = vectors

    def recommend(self, user_ids: Sequence[str], k: int = 10,
                  exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        n = len(self.item_ids)
        rows = pl.DataFrame({"user_id": np.repeat(np.asarray(user_ids, dtype=str), n),
                             "item_id": np.tile(self.item_ids, len(user_ids)),
                             "score": np.tile(np.linspace(1.0, 0.5, n), len(user_ids))})
        if exclude is not None:
            rows = rows.join(exclude.select("user_id", "item_id"), on=["user_id", "item_id"], how="anti",
                             maintain_order="left")
        return (rows.with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("rank"))
                .filter(pl.col("rank") <= k))

    def similar_items(self, item_id: str, k: int = 10) -> pl.DataFrame:
        return self.recommend(["?"], k=k).drop("user_id")

    def item_vectors(self) -> np.ndarray | None:
        return self.vectors


def _most_per(frame: pl.DataFrame, column: str, *by: str) -> int:
    return int(frame.drop_nulls(column).group_by(*by, column).len()["len"].max())  # type: ignore[arg-type]


def _limit(chain: Chain) -> int:
    return next(step.limit for step in chain if isinstance(step, Cap))


# twelve tracks ranked t00..t11: four by a, three by b, two by c, then one each by d, e, f
IDS = [f"t{i:02d}" for i in range(12)]
ARTISTS = ["a"] * 4 + ["b"] * 3 + ["c"] * 2 + ["d", "e", "f"]
CATALOG = pl.DataFrame({"track_id": IDS, "name": IDS, "artist_id": ARTISTS, "artist_name": ARTISTS})


def test_apply_runs_the_steps_left_to_right_and_batches_only_steps_that_can() -> None:
    cands = CATALOG.select(pl.col("track_id").alias("item_id"), pl.lit(1.0).alias("score"), "artist_id")
    capped_first = apply((Cap("artist_id", 1), Rules()), cands, Context(heard=["t00"]))
    heard_first = apply((Rules(), Cap("artist_id", 1)), cands, Context(heard=["t00"]))
    assert capped_first["item_id"].to_list()[:2] == ["t04", "t07"]  # a's best was capped away, then heard
    assert heard_first["item_id"].to_list()[:2] == ["t01", "t04"]
    with pytest.raises(ValueError, match="one listener"):
        apply((Cap("artist_id", 1), Mmr()), cands, Context(by="user_id"))
    with pytest.raises(ValueError, match="rng"):
        apply((Explore(0.5, (1,)),), cands)


def test_discover_weekly_keeps_the_cap_of_its_chain_and_a_tighter_cap_changes_it() -> None:
    model, heard = Ranked(IDS), pl.DataFrame({"user_id": ["u"], "item_id": ["t11"]})
    declared = discover_weekly(model, "u", heard, CATALOG, size=6)
    assert _most_per(declared.join(CATALOG, on="track_id"), "artist_id") == _limit(DISCOVER_WEEKLY) == 2
    assert declared["track_id"].to_list() == ["t00", "t01", "t04", "t05", "t07", "t08"]
    tighter = discover_weekly(model, "u", heard, CATALOG, size=6, chain=(Cap("artist_id", 1),))
    assert tighter["track_id"].to_list() == ["t00", "t04", "t07", "t09", "t10"]  # t11 was heard
    batch = discover_weekly_batch(model, ["u", "v"], heard, CATALOG, size=6, chain=(Cap("artist_id", 1),))
    unheard = batch.filter(pl.col("user_id") == "v")["track_id"].to_list()
    assert unheard == ["t00", "t04", "t07", "t09", "t10", "t11"]
    with pytest.raises(ValueError, match="one listener"):
        discover_weekly(model, "u", heard, CATALOG, chain=(Mmr(),))


def _mix_world() -> tuple[ItemSpace, dict[str, str], pl.DataFrame, pl.DataFrame]:
    """Twelve played tracks (a×6, b×3, c×3, heaviest first) and four new ones (by a, d, e, f), all alike."""
    played = [f"p{i:02d}" for i in range(12)]
    new = ["n0", "n1", "n2", "n3"]
    rng = np.random.default_rng(0)
    vectors = np.array([1.0, 0.0]) + 0.01 * rng.standard_normal((16, 2))
    artists = dict(zip(played + new, ["a"] * 6 + ["b"] * 3 + ["c"] * 3 + ["a", "d", "e", "f"], strict=True))
    history = pl.DataFrame({"item_id": played, "weight": np.arange(12, 0, -1, dtype=np.float64)})
    return ItemSpace(played + new, vectors), artists, history, pl.DataFrame({"item_id": new})


def test_daily_mix_keeps_the_cap_of_its_chain_counting_familiar_tracks_for_new_ones() -> None:
    space, artists, history, pool = _mix_world()
    params = MixParams(n_mixes=1, size=12, new=3, min_tracks=8)
    declared = DailyMixes(space, artists, params=params).for_user("u", history, pool)
    assert _most_per(declared, "artist_id") == _limit(DAILY_MIX) == 4  # a has six played tracks
    assert "n0" not in declared["item_id"].to_list()  # a new track by a: its four places are taken
    assert declared.filter(~pl.col("familiar"))["item_id"].sort().to_list() == ["n1", "n2", "n3"]
    tighter = DailyMixes(space, artists, params=params, chain=(Rules(), Dedupe(), Cap("artist_id", 2)))
    mix = tighter.for_user("u", history, pool)
    assert _most_per(mix, "artist_id") == 2 and mix.height == 8  # six familiar, new ≤ one for three
    unruled = DailyMixes(space, artists, params=params, chain=(Cap("artist_id", 4),))
    with_heard = unruled.for_user("u", history, pl.DataFrame({"item_id": ["p11", "n1"]}))
    assert with_heard.filter(~pl.col("familiar"))["item_id"].sort().to_list() == ["n1", "p11"]  # p11 is heard


def test_radio_spaces_artists_as_its_chain_says_counting_the_session() -> None:
    ids = ["seed", "a1", "a2", "b1", "a3", "b2", "c1", "d1"]
    vectors = np.array([[1.0, 0.0]] + [[1.0, 0.05 * i] for i in range(1, 8)])
    artists = ["s", "a", "a", "b", "a", "b", "c", "d"]
    gap = next(step.gap for step in RADIO if isinstance(step, Spread))
    assert gap == 3 and Radio(ids, vectors, artists).next_tracks("seed", k=4)["item_id"].to_list() == \
        ["a1", "b1", "c1", "d1"]  # a2, a3 and b2 come within three tracks of their artist
    loose = Radio(ids, vectors, artists, chain=(Rules(), Spread("artist_id", 1)))
    assert loose.next_tracks("seed", k=4)["item_id"].to_list() == ["a1", "b1", "a3", "b2"]
    after_a = loose.next_tracks("seed", [Played("a1", skipped=False)], k=1)["item_id"].to_list()
    assert after_a == ["b1"]  # a2 is nearest, but the session's last artist was a
    assert Radio(ids, vectors, artists, chain=()).next_tracks("seed", k=1)["item_id"].to_list() == ["seed"]


def _cards(ids: list[str], artist: str | None = None) -> pl.DataFrame:
    return pl.DataFrame({"item_id": ids, "kind": ["track"] * len(ids), "title": ids,
                         "subtitle": [artist or f"by-{i}" for i in ids], "score": [1.0] * len(ids),
                         "reason": ["r"] * len(ids)})


def test_home_shelves_keep_the_cap_and_dedupe_of_the_page_chain() -> None:
    shelves = [Shelf("one", "One", _cards(["t1", "t2", "t3", "t4"], "x")),
               Shelf("two", "Two", _cards(["t1", "t5", "t6"]))]
    page = home("u", shelves, cards=4, min_cards=1)
    assert page.filter(pl.col("shelf") == "one")["item_id"].to_list() == ["t1", "t2"]
    assert _limit(HOME) == 2 and page["item_id"].is_unique().all()
    tighter = home("u", shelves, cards=4, min_cards=1, chain=(Dedupe(("kind", "item_id")), Cap("artist", 1)))
    assert tighter.filter(pl.col("shelf") == "one")["item_id"].to_list() == ["t1"]
    repeats = home("u", shelves, cards=4, min_cards=1, chain=(Cap("artist", 2),))
    assert repeats["item_id"].to_list().count("t1") == 2  # without Dedupe a card shows on both shelves


def test_the_recommended_home_shelf_runs_its_mmr_chain_over_the_item_vectors() -> None:
    fillers = [f"f{i:02d}" for i in range(20)]  # so that relevance falls gently along the list
    order = ["x1", "x2", "x3", "y1", "z1", *fillers, "w1"]
    vectors = np.array([[1.0, 0.0, 0.0], [1.0, 0.01, 0.0], [1.0, 0.0, 0.01], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                        *([[1.0, 1.0, 1.0]] * 20), [0.7, 0.7, 0.0]])
    model = Ranked(order, vectors)
    history = pl.DataFrame({"item_id": ["w1"], "weight": [1.0], "recency": [1.0]})
    tracks = pl.DataFrame({"track_id": order, "name": order, "artist_id": order, "artist_name": order})

    def recommended(chain: Chain) -> list[str]:
        shelves, _ = standard_shelves("u", HomeSources(model, history, tracks), recommended=chain)
        return next(s for s in shelves if s.key == "recommended").cards["item_id"].to_list()

    assert recommended(())[:5] == ["x1", "x2", "x3", "y1", "z1"]
    assert recommended((Mmr(0.7),))[:3] == ["x1", "y1", "z1"]  # the declared chain: near-copies of x1 wait


def test_similar_tracks_leave_out_the_seed_and_heard_ones_and_keep_the_chain_cap() -> None:
    model = Ranked(IDS)
    found = similar_tracks(model, "t00", 6, CATALOG, heard=["t04"])
    assert found["item_id"].to_list() == ["t01", "t02", "t05", "t06", "t07", "t08"]
    assert _most_per(found, "artist_id") == _limit(SIMILAR) == 2
    one = similar_tracks(model, "t00", 6, CATALOG, chain=(Rules(), Cap("artist_id", 1)))
    assert one["item_id"].to_list() == ["t01", "t04", "t07", "t09", "t10", "t11"]


def test_for_you_calibrates_to_the_history_genres_and_logs_the_propensity_of_explored_slots() -> None:
    ids = [f"r{i:02d}" for i in range(30)] + [f"j{i:02d}" for i in range(30)]  # rock ranked above jazz
    tracks = pl.DataFrame({"track_id": ids, "genres": [["rock"]] * 30 + [["jazz"]] * 30})
    model, heard = Ranked(ids), pl.DataFrame({"user_id": ["u"], "item_id": ["r00"]})
    history = pl.DataFrame({"item_id": ["r00", "j29"], "weight": [1.0, 1.0]})
    plain = for_you(model, "u", heard, tracks, 6, history=history, chain=(Rules(),))
    assert plain["item_id"].to_list() == [f"r{i:02d}" for i in range(1, 7)]
    assert (plain["propensity"] == 1.0).all()
    calibrated = for_you(model, "u", heard, tracks, 6, history=history, chain=(Rules(), Calibrate(0.5)))
    assert calibrated["item_id"].str.starts_with("j").sum() >= 1  # half the history is jazz, as none of plain
    explored = for_you(model, "u", heard, tracks, 6, history=history, rng=np.random.default_rng(0),
                       chain=(Rules(), Explore(1.0, (2,))))
    row = explored.row(2, named=True)
    left = min(DEPTH * 6, len(ids) - 1) - 6  # the candidates not on the list
    assert row["reason"] == "exploration" and row["propensity"] == pytest.approx(1 / left)
    assert explored.drop_nulls("score").height == 5
    declared = for_you(model, "u", heard, tracks, 10, history=history, rng=np.random.default_rng(1))
    assert declared.filter(pl.col("reason") != "exploration")["item_id"].str.starts_with("j").sum() >= 1
    drawn = 0.1 / (min(DEPTH * 10, len(ids) - 1) - 10)
    assert set(declared["propensity"].round(6)) <= {1.0, 0.9, round(drawn, 6)}
