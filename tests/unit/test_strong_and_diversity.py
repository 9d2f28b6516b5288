"""Strong generalisation (held-out users, fold-in), intra-list diversity and cold/warm items, on made-up data."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from tastemaker.candidates.als import ALS
from tastemaker.candidates.ease import EASE
from tastemaker.candidates.history import PersonalHistory
from tastemaker.candidates.itemknn import ItemKNN
from tastemaker.cli.main import app
from tastemaker.evaluation.fixed_split import ItemPopularity
from tastemaker.evaluation.metrics import ItemInfo, beyond_accuracy, by_item_popularity, intra_list_diversity
from tastemaker.evaluation.protocols import make_split
from tastemaker.evaluation.strong import StrongSplit, evaluate_strong, strong_item_segments, strong_per_user


def _blocks(n_users: int = 60, n_items: int = 30, seed: int = 0) -> sp.csr_matrix:
    """Two taste groups: users in the first half mostly play the first half of the items."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_users) < n_users // 2
    side = np.arange(n_items) < n_items // 2
    p = np.where(group[:, None] == side[None, :], 0.45, 0.04)
    return sp.csr_matrix((rng.random((n_users, n_items)) < p).astype(np.float32))


def _pool(X: sp.csr_matrix, with_ts: bool = False) -> pl.DataFrame:
    u, i = X.nonzero()
    frame = pl.DataFrame({"user_id": [f"u{x:03d}" for x in u], "item_id": [f"i{x:03d}" for x in i]})
    if with_ts:
        start = datetime(2024, 1, 1)
        frame = frame.with_columns(pl.Series("ts", [start + timedelta(hours=int(x)) for x in (u * 7 + i * 13) % 97]))
    return frame


# --- fold-in -----------------------------------------------------------------------------------

@pytest.mark.parametrize("model", [EASE(l2=5.0), ItemKNN(k=10), PersonalHistory(), ItemPopularity()])
def test_fold_in_of_a_training_users_own_history_gives_their_trained_scores(model: object) -> None:
    X = _blocks()
    fitted = model.fit(X)  # type: ignore[attr-defined]
    users = np.array([3, 41])
    np.testing.assert_allclose(fitted.fold_in(X[users]), fitted.score(users, X), rtol=1e-6, atol=1e-9)


def test_als_fold_in_solves_the_least_squares_user_step_and_tracks_the_trained_scores() -> None:
    X = _blocks()
    model = ALS(factors=6, regularization=2.0, alpha=3.0, iterations=15).fit(X)
    Y = model.item_factors_.astype(np.float64)
    for u in (1, 45):
        items, confidence = X[u].indices, 3.0 * X[u].data  # implicit's confidence is alpha * x
        A = Y.T @ Y + 2.0 * np.eye(6) + (Y[items].T * (confidence - 1.0)) @ Y[items]
        expected = np.linalg.solve(A, confidence @ Y[items])
        np.testing.assert_allclose(model.fold_in_factors(X[[u]])[0], expected, rtol=1e-4, atol=1e-5)
        trained = model.score(np.array([u]), X)[0]
        assert np.corrcoef(model.fold_in(X[[u]])[0], trained)[0, 1] > 0.98
    with pytest.raises(ValueError, match="item columns"):
        model.fold_in(X[:, :10])


def test_models_without_fold_in_are_refused_with_the_reason() -> None:
    class TrainedUsersOnly:
        name = "plain"

        def fit(self, X: sp.csr_matrix) -> TrainedUsersOnly:
            return self

    split = StrongSplit.from_pool(_pool(_blocks()), holdout=0.2)
    with pytest.raises(TypeError, match="no fold_in"):
        evaluate_strong(split, TrainedUsersOnly())  # type: ignore[arg-type]


# --- the strong split --------------------------------------------------------------------------

