"""The side information the pipeline learns from on the benchmark splits: listening-aware confidence, the
Last.fm friendships the bench passes in, and the earlier period the ranker cuts from train alone."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest

from tastemaker.evaluation.fixed_split import FixedSplit
from tastemaker.ranking.periods import earlier_period

pytestmark = pytest.mark.realdata

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def quality(shared_data: Path) -> ModuleType:
    sys.path.insert(0, str(BENCH_DIR))  # the bench imports its doc helper from bench/
    try:
        spec = importlib.util.spec_from_file_location("quality_bench", BENCH_DIR / "quality.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH_DIR))
    module.DATA = shared_data
    return module


def test_lastfm_confidence_is_log_plays_of_the_train_pairs_only(shared_data: Path) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "lastfm2k")
    weights = split.training_data().index.confidence()
    plays = split.train_weights
    assert weights.shape == plays.shape and weights.nnz == plays.nnz == split.matrices["train"].nnz
    assert np.allclose(weights[plays.nonzero()].A1, np.log1p(plays[plays.nonzero()].A1))
    assert weights.data.min() > 0  # every train pair counts: at least one play


def test_movielens_confidence_is_the_star_rating(shared_data: Path, quality: ModuleType) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "ml100k-recbole")
    data = split.training_data(**quality.movielens_ratings(split))
    stars = data.index.confidence()
    assert stars.nnz == split.matrices["train"].nnz == 80_808
    assert set(np.unique(stars.data)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert data.index.friends() is None  # no social graph outside Last.fm


def test_lastfm_friendships_are_every_pair_of_the_data_set(shared_data: Path, quality: ModuleType) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "lastfm2k")
    friends = split.training_data(**quality.lastfm_friends(split)).index.friends()
    assert friends.shape == (len(split.users),) * 2
    assert friends.nnz == 25_434  # the data set's directed pairs, all between users of the split
    assert abs(friends - friends.T).nnz == 0  # each friendship is listed both ways
    assert friends.diagonal().sum() == 0


@pytest.mark.parametrize("name", ["spotify-basic-discovery-v2", "spotify-basic-familiar"])
def test_the_rankers_earlier_period_is_cut_from_train_alone(shared_data: Path, name: str) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / name)
    familiar = name == "spotify-basic-familiar"
    data = split.training_data()
    assert data.plays is not None and data.plays["skipped"].any()  # the folder's train events, skips included
    cut = earlier_period(data, 7 / 8, familiar)
    assert cut is not None
    early, later = cut
    train = data.index.W
    before, after = early.index.W, early.index.pairs(later)
    assert early.index.X.shape == train.shape  # the same id map
    assert 0 < before.nnz < train.nnz and after.nnz > 0
    assert (before > train).nnz == 0  # no pair played more often before the cut than in all of train
    assert (after > (train > 0)).nnz == 0  # what follows the cut is train too: nothing of valid or test
    assert before.sum() == early.plays.filter(~pl.col("skipped")).height  # the plays before the cut, once each
    if familiar:
        assert after.multiply(before > 0).nnz > 0  # repeats count after the cut
    else:
        assert after.multiply(before > 0).nnz == 0  # only tracks new to the listener


def test_a_split_whose_events_do_not_match_train_is_refused(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "benchmarks" / "spotify-basic-familiar"
    for part in ("train", "valid", "test"):
        (tmp_path / f"{part}.tsv.gz").symlink_to(folder / f"{part}.tsv.gz")
    events = pl.read_csv(folder / "train_events.tsv.gz", separator="\t", infer_schema=False).with_row_index()
    first_play = events.filter(pl.col("ms_played").cast(pl.Int64) >= 30_000)["index"][0]
    events.filter(pl.col("index") != first_play).drop("index").write_csv(tmp_path / "train_events.tsv",
                                                                          separator="\t")  # one play short
    with pytest.raises(ValueError, match="train_events is not the train part"):
        FixedSplit.load(tmp_path)
