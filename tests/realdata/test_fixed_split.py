"""Our metric code on the fixed benchmark splits reproduces the peers' reference numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.evaluation.fixed_split import FixedSplit, SplitModel, evaluate_model, fit_recommender

pytestmark = pytest.mark.realdata

#: our model name and parameters -> the peer entry they correspond to
SAME_MODEL = {
    "popularity": ("pop", lambda p: {}),
    "ease": ("ease", lambda p: {"l2": float(p["lambda"])}),
    "als": ("als", lambda p: {"factors": p["factors"], "regularization": p["reg"], "alpha": p["alpha"]}),
}


@pytest.mark.parametrize("model", ["popularity", "ease", "als"])
def test_ml100k_matches_the_peer_numbers_within_0_002(shared_data: Path, model: str) -> None:
    bench = shared_data / "benchmarks"
    peers = json.loads((bench / "peers" / "ml100k-recbole.json").read_text())["models"]
    peer_name, to_params = SAME_MODEL[model]
    peer = peers[peer_name]
    split = FixedSplit.load(bench / "ml100k-recbole")
    fitted = fit_recommender(create(model, **to_params(peer["params"])), split)
    ours = evaluate_model(split, SplitModel(fitted, split), "test", (10, 20))
    for metric in ("ndcg@10", "recall@10", "precision@10", "mrr@10", "ndcg@20", "recall@20"):
        assert abs(ours[metric] - peer["test"][metric]) <= 0.002, (metric, ours[metric], peer["test"][metric])
    assert abs(ours["hitrate@10"] - peer["test"]["hit@10"]) <= 0.002


def test_split_shapes_match_the_benchmark_readme(shared_data: Path) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "ml100k-recbole")
    assert (len(split.users), len(split.items)) == (943, 1682)
    assert [split.matrices[p].nnz for p in ("train", "valid", "test")] == [80_808, 9_596, 9_596]


def test_segments_cover_every_test_user_once(shared_data: Path) -> None:
    from tastemaker.evaluation.fixed_split import evaluate_segments

    split = FixedSplit.load(shared_data / "benchmarks" / "ml100k-recbole")
    model = SplitModel(fit_recommender(create("ease", l2=500.0), split), split)
    segments = evaluate_segments(split, model)
    overall = evaluate_model(split, model, "test", (10,))
    users = sum(s["users"] for s in segments.values())
    assert users == 943
    weighted = sum(s["users"] * s["ndcg@10"] for s in segments.values()) / users
    assert weighted == pytest.approx(overall["ndcg@10"], abs=1e-3)