def test_held_out_users_never_appear_in_training_and_their_histories_are_cut_about_80_20() -> None:
    pool = _pool(_blocks(n_users=100))
    split = StrongSplit.from_pool(pool, holdout=0.2, fold_in=0.8, seed=3)
    held, trained = set(split.heldout_users.to_list()), set(split.train_users.to_list())
    assert len(held) == 20 and not held & trained and held | trained == set(pool["user_id"].unique().to_list())
    assert split.train.shape == (80, len(split.items)) and split.fold_in.shape[0] == split.target.shape[0] == 20
    assert set(pool.filter(pl.col("user_id").is_in(list(trained)))["item_id"].unique().to_list()) == set(split.items)
    held_pairs = pool.filter(pl.col("user_id").is_in(list(held))).height
    assert split.fold_in.nnz + split.target.nnz + split.dropped == held_pairs
    assert split.fold_in.multiply(split.target).nnz == 0  # a pair is folded in or a target, never both
    assert 0.72 < split.fold_in.nnz / (split.fold_in.nnz + split.target.nnz) < 0.88
    again = StrongSplit.from_pool(pool, holdout=0.2, fold_in=0.8, seed=3)
    assert again.heldout_users.equals(split.heldout_users) and (again.target != split.target).nnz == 0
    assert not StrongSplit.from_pool(pool, holdout=0.2, seed=4).heldout_users.equals(split.heldout_users)


def test_held_out_pairs_on_items_only_held_out_users_have_are_dropped_and_counted() -> None:
    pool = pl.DataFrame({"user_id": ["a", "a", "b", "b", "c", "c", "c"],
                         "item_id": ["x", "y", "x", "y", "x", "y", "only_c"]})
    split = StrongSplit.from_pool(pool, holdout=0.34, fold_in=0.5, seed=0)
    if split.heldout_users.to_list() == ["c"]:
        assert split.dropped == 1 and "only_c" not in split.items.to_list()
    else:
        assert split.dropped == 0 and "only_c" in split.items.to_list()
    with pytest.raises(ValueError, match="nobody to train on"):
        StrongSplit.from_pool(pool, holdout=0.9)
    with pytest.raises(ValueError, match="ts column"):
        StrongSplit.from_pool(pool, order="time")
    with pytest.raises(ValueError, match="fold_in must be between"):
        StrongSplit.from_pool(pool, fold_in=1.0)


def test_time_order_folds_in_each_users_earliest_items() -> None:
    pool = _pool(_blocks(), with_ts=True)
    split = StrongSplit.from_pool(pool, holdout=0.25, fold_in=0.6, order="time", seed=1)
    first = pool.group_by("user_id", "item_id").agg(pl.col("ts").min())
    items, users = split.items, split.heldout_users
    for matrix, label in ((split.fold_in, "fold"), (split.target, "target")):
        u, i = matrix.nonzero()
        part = pl.DataFrame({"user_id": users.gather(u), "item_id": items.gather(i), "part": label})
        first = first.join(part, on=["user_id", "item_id"], how="left", suffix=f"_{label}")
    by_user = (first.filter(pl.col("part").is_not_null() | pl.col("part_target").is_not_null())
               .group_by("user_id").agg(pl.col("ts").filter(pl.col("part") == "fold").max().alias("last_fold"),
                                        pl.col("ts").filter(pl.col("part_target") == "target").min().alias("first_target")))
    both = by_user.drop_nulls()
    assert both.height >= 10 and (both["last_fold"] <= both["first_target"]).all()


def test_a_split_written_by_the_split_command_keeps_first_listen_times_for_time_ordered_fold_in() -> None:
    start = datetime(2024, 3, 1)
    rows = [(f"u{u}", f"t{(u + n) % 9}", start + timedelta(days=n, hours=u)) for u in range(12) for n in range(10)]
    events = pl.DataFrame(rows, schema=["user_id", "item_id", "ts"], orient="row").with_columns(
        pl.lit("a").alias("artist_id"), pl.lit("play").alias("type"), pl.lit(None, pl.Boolean).alias("skipped"),
        pl.lit(200_000).alias("ms_played"), pl.lit(1).alias("count"))
    train = make_split(events.lazy(), "temporal-user", discovery=False)["train"]
    first = events.group_by("user_id", "item_id").agg(pl.col("ts").min().alias("first"))
    assert train.join(first, on=["user_id", "item_id"]).select((pl.col("ts") == pl.col("first")).all()).item()
    split = StrongSplit.from_pool(train, holdout=0.25, order="time")
    assert split.fold_in.nnz > 0 and split.target.nnz > 0


# --- evaluation under the strong protocol ------------------------------------------------------

