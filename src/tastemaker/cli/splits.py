"""Commands over split folders: cut one, evaluate a model on it, compare two, tune one.

``evaluate-split`` and ``compare`` run either protocol: ``fixed`` (the folder's own valid/test
parts, weak generalisation) or ``strong`` (users held out of the train part entirely, scored
after folding in part of their history; :mod:`tastemaker.evaluation.strong`). Both print a
Rich table, JSON or Markdown (``--format``).
"""

from __future__ import annotations


import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import polars as pl
import typer

from tastemaker.cli.invocation import fail, open_workspace_store, out, parse_params, print_frame, print_json, settings
from tastemaker.evaluation.report import HeldOut, SideFiles, check_protocol, make_model, strong_estimator

if TYPE_CHECKING:
    from tastemaker.evaluation.fixed_split import FixedSplit
    from tastemaker.evaluation.strong import StrongSplit

FORMATS = ("table", "json", "markdown")

ProtocolOpt = Annotated[str, typer.Option(help="fixed (the folder's valid/test) or strong (held-out users, fold-in).")]
HoldoutOpt = Annotated[float, typer.Option("--holdout-users", help="strong: share of users held out of training.")]
FoldInOpt = Annotated[float, typer.Option("--fold-in", help="strong: share of a held-out user's items shown to the model.")]
OrderOpt = Annotated[str, typer.Option("--fold-order", help="strong: random, or time (needs a ts column in train).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="strong: seed of the user and fold-in draws.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, json or markdown.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Same as --format json.")]


def register(app: typer.Typer) -> None:
    """Add ``evaluate-split``, ``tune``, ``compare`` and ``split`` to ``app``."""
    app.command("evaluate-split")(evaluate_split)
    app.command()(tune)
    app.command()(compare)
    app.command("split")(split_cmd)


def evaluate_split(
    split_dir: Annotated[Path, typer.Argument(help="A folder with train/valid/test.tsv[.gz] (user_id, item_id[, weight]).")],
    model: Annotated[str, typer.Option(help="A catalogue model (`tastemaker models catalogue`), e.g. pipeline, "
                                            "als, ease, history, popularity.")] = "pipeline",
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE, repeatable (e.g. factors=64).")] = None,
    part: Annotated[str, typer.Option(help="fixed protocol: valid or test.")] = "test",
    familiar: Annotated[bool, typer.Option(help="Do not exclude already-heard items (familiar protocol).")] = False,
    segments: Annotated[bool, typer.Option(help="Also report metrics@10 per history length and per cold/warm item.")] = False,
    cold_items: Annotated[int, typer.Option(help="Target items with at most this many training users are cold.")] = 10,
    protocol: ProtocolOpt = "fixed",
    holdout_users: HoldoutOpt = 0.1,
    fold_in: FoldInOpt = 0.8,
    fold_order: OrderOpt = "random",
    seed: SeedOpt = 0,
    item_artists: Annotated[Path | None, typer.Option(help="TSV item_id, artist: artist diversity (default: read "
                                                      "off artist\u241ftrack ids).")] = None,
    item_tags: Annotated[Path | None, typer.Option(help="TSV item_id, tag (one row per tag or genre): tag diversity.")] = None,
    item_vectors: Annotated[Path | None, typer.Option(help=".npz with item_ids and vectors: embedding diversity.")] = None,
    ratings: Annotated[Path | None, typer.Option(help="TSV user_id, item_id, value: explicit ratings of train pairs "
                                                 "(side data the models may learn from).")] = None,
    friends: Annotated[Path | None, typer.Option(help="TSV user_id, friend_id: who follows whom (side data).")] = None,
    fmt: FormatOpt = "table",
    as_json: JsonOpt = False,
) -> None:
    """Fit MODEL on a split's train part and score it with full ranking.

    fixed: on the folder's valid or test part. strong: on users held out of training, each
    scored from a share of their own history (the rest is the target).
    """
    from tastemaker import evaluate_split as report

    fmt = _format(fmt, as_json)
    try:
        payload = report(split_dir, model, parse_params(param), part=part, familiar=familiar, segments=segments,
                         cold_items=cold_items, protocol=protocol, held=HeldOut(holdout_users, fold_in, fold_order, seed),
                         side=SideFiles(item_artists, item_tags, item_vectors, ratings, friends))
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    _emit(fmt, payload, _sections(payload))


def _format(fmt: str, as_json: bool) -> str:
    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return "json" if as_json else fmt


def _sections(payload: dict[str, Any]) -> list[tuple[str, pl.DataFrame]]:
    """The tables a report prints: its metrics, then any segments."""
    metrics = dict(payload["metrics"])
    if payload["protocol"] == "strong":
        title = (f"{payload['model']} on {payload['split']} (strong: {payload['heldout']} held-out users, "
                 f"{int(metrics.pop('users'))} with a target)")
    else:
        title = f"{payload['model']} on {payload['split']} ({payload['part']})"
    sections = [(title, pl.DataFrame({"metric": list(metrics), "value": list(metrics.values())}))]
    for key, what in (("segments", "by training-history length"), ("item_segments", "by target item popularity")):
        if payload.get(key):
            rows = [{"segment": label, **row} for label, row in payload[key].items()]
            keep = ("segment", "users", "target_share", "list_share", "ndcg@10", "recall@10", "hitrate@10")
            frame = pl.DataFrame(rows).with_columns(pl.col("users").cast(pl.Int64))
            sections.append((f"{payload['model']} {what}", frame.select(c for c in keep if c in frame.columns)))
    return sections


def _emit(fmt: str, payload: dict[str, Any], sections: list[tuple[str, pl.DataFrame]]) -> None:
    if fmt == "json":
        print_json(payload)
        return
    if payload.get("protocol") == "strong" and "dropped_pairs" in payload:
        sys.stdout.write(f"{payload['fold_in']:.0%} of each held-out history folded in ({payload['fold_order']} "
                         f"order, seed {payload['seed']}); {payload['dropped_pairs']} held-out pairs on items "
                         "no training user has were dropped\n\n")
    for title, frame in sections:
        if fmt == "markdown":
            sys.stdout.write(markdown_table(title, frame) + "\n")
        else:
            print_frame(title, frame)
    sys.stdout.flush()


def markdown_table(title: str, frame: pl.DataFrame) -> str:
    """``frame`` as a GitHub-flavoured Markdown table under a ``###`` heading; floats to 4 places.

    >>> print(markdown_table("t", pl.DataFrame({"metric": ["ndcg@10"], "value": [0.12345]})))
    ### t
    <BLANKLINE>
    | metric | value |
    |---|---:|
    | ndcg@10 | 0.1235 |
    <BLANKLINE>
    """
    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")

    lines = [f"### {title}", "", "| " + " | ".join(frame.columns) + " |",
             "|" + "|".join("---:" if frame.schema[c].is_numeric() else "---" for c in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines) + "\n"


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
    version = register(settings().models_dir, f"{model}-{split.name}", result.fitted,
                       {"split": str(split_dir), "trials": trials, "familiar": familiar},
                       {"valid_ndcg@10": result.valid_ndcg, **{f"test_{k}": v for k, v in result.test.items()}})
    summary = {"model": model, "split": split.name, "version": version, "params": result.params,
               "valid_ndcg@10": round(result.valid_ndcg, 4), "test": result.test, "trials": trials}
    if as_json:
        print_json(summary)
        return
    out.print(summary)


def _spec(text: str) -> tuple[str, dict[str, int | float | str]]:
    """``als:factors=64,alpha=3`` -> ("als", {"factors": 64, "alpha": 3})."""
    name, _, rest = text.partition(":")
    return name.strip(), parse_params([p for p in rest.split(",") if p.strip()])


def compare(
    split_dir: Annotated[Path, typer.Argument(help="A folder with train/valid/test.tsv[.gz].")],
    a: Annotated[str, typer.Option("--a", help="Model A as NAME[:param=value,...], e.g. als:factors=64.")],
    b: Annotated[str, typer.Option("--b", help="Model B, the same way.")],
    metric: Annotated[str, typer.Option(help="Per-user metric to test.")] = "ndcg@10",
    familiar: Annotated[bool, typer.Option(help="Do not exclude already-heard items.")] = False,
    protocol: ProtocolOpt = "fixed",
    holdout_users: HoldoutOpt = 0.1,
    fold_in: FoldInOpt = 0.8,
    fold_order: OrderOpt = "random",
    seed: SeedOpt = 0,
    fmt: FormatOpt = "table",
    as_json: JsonOpt = False,
) -> None:
    """Two models on the same test users: B minus A, a bootstrap interval, paired t and Wilcoxon p."""
    from tastemaker.evaluation.fixed_split import FixedSplit
    from tastemaker.evaluation.significance import paired

    fmt = _format(fmt, as_json)
    k = int(metric.rsplit("@", 1)[1]) if "@" in metric else 10
    try:
        split = FixedSplit.load(split_dir)
        held = HeldOut(holdout_users, fold_in, fold_order, seed)
        strong = held.cut(split) if check_protocol(protocol) == "strong" else None
        frames = [_per_user(split, strong, spec, k, familiar) for spec in (a, b)]
        result = paired(frames[0], frames[1], metric)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    payload = {"split": split.name, "protocol": protocol, **(asdict(held) if strong else {}), "a": a, "b": b,
               **result.as_dict()}
    shown = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in payload.values()]
    frame = pl.DataFrame({"what": list(payload), "value": shown})
    _emit(fmt, payload, [(f"{b} vs {a} on {split.name} ({protocol})", frame)])


def _per_user(split: FixedSplit, strong: StrongSplit | None, spec: str, k: int, familiar: bool) -> pl.DataFrame:
    """Per-user test metrics of the model ``spec`` under the fixed protocol, or the strong one given ``strong``."""
    from tastemaker.evaluation.fixed_split import SplitModel, evaluate_per_user, fit_recommender
    from tastemaker.evaluation.strong import strong_per_user

    name, params = _spec(spec)
    model = make_model(name, params, familiar)
    if strong is None:
        return evaluate_per_user(split, SplitModel(fit_recommender(model, split), split, "test", familiar), "test", k,
                                 familiar)
    weighted = name == "history"
    estimator = strong_estimator(name, model)
    estimator.fit(strong.train_weights if weighted else strong.train)
    return strong_per_user(strong, estimator, k, familiar, weighted)


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
