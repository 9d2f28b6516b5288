"""Hyper-parameter search with Optuna on a split's valid part; test is scored once, at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tastemaker.candidates.catalogue import create
from tastemaker.evaluation.fixed_split import FixedSplit, SplitModel, evaluate_model, fit_recommender

#: model -> a function drawing its parameters from an Optuna trial
SPACES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "als": lambda t: {
        "factors": t.suggest_categorical("factors", [32, 64, 128, 256]),
        "regularization": t.suggest_float("regularization", 0.1, 300.0, log=True),
        "alpha": t.suggest_float("alpha", 0.1, 50.0, log=True),
        "iterations": t.suggest_int("iterations", 10, 40),
    },
    "bpr": lambda t: {
        "factors": t.suggest_categorical("factors", [32, 64, 128, 256]),
        "learning_rate": t.suggest_float("learning_rate", 0.001, 0.1, log=True),
        "regularization": t.suggest_float("regularization", 1e-4, 0.1, log=True),
        "iterations": t.suggest_int("iterations", 50, 500, log=True),
    },
    "ease": lambda t: {"l2": t.suggest_float("l2", 10.0, 5000.0, log=True)},
    "slim": lambda t: {"alpha": t.suggest_float("alpha", 0.005, 1.0, log=True),
                       "l1_ratio": t.suggest_float("l1_ratio", 0.001, 0.5, log=True)},
    "rp3beta": lambda t: {"alpha": t.suggest_float("alpha", 0.3, 1.5), "beta": t.suggest_float("beta", 0.0, 1.0),
                          "k": t.suggest_int("k", 20, 1000, log=True)},
    "itemknn": lambda t: {
        "k": t.suggest_int("k", 10, 500, log=True),
        "weighting": t.suggest_categorical("weighting", ["cosine", "bm25"]),
    },
}


@dataclass(frozen=True, slots=True)
class TuneResult:
    """The best parameters found, their valid score, the test metrics of that model, and the trials."""

    model: str
    params: dict[str, Any]
    valid_ndcg: float
    test: dict[str, float]
    trials: int
    fitted: Any


def tune(split: FixedSplit, model: str, trials: int = 30, familiar: bool = False, seed: int = 0) -> TuneResult:
    """Search ``model``'s space for the best valid NDCG@10 (TPE sampler, seeded), then score test once."""
    import optuna

    if model not in SPACES:
        raise ValueError(f"no search space for {model!r}; tunable: {', '.join(SPACES)}")
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    def objective(trial: Any) -> float:
        fitted = fit_recommender(create(model, **SPACES[model](trial)), split)
        return evaluate_model(split, SplitModel(fitted, split, "valid", familiar), "valid", (10,), familiar)["ndcg@10"]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    best = fit_recommender(create(model, **study.best_params), split)
    test = evaluate_model(split, SplitModel(best, split, "test", familiar), "test", (10, 20), familiar)
    return TuneResult(model, dict(study.best_params), float(study.best_value), test, trials, best)