def test_a_collaborative_model_beats_popularity_on_held_out_users_with_clear_tastes() -> None:
    split = StrongSplit.from_pool(_pool(_blocks(n_users=200, n_items=40)), holdout=0.2, seed=0)
    pop = evaluate_strong(split, ItemPopularity().fit(split.train), (5,))
    ease = evaluate_strong(split, EASE(l2=10.0).fit(split.train), (5,), beyond=True)
    assert pop["users"] == ease["users"] == 40
    assert ease["ndcg@5"] > pop["ndcg@5"] + 0.1 and ease["coverage@5"] > 0
    per = strong_per_user(split, EASE(l2=10.0).fit(split.train), 5)
    assert per.height == 40 and per["ndcg@5"].mean() == pytest.approx(ease["ndcg@5"], abs=1e-4)


def test_fold_in_items_are_never_recommended_unless_familiar() -> None:
    split = StrongSplit.from_pool(_pool(_blocks()), holdout=0.2, seed=2)
    history = PersonalHistory().fit(split.train)
    # History ranks the folded-in items first; masked, they cannot be hits, so it falls to popularity.
    assert evaluate_strong(split, history, (5,))["ndcg@5"] == pytest.approx(
        evaluate_strong(split, ItemPopularity().fit(split.train), (5,))["ndcg@5"])
    # Unmasked, its top 3 are folded-in items (anyone with a target folded in at least 4), never targets.
    assert evaluate_strong(split, history, (3,), familiar=True)["ndcg@3"] == 0.0
    assert evaluate_strong(split, history, (3,))["ndcg@3"] > 0.0


# --- diversity ---------------------------------------------------------------------------------

RECS = pl.DataFrame({"user_id": [1, 1, 1, 1, 2, 2, 2], "item_id": ["a", "b", "c", "z", "d", "e", "f"],
                     "rank": [1, 2, 3, 4, 1, 2, 3]})  # "z" is past k=3


def test_artist_diversity_on_hand_counted_lists() -> None:
    artists = pl.DataFrame({"item_id": ["a", "b", "c", "d", "e", "f", "z"], "artist": ["x", "x", "y", "w", "w", "w", "q"]})
    got = intra_list_diversity(RECS, 3, artists=artists)
    # user 1: a, b by x, c by y -> 2 artists of 3 items; pairs ab same, ac and bc differ -> 2/3
    # user 2: d, e, f all by w -> 1 of 3; no pair differs -> 0
    assert got["artist_share@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert got["artist_ild@3"] == pytest.approx((2 / 3 + 0) / 2)


def test_tag_diversity_is_the_mean_pairwise_jaccard_distance_skipping_untagged_items() -> None:
    tags = pl.DataFrame({"item_id": ["a", "a", "b", "b", "c", "d", "e", "e"],
                         "tag": ["rock", "pop", "rock", "metal", "jazz", "rock", "rock", "rock"]})  # f untagged
    got = intra_list_diversity(RECS, 3, tags=tags)
    # user 1: a {rock, pop} and b {rock, metal} share 1 of 3 tags -> 2/3; c shares nothing -> 1, 1; mean 8/9.
    # user 2: only the pair d-e counts (f has no tags), and they have the same tag set -> 0
    assert got == {"tag_ild@3": pytest.approx((8 / 9 + 0) / 2)}


def test_vector_diversity_is_the_mean_pairwise_cosine_distance() -> None:
    ids = np.array(["a", "b", "c", "d", "e", "f"])
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [5.0, 0.0], [0.0, 0.0]])  # f: no vector
    got = intra_list_diversity(RECS, 3, vectors=(ids, rows))
    user1 = (1.0 + 2 * (1 - 1 / math.sqrt(2))) / 3  # ab orthogonal; ac and bc at 45 degrees
    assert got["vector_ild@3"] == pytest.approx((user1 + 0.0) / 2)  # d, e point the same way


def test_beyond_accuracy_carries_the_diversity_measures_and_item_info_maps_ids_to_columns() -> None:
    items = pl.Series(["Abba\u241fSOS", "Abba\u241fWaterloo", "Blur\u241fSong 2"])
    info = ItemInfo.from_track_ids(items)
    assert info.artists is not None and info.artists["artist"].to_list() == ["Abba", "Abba", "Blur"]
    assert ItemInfo.from_track_ids(pl.Series(["123", "Abba\u241fSOS"])).artists is None
    recs = pl.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 2], "rank": [1, 2, 1, 2]})
    train = pl.DataFrame({"user_id": [0, 1], "item_id": [0, 2]})
    got = beyond_accuracy(recs, train, n_items=3, k=2, **info.indexed(items))
    assert got["artist_ild@2"] == pytest.approx(0.5) and got["artist_share@2"] == pytest.approx(0.75)
    assert "coverage@2" in got and "tag_ild@2" not in got


