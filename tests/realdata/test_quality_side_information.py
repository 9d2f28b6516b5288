"""The side information bench/quality.py gives its models: listening-aware confidence and Last.fm friendships."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tastemaker.evaluation.fixed_split import FixedSplit

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
    module.RATINGS = shared_data / "movielens-100k" / "u.data.gz"
    module.FRIENDS = shared_data / "lastfm-hetrec2011-2k" / "user_friends.dat"
    module.STREAMS = shared_data / "spotify-streaming-history-basic" / "streams.csv.gz"
    return module


def test_lastfm_confidence_is_log_plays_of_the_train_pairs_only(shared_data: Path, quality: ModuleType) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "lastfm2k")
    weights = quality.listening_weights(split)
    plays = split.train_weights
    assert weights.shape == plays.shape and weights.nnz == plays.nnz == split.matrices["train"].nnz
    assert np.allclose(weights[plays.nonzero()].A1, np.log1p(plays[plays.nonzero()].A1))
    assert weights.data.min() > 0  # every train pair counts: at least one play


def test_movielens_confidence_is_the_star_rating(shared_data: Path, quality: ModuleType) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "ml100k-recbole")
    stars = quality.listening_weights(split)
    assert stars.nnz == split.matrices["train"].nnz == 80_808
    assert set(np.unique(stars.data)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert quality.lastfm_friends(split) is None  # no social graph outside Last.fm


def test_lastfm_friendships_are_every_pair_of_the_data_set(shared_data: Path, quality: ModuleType) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "lastfm2k")
    friends = quality.lastfm_friends(split)
    assert friends.shape == (len(split.users),) * 2
    assert friends.nnz == 25_434  # the data set's directed pairs, all between users of the split
    assert abs(friends - friends.T).nnz == 0  # each friendship is listed both ways
    assert friends.diagonal().sum() == 0


@pytest.mark.parametrize("name", ["spotify-basic-discovery", "spotify-basic-familiar"])
def test_the_rankers_earlier_period_is_cut_from_train_alone(shared_data: Path, quality: ModuleType, name: str) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / name)
    familiar = name == "spotify-basic-familiar"
    early, plays = quality.earlier_period(split, quality.spotify_train_events(split), familiar)
    train = split.train_weights
    before, after = early.train_weights, early.matrices["valid"]
    assert 0 < before.nnz < train.nnz and after.nnz > 0 and early.matrices["test"].nnz == 0
    assert (before > train).nnz == 0  # no pair played more often before the cut than in all of train
    assert (after > (train > 0)).nnz == 0  # what follows the cut is train too: nothing of valid or test
    assert before.sum() == plays.height  # the plays before the cut, each counted once
    if familiar:
        assert after.multiply(before > 0).nnz > 0  # repeats count after the cut
    else:
        assert after.multiply(before > 0).nnz == 0  # only tracks new to the listener
    assert early.recency_weights(plays, 60.0).nnz == before.nnz  # the models' own check accepts these plays
