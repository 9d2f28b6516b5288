"""The pipeline learns what `train pipeline` promises: a held-out later period cut from the listening itself,
members that keep what the bundle knows, one feature set from choice to serving, and choices that need a
clear out-of-fold gain."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.candidates.hybrid import clear_gain
from tastemaker.ranking.candidate_features import FeatureInputs
from tastemaker.ranking.periods import hold_out

START = datetime(2026, 1, 1)


def _bundle(skips: bool = True) -> TrainingData:
    """30 listeners of 3 taste groups (one artist each, 20 tracks), 40 timed plays each over 40 days."""
    rng = np.random.default_rng(1)
    rows = []
    for u in range(30):
        for n in range(40):
            item = (u % 3) * 20 + int(rng.integers(0, 20))
            rows.append((f"u{u:02d}", f"t{item:02d}", START + timedelta(days=n, hours=u), skips and n % 7 == 0))
    plays = pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "skipped"], orient="row")
    interactions = (plays.filter(~pl.col("skipped")).group_by("user_id", "item_id")
                    .agg(pl.len().cast(pl.Float64).alias("weight"))
                    .with_columns(("a" + (pl.col("item_id").str.slice(1).cast(pl.Int64) // 20).cast(pl.String))
                                  .alias("artist_id")))
    return TrainingData(interactions, plays=plays)


def test_the_held_out_period_is_each_listeners_last_tenth_and_keeps_the_artists() -> None:
    data = _bundle()
    past, later = hold_out(data, 0.1, familiar=False)
    last = data.plays.group_by("user_id").agg(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    assert past.plays["ts"].max() < data.plays["ts"].max()
    cut = last.with_columns((pl.col("first") + (pl.col("last") - pl.col("first")) * 0.9).alias("cut"))
    late = past.plays.join(cut, on="user_id").filter(pl.col("ts") >= pl.col("cut"))
    assert late.is_empty()  # nothing of the held-out tenth is in the past
    assert later.join(past.interactions, on=["user_id", "item_id"], how="semi").is_empty()  # new to them
    assert set(later["item_id"]) <= set(past.interactions["item_id"])  # and known to someone before the cut
    assert past.index.artists() is not None and (past.index.artists() >= 0).all()


def test_a_pipeline_trained_without_a_later_period_keeps_its_artist_member_and_refits_on_everything() -> None:
    data = _bundle()
    pipe = create("pipeline", only=["history", "artist"], max_grid=1, folds=2, candidates=20).fit(data)
    assert "params" in pipe.report_["members"]["artist"], pipe.report_["members"]["artist"]
    assert pipe.report_["refit_on_all"]["pairs"] == data.interactions.height
    heard = data.interactions.filter(pl.col("user_id") == "u00").select("user_id", "item_id")
    recs = pipe.recommend(["u00"], k=5, exclude=heard)
    assert recs.height == 5 and recs.join(heard, on=["user_id", "item_id"]).is_empty()


def test_the_features_of_another_period_are_the_ones_the_ranker_learnt() -> None:
    learnt = FeatureInputs.of(_bundle(skips=True).index)
    assert learnt.skips is not None
    later = FeatureInputs.of(_bundle(skips=False).index, like=learnt)  # no skips in this period
    assert later.skips is not None and later.skips.nnz == 0  # unknown everywhere, as a table as large as nothing
    assert learnt.skips.nnz and learnt.skips.shape[0] == len(_bundle().index.users)
    names = [n for source in learnt.sources() for n in source.names]
    assert names == [n for source in later.sources() for n in source.names]


def test_a_gain_inside_the_noise_is_not_clear() -> None:
    base = np.random.default_rng(0).random(26)
    noisy = base + np.tile([0.06, -0.05], 13)  # +0.005 on average, ±0.055 listener to listener: 26 cannot tell
    assert not clear_gain(noisy, base, 1.0)[0]
    assert clear_gain(base + 0.01, base, 1.0)[0]  # the same gain for everyone is clear
    assert not clear_gain(base - 0.01, base, 0.0)[0]  # a loss never is


def test_the_serving_path_returns_the_full_scorings_top_items_in_order() -> None:
    data = _bundle()
    pipe = create("pipeline", only=["history", "itemknn", "artist"], max_grid=1, folds=2, candidates=20).fit(data)
    users = ["u00", "u07", "u13"]
    heard = data.interactions.filter(pl.col("user_id").is_in(users)).select("user_id", "item_id")
    full = pipe.recommend(users, k=8, exclude=heard)
    rows = np.searchsorted(pipe.users_, users)
    blocked = [np.searchsorted(pipe.items_, heard.filter(pl.col("user_id") == u)["item_id"].to_numpy())
               for u in users]
    items, scores = pipe.ranked(rows, blocked, k=8)
    for at, user in enumerate(users):
        assert pipe.items_[items[at]].tolist() == full.filter(pl.col("user_id") == user)["item_id"].to_list()
        assert np.allclose(scores[at], full.filter(pl.col("user_id") == user)["score"].to_numpy())
        assert not set(items[at]) & set(blocked[at].tolist())


def test_settings_are_judged_on_lists_with_discover_weeklys_artist_cap() -> None:
    import scipy.sparse as sp

    from tastemaker.ranking.pipeline import full_ndcg

    # one listener; items 0-3 by artist 0 score highest, the target (item 4) is by artist 1 and fifth
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.1]])
    artists = np.array([0, 0, 0, 0, 1, -1])
    target = sp.csr_matrix(np.array([[0, 0, 0, 0, 1, 0]]))
    assert full_ndcg(scores, target, None, k=3) == 0.0  # uncapped: the top 3 are all artist 0
    capped = full_ndcg(scores, target, None, k=3, artists=artists, cap=2)
    assert capped == 1.0 / np.log2(4)  # capped at two: the target moves up to the third place
    fill = full_ndcg(np.array([[0.9, 0.8, 0.7]]), sp.csr_matrix(np.array([[0, 0, 1]])), None, k=3,
                     artists=np.array([0, 0, 0]), cap=2)
    assert fill == 1.0 / np.log2(4)  # a list short of k fills from what the cap left out
