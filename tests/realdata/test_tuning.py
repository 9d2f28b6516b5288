"""Optuna tuning on valid: it searches, never looks at test to choose, and registers what it found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.evaluation.fixed_split import FixedSplit, SplitModel, evaluate_model, fit_recommender
from tastemaker.evaluation.tuning import tune

pytestmark = pytest.mark.realdata


def test_tuning_picks_the_valid_best_and_reports_its_test_score(shared_data: Path) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "ml100k-recbole")
    result = tune(split, "ease", trials=4, seed=1)
    assert 10.0 <= result.params["l2"] <= 5000.0 and result.trials == 4
    again = fit_recommender(create("ease", **result.params), split)
    assert evaluate_model(split, SplitModel(again, split, "valid"), "valid", (10,))["ndcg@10"] == pytest.approx(
        result.valid_ndcg, abs=1e-4)
    assert result.test["ndcg@10"] == evaluate_model(split, SplitModel(again, split), "test", (10,))["ndcg@10"]
    with pytest.raises(ValueError, match="tunable"):
        tune(split, "pop")


def test_tune_command_registers_the_best_model_with_its_metrics(tmp_path: Path, shared_data: Path) -> None:
    ws = tmp_path / "ws"
    cmd = [sys.executable, "-m", "tastemaker", "--workspace", str(ws), "tune", "itemknn",
           str(shared_data / "benchmarks" / "ml100k-recbole"), "--trials", "3", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    meta = json.loads((ws / "models" / "itemknn-ml100k-recbole" / summary["version"] / "meta.json").read_text())
    assert meta["metrics"]["test_ndcg@10"] == summary["test"]["ndcg@10"] and meta["params"]["k"] == summary["params"]["k"]
    import numpy as np

    with np.load(ws / "models" / "itemknn-ml100k-recbole" / summary["version"] / "arrays.npz") as arrays:
        assert {"model.similarity_.data", "model.similarity_.indptr"} <= set(arrays.files)  # the sparse model itself is kept
