"""Strong generalisation on ml100k-recbole: users never trained on, scored from 80 % of their history."""

from __future__ import annotations

from pathlib import Path

import pytest

from tastemaker.candidates.itemknn import ItemKNN
from tastemaker.evaluation.fixed_split import FixedSplit, ItemPopularity
from tastemaker.evaluation.significance import paired
from tastemaker.evaluation.strong import StrongSplit, evaluate_strong, strong_per_user

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def split(shared_data: Path) -> StrongSplit:
    pool = FixedSplit.load(shared_data / "benchmarks" / "ml100k-recbole").frames["train"]
    return StrongSplit.from_pool(pool, holdout=0.1, fold_in=0.8, seed=0, name="ml100k-recbole")


def test_the_split_holds_out_a_tenth_of_the_users(split: StrongSplit) -> None:
    assert (len(split.train_users), len(split.heldout_users)) == (849, 94)
    assert not set(split.train_users.to_list()) & set(split.heldout_users.to_list())
    assert split.train.nnz + split.fold_in.nnz + split.target.nnz + split.dropped == 80_808


def test_item_knn_beats_popularity_on_held_out_users(split: StrongSplit) -> None:
    pop = ItemPopularity().fit(split.train)
    knn = ItemKNN(k=200, weighting="bm25").fit(split.train)
    assert evaluate_strong(split, knn, (10,))["ndcg@10"] > evaluate_strong(split, pop, (10,))["ndcg@10"] + 0.03
    result = paired(strong_per_user(split, pop), strong_per_user(split, knn))
    assert result.users == 94 and result.ci_low > 0 and result.wilcoxon_p < 0.01