# --- cold / warm target items ------------------------------------------------------------------

def test_cold_and_warm_segments_restrict_the_target_and_not_the_lists() -> None:
    train = pl.DataFrame({"user_id": [1, 2, 3, 4], "item_id": ["hit", "hit", "hit", "tail"]})  # hit: 3, tail: 1
    truth = pl.DataFrame({"user_id": [9, 9, 8], "item_id": ["hit", "tail", "hit"]})
    recs = pl.DataFrame({"user_id": [9, 9, 8, 8], "item_id": ["tail", "new", "new", "hit"], "rank": [1, 2, 1, 2]})
    got = by_item_popularity(recs, truth, train, k=2, cold_max=1)
    assert got["cold"]["users"] == 1 and got["cold"]["ndcg@2"] == pytest.approx(1.0)  # user 9's tail item at rank 1
    assert got["warm"]["users"] == 2 and got["warm"]["recall@2"] == pytest.approx(0.5)  # 9 misses hit, 8 finds it
    assert got["warm"]["ndcg@2"] == pytest.approx((0 + 1 / math.log2(3)) / 2)
    assert got["cold"]["target_share"] == pytest.approx(1 / 3) and got["cold"]["list_share"] == pytest.approx(3 / 4)


def test_strong_item_segments_split_the_held_out_targets() -> None:
    split = StrongSplit.from_pool(_pool(_blocks(n_users=120)), holdout=0.25, seed=0)
    counts = np.asarray(split.train.sum(axis=0)).ravel()
    cut = int(np.median(counts))
    got = strong_item_segments(split, EASE(l2=10.0).fit(split.train), 5, cold_max=cut)
    _, ti = split.target.nonzero()
    assert got["cold"]["target_share"] == pytest.approx(np.mean(counts[ti] <= cut), abs=1e-4)
    assert got["cold"]["target_share"] + got["warm"]["target_share"] == pytest.approx(1.0, abs=1e-3)


# --- the command line --------------------------------------------------------------------------

@pytest.fixture
def split_dir(tmp_path: Path) -> Path:
    pool = _pool(_blocks(n_users=80, n_items=30))
    folder = tmp_path / "split"
    folder.mkdir()
    pool.write_csv(folder / "train.tsv", separator="\t")
    pool.head(5).write_csv(folder / "valid.tsv", separator="\t")
    pool.tail(5).write_csv(folder / "test.tsv", separator="\t")
    return folder


def test_evaluate_split_runs_the_strong_protocol_in_json_and_markdown(split_dir: Path) -> None:
    runner = CliRunner()
    args = ["evaluate-split", str(split_dir), "--model", "ease", "--param", "l2=10", "--protocol", "strong",
            "--holdout-users", "0.25", "--segments"]
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["protocol"] == "strong" and payload["heldout"] == 20 and payload["train_users"] == 60
    with_target = np.count_nonzero(np.diff(_cli_split(split_dir).target.indptr))
    assert 10 < with_target <= 20 and payload["metrics"]["users"] == with_target
    assert set(payload["item_segments"]) <= {"cold", "warm"}
    markdown = runner.invoke(app, [*args, "--format", "markdown"])
    assert markdown.exit_code == 0 and f"| ndcg@10 | {payload['metrics']['ndcg@10']:.4f} |" in markdown.stdout
    refused = runner.invoke(app, [*args, "--fold-order", "time"])
    assert refused.exit_code == 2 and "ts column" in refused.output


def test_compare_pairs_two_models_on_the_same_held_out_users(split_dir: Path) -> None:
    done = CliRunner().invoke(app, ["compare", str(split_dir), "--a", "popularity", "--b", "ease:l2=10", "--protocol",
                                    "strong", "--holdout-users", "0.25", "--format", "json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    with_target = np.count_nonzero(np.diff(_cli_split(split_dir).target.indptr))
    assert payload["users"] == with_target and payload["diff"] > 0 and payload["holdout_users"] == 0.25


def _cli_split(folder: Path) -> StrongSplit:
    """The strong split the commands above cut (their defaults: 80 % fold-in, random order, seed 0)."""
    return StrongSplit.from_pool(pl.read_csv(folder / "train.tsv", separator="\t"), holdout=0.25)
