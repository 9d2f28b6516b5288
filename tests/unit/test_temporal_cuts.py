"""Evaluating and training a ranker on listeners who share no clock (exports of people from different years):
``auto`` cuts each listener at their own last days and says so, a table over too few listeners is refused,
and the ranker learns from every listener's own last week."""

from __future__ import annotations

import warnings

import polars as pl
import pytest

import tastemaker
from tastemaker.evaluation.split import choose_cut, temporal_split
from tastemaker.simulate import World, WorldConfig, write_world

COHORTS = 10  # listener i's history is moved back (i % 10) * 90 days: ten cohorts, one of them recent


@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory) -> tastemaker.Workspace:
    root = tmp_path_factory.mktemp("apart")
    write_world(World(WorldConfig(seed=1, n_users=200, n_tracks=1500, days=28)), root / "world", "parquet")
    events = pl.read_parquet(root / "world" / "events.parquet")
    cohort = events["user_id"].str.extract(r"(\d+)$").cast(pl.Int64) % COHORTS
    events.with_columns(pl.col("ts") - pl.duration(days=cohort * 90)).write_parquet(root / "world" / "events.parquet")
    ws = tastemaker.Workspace.create(root / "ws")
    ws.import_(root / "world", "table")
    return ws


def test_auto_cuts_per_listener_when_most_listeners_have_nothing_in_the_last_days(
        apart: tastemaker.Workspace) -> None:
    events = apart.store.events()
    chosen = choose_cut(events, 7.0)
    assert chosen.protocol == "per-listener" and chosen.active < chosen.listeners / COHORTS * 2
    assert f"only {chosen.active} of {chosen.listeners} listeners" in chosen.why
    assert choose_cut(events, 7.0, "global").protocol == "global"
    with pytest.raises(ValueError, match="protocol must be one of"):
        choose_cut(events, 7.0, "by-year")
    split = temporal_split(events, 7.0, per_listener=True)
    assert split.cuts is not None and split.protocol == "per-listener"
    cuts = dict(zip(split.cuts["user_id"].to_list(), split.cuts["cut"].to_list(), strict=True))
    late = split.train.filter(pl.col("last_ts") >= pl.col("user_id").replace_strict(cuts))
    assert late.is_empty()  # nobody's training listens reach past their own cut
    assert split.test["user_id"].n_unique() > 5 * chosen.active


def test_evaluate_says_which_cut_it_chose_and_scores_every_cohort(apart: tastemaker.Workspace) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auto = apart.evaluate(models=["popularity", "als"])
    assert any("spans differ" in str(w.message) for w in caught)
    global_ = apart.evaluate(models=["popularity", "als"], protocol="global", min_listeners=1)
    assert auto["users"][0] > 5 * global_["users"][0]
    row = auto.row(1, named=True)
    assert row["model"] == "als" and row["ndcg@10_low"] <= row["ndcg@10"] <= row["ndcg@10_high"]
    with pytest.raises(ValueError, match="lower --min-listeners"):
        apart.evaluate(models=["popularity"], protocol="global")  # the recent cohort alone is under 10


def test_the_ranker_learns_from_every_listeners_own_last_week(apart: tastemaker.Workspace) -> None:
    trained = apart.train("ranker")
    lists = trained.summary["train_lists"] + trained.summary["held_out_lists"]
    recent = choose_cut(apart.store.events(), 7.0).active
    assert lists > 3 * recent, (lists, recent)  # one global cut would give at most the recent cohort's lists
    assert trained.summary["cut"] == "each listener's last 7 days"


def test_a_ranker_that_lost_to_the_models_order_says_so() -> None:
    import lightgbm as lgb
    import numpy as np

    from tastemaker.ranking.online import FEATURES, OnlineRanker

    rng = np.random.default_rng(0)
    data = lgb.Dataset(rng.random((40, len(FEATURES))), rng.integers(0, 2, 40), group=[20, 20],
                       feature_name=list(FEATURES))
    booster = lgb.train({"objective": "lambdarank", "verbose": -1, "min_data_in_leaf": 1}, data, num_boost_round=2)
    lost = OnlineRanker(booster, {"held_out_lists": 2, "held_out_ndcg@10": {"ranker": 0.0, "model_order": 0.06}})
    won = OnlineRanker(booster, {"held_out_lists": 9, "held_out_ndcg@10": {"ranker": 0.3, "model_order": 0.2}})
    assert "2 held-out listeners worse than the model's own order" in (lost.lost_to_model_order() or "")
    assert won.lost_to_model_order() is None
