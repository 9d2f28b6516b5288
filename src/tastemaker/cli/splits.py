"""Commands over split folders: cut one, evaluate a model on it, compare two, tune one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from tastemaker.cli.main import app, fail, open_workspace_store, out, print_frame, print_json, settings


@app.command("evaluate-split")
def evaluate_split(
    split_dir: Annotated[Path, typer.Argument(help="A folder with train/valid/test.tsv[.gz] (user_id, item_id[, weight]).")],
    model: Annotated[str, typer.Option(help="pop, history, itemknn, als or ease.")] = "als",
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE, repeatable (e.g. factors=64).")] = None,
    part: Annotated[str, typer.Option(help="valid or test.")] = "test",
    familiar: Annotated[bool, typer.Option(help="Do not exclude already-heard items (familiar protocol).")] = False,
    segments: Annotated[bool, typer.Option(help="Also report metrics@10 per history-length segment.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fit MODEL on a fixed split's train part and score it with full ranking on valid or test."""
    from tastemaker.evaluation.fixed_split import MATRIX_MODELS, FixedSplit, evaluate_model, evaluate_segments

    if model not in MATRIX_MODELS:
        raise fail(f"unknown model {model!r}; known: {', '.join(MATRIX_MODELS)}")
    if part not in ("valid", "test"):
        raise fail(f"--part must be valid or test, got {part!r}")
    try:
        params = {k: _number(v) for k, v in (_split_param(p) for p in param or [])}
        split = FixedSplit.load(split_dir)
        estimator = MATRIX_MODELS[model](**params)
        estimator.fit(split.train_weights if model == "history" else split.matrices["train"])
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    metrics = evaluate_model(split, estimator, part, (10, 20), familiar, beyond=True)
    by_segment = evaluate_segments(split, estimator, part, 10, familiar) if segments else {}
    if as_json:
        print_json({"split": split.name, "model": model, "params": params, "part": part, "metrics": metrics,
                    **({"segments": by_segment} if segments else {})})
        return
    for label, row in by_segment.items():
        out.print(f"segment {label} train items: {int(row['users'])} users, ndcg@10 {row['ndcg@10']:.4f}")
    print_frame(f"{model} on {split.name} ({part})",
                 pl.DataFrame({"metric": list(metrics), "value": list(metrics.values())}))


def _split_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--param takes NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _number(value: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


@app.command()
def tune(
    model: Annotated[str, typer.Argument(help="als, ease or itemknn.")],
    split_dir: Annotated[Path, typer.Argument(help="A folder with train/valid/test.tsv[.gz].")],
    trials: Annotated[int, typer.Option(help="Optuna trials, each a fit scored on valid NDCG@10.")] = 30,
    familiar: Annotated[bool, typer.Option(help="Do not exclude already-heard items.")] = False,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Tune MODEL on a split's valid part with Optuna; score test once; register the best model."""
    from tastemaker.candidates.registry import register
    from tastemaker.evaluation.fixed_split import FixedSplit
    from tastemaker.evaluation.tuning import tune as run_tune

    try:
        split = FixedSplit.load(split_dir)
        result = run_tune(split, model, trials, familiar, seed)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    saved = _SplitModel(model, result.params, result.fitted)
    version = register(settings().models_dir, f"{model}-{split.name}", saved,
                       {"split": str(split_dir), "trials": trials, "familiar": familiar},
                       {"valid_ndcg@10": result.valid_ndcg, **{f"test_{k}": v for k, v in result.test.items()}})
    summary = {"model": model, "split": split.name, "version": version, "params": result.params,
               "valid_ndcg@10": round(result.valid_ndcg, 4), "test": result.test, "trials": trials}
    if as_json:
        print_json(summary)
        return
    out.print(summary)


class _SplitModel:
    """A model tuned on a split, saved with its parameters and learned arrays."""

    def __init__(self, name: str, params: dict[str, Any], fitted: Any) -> None:
        self.name, self.params, self.fitted = name, params, fitted

    def save(self, path: Path) -> None:
        import numpy as np

        from tastemaker.candidates.recommender import flatten_arrays, learned_state

        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": self.name, **self.params}))
        np.savez(path / "arrays.npz", **flatten_arrays(learned_state(self.fitted)))


def _spec(text: str) -> tuple[str, dict[str, int | float | str]]:
    """``als:factors=64,alpha=3`` -> ("als", {"factors": 64, "alpha": 3})."""
    name, _, rest = text.partition(":")
    params = dict(_split_param(p) for p in rest.split(",") if p.strip())
    return name.strip(), {k: _number(v) for k, v in params.items()}


@app.command()
def compare(
    split_dir: Annotated[Path, typer.Argument(help="A folder with train/valid/test.tsv[.gz].")],
    a: Annotated[str, typer.Option("--a", help="Model A as NAME[:param=value,...], e.g. als:factors=64.")],
    b: Annotated[str, typer.Option("--b", help="Model B, the same way.")],
    metric: Annotated[str, typer.Option(help="Per-user metric to test.")] = "ndcg@10",
    familiar: Annotated[bool, typer.Option(help="Do not exclude already-heard items.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Two models on the same test users: B minus A, a bootstrap interval, paired t and Wilcoxon p."""
    from tastemaker.evaluation.fixed_split import MATRIX_MODELS, FixedSplit, evaluate_per_user
    from tastemaker.evaluation.significance import paired

    k = int(metric.rsplit("@", 1)[1]) if "@" in metric else 10
    try:
        split = FixedSplit.load(split_dir)
        frames = []
        for spec in (a, b):
            name, params = _spec(spec)
            if name not in MATRIX_MODELS:
                raise ValueError(f"unknown model {name!r}; known: {', '.join(MATRIX_MODELS)}")
            model = MATRIX_MODELS[name](**params)
            model.fit(split.train_weights if name == "history" else split.matrices["train"])
            frames.append(evaluate_per_user(split, model, "test", k, familiar))
        result = paired(frames[0], frames[1], metric)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    payload = {"split": split.name, "a": a, "b": b, **result.as_dict()}
    if as_json:
        print_json(payload)
        return
    print_frame(f"{b} vs {a} on {split.name}", pl.DataFrame({"what": list(payload), "value": [str(v) for v in payload.values()]}))


@app.command("split")
def split_cmd(
    protocol: Annotated[str, typer.Argument(help="random, temporal-global or temporal-user.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write train/valid/test.tsv into.")],
    discovery: Annotated[bool, typer.Option("--discovery/--familiar",
                                            help="Targets only items new to the user (default), or all.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the random protocol.")] = 2020,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cut the workspace's listening into a split folder for evaluate-split, tune and compare."""
    from tastemaker.evaluation.protocols import make_split, write_split

    try:
        parts = make_split(open_workspace_store().events(), protocol, discovery, seed)
    except ValueError as exc:
        raise fail(str(exc)) from None
    counts = write_split(parts, out_dir, {"protocol": protocol, "discovery": discovery, "seed": seed})
    if as_json:
        print_json({"protocol": protocol, "discovery": discovery, "out": str(out_dir), **counts})
        return
    out.print(f"{protocol} split ({'discovery' if discovery else 'familiar'}) -> {out_dir}: {counts}")
