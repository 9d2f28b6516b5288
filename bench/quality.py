"""Recommendation quality on the fixed benchmark splits, next to the tuned peers' numbers.

    python bench/quality.py [--splits ml100k-recbole,lastfm2k,...]

For every split in ../shared/data/benchmarks the product's pipeline (``tastemaker.candidates.
catalogue.create("pipeline")``, what ``tastemaker train pipeline`` builds and ``tastemaker
evaluate-split --model pipeline`` scores) is fit on train and chooses its members' settings, its
blend and its ranker on valid; each member at its chosen setting, the blend without the ranker
and the whole pipeline are scored on test (full ranking, masks as the split's protocol says).
A paired t-test and a Wilcoxon test over test users compare the pipeline with our run of the
split's best peer model (same parameters as the peer's file, through the catalogue). Writes
bench/results/quality.json (split -> model -> test metrics) and the table between the markers
in docs/benchmarks.md. No model code lives here: only which side data each split's source has.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import polars as pl  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from tastemaker.candidates.catalogue import create  # noqa: E402
from tastemaker.cli.invocation import parse_params  # noqa: E402
from tastemaker.evaluation.fixed_split import (  # noqa: E402
    FixedSplit,
    SplitModel,
    evaluate_model,
    evaluate_per_user,
    fit_recommender,
)
from tastemaker.evaluation.significance import mean_interval, paired  # noqa: E402

from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data"))
BENCH = DATA / "benchmarks"
RESULTS = ROOT / "bench" / "results" / "quality.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
SPLITS = "ml100k-recbole,lastfm2k,spotify-basic-familiar,spotify-basic-discovery-v2"
#: peer column -> (our catalogue model, how the peer's parameters map onto its config)
PEER_TO_OURS = {
    "pop": ("popularity", lambda p: {}),
    "userpop": ("history", lambda p: {"half_life_days": None}),
    "ease": ("ease", lambda p: {"l2": float(p.get("lambda", 0))}),
    "als": ("als", lambda p: {"factors": p.get("factors"), "regularization": p.get("reg"), "alpha": p.get("alpha")}),
    "itemknn": ("itemknn", lambda p: {"k": p.get("K"), "weighting": "bm25" if "BM25" in str(p.get("model")) else "cosine"}),
    # one thread: implicit's Hogwild BPR differs from run to run otherwise
    "bpr": ("bpr", lambda p: {"factors": p["factors"], "learning_rate": p["lr"], "iterations": p["iterations"],
                             "threads": 1}),
}


def movielens_ratings(split: FixedSplit) -> dict[str, Any]:
    """The star rating of every train pair (the split says only that a user rated a film)."""
    raw = pl.read_csv(DATA / "movielens-100k" / "u.data.gz", separator="\t", has_header=False,
                      new_columns=["user_id", "item_id", "value", "ts"],
                      schema_overrides={"user_id": pl.String, "item_id": pl.String})
    train = split.frames["train"].select("user_id", "item_id")
    return {"ratings": train.join(raw.select("user_id", "item_id", "value"), on=["user_id", "item_id"])}


def lastfm_friends(split: FixedSplit) -> dict[str, Any]:
    """The Last.fm users' friendships (who follows whom; nothing about listening)."""
    pairs = pl.read_csv(DATA / "lastfm-hetrec2011-2k" / "user_friends.dat", separator="\t",
                        schema_overrides={"userID": pl.String, "friendID": pl.String})
    return {"friends": pairs.select(pl.col("userID").alias("user_id"), pl.col("friendID").alias("friend_id"))}


#: the side data each split's source data set has beyond the split files (explicit ratings, a social graph);
#: time and skips come from the split folder itself (train_events), whatever its name
SIDE_DATA = {"ml100k-recbole": movielens_ratings, "lastfm2k": lastfm_friends}


def run_split(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    split = FixedSplit.load(folder)
    familiar = split.name.endswith("-familiar")  # the README's protocol: nothing is masked on familiar splits
    side = SIDE_DATA[split.name](split) if split.name in SIDE_DATA else {}
    start = time.perf_counter()
    pipeline = fit_recommender(create("pipeline", target="familiar" if familiar else "discovery", **params), split,
                               **side)
    fit_seconds = round(time.perf_counter() - start, 1)
    out: dict[str, Any] = {"pop": test(split, fit_recommender(create("popularity"), split), familiar)}
    for name, model in pipeline.tried_.items():
        out[name] = {**test(split, model, familiar), **pipeline.report_["members"][name]}
    for name, row in pipeline.report_["members"].items():
        out.setdefault(name, row)  # the skipped ones, with why
    blend, ours = pipeline.blend_only(), per_user(split, pipeline, familiar)
    out["blend"] = {**test(split, blend, familiar), **pipeline.report_["blend"]}
    out["pipeline"] = {**test(split, pipeline, familiar), "ndcg@10_ci95": interval(ours), "fit_seconds": fit_seconds,
                       "ranker": pipeline.report_.get("ranker"), "earlier_period": pipeline.report_.get("earlier_period"),
                       "vs_blend": comparison(per_user(split, blend, familiar), ours)}
    peers = json.loads((BENCH / "peers" / f"{split.name}.json").read_text())["models"]
    peer_name = max((n for n in peers if n in PEER_TO_OURS), key=lambda n: peers[n]["test"]["ndcg@10"])
    kind, params = PEER_TO_OURS[peer_name]
    theirs = per_user(split, fit_recommender(create(kind, **params(peers[peer_name]["params"])), split), familiar)
    out["pipeline"]["vs_best_peer"] = {
        "peer": peer_name, "peer_ndcg@10": peers[peer_name]["test"]["ndcg@10"],
        "peer_rerun_ndcg@10": round(float(theirs["ndcg@10"].mean()), 4), "users": theirs.height,
        **comparison(theirs, ours)}
    print(split.name, "pipeline", out["pipeline"], flush=True)
    return out


def test(split: FixedSplit, model: Any, familiar: bool) -> dict[str, float]:
    """Test metrics @10 and @20 with coverage, Gini and novelty."""
    return evaluate_model(split, SplitModel(model, split, "test", familiar), "test", (10, 20), familiar, beyond=True)


def per_user(split: FixedSplit, model: Any, familiar: bool) -> pl.DataFrame:
    return evaluate_per_user(split, SplitModel(model, split, "test", familiar), "test", 10, familiar)


def interval(per_user: pl.DataFrame) -> list[float]:
    """A bootstrap 95 % interval of the mean NDCG@10 over ``per_user``'s users (test users differ in luck)."""
    return [round(x, 4) for x in mean_interval(per_user["ndcg@10"].to_numpy())]


def comparison(a: pl.DataFrame, b: pl.DataFrame) -> dict[str, Any]:
    """B minus A on NDCG@10, user by user: the mean, its bootstrap 95 % interval, a paired t-test and a Wilcoxon test."""
    result = paired(a, b)
    return {"mean_diff": round(result.diff, 4), "diff_ci95": [round(result.ci_low, 4), round(result.ci_high, 4)],
            "paired_t_p": result.t_p, "wilcoxon_p": result.wilcoxon_p}


def write_doc(results: dict[str, Any]) -> None:
    lines = [BEGIN, "", f"`python bench/quality.py` ({time.strftime('%Y-%m-%d')}). Test NDCG@10 / Recall@10 of the "
             "product's pipeline (`tastemaker evaluate-split SPLIT --model pipeline`): each member at the setting it "
             "chose on valid, the blend it chose out of fold on valid, and the whole pipeline (blend + ranker "
             "corrections, kept only when they beat the blend out of fold). Best peer = the best tuned peer in "
             "`../shared/data/benchmarks/README.md`; p = paired t-test over test users, pipeline vs our run of that peer "
             "model with its parameters; [a, b] = bootstrap 95 % intervals over test users (of the pipeline's NDCG@10, "
             "and of its difference from the peer). Only the splits named in `--splits` are rerun; the others keep "
             "their last numbers.", "",
             "| split | pop | history | item-kNN | ALS | ALS on ratings / log plays | EASE | SLIM | RP3beta | artist | blend | "
             "**pipeline** | pipeline NDCG@10 interval | best peer | pipeline vs peer (p) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    span = lambda ci: f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "—"  # noqa: E731
    for split, models in results.items():
        if "pipeline" not in models:
            continue
        cell = lambda m: f"{models[m]['ndcg@10']:.4f} / {models[m]['recall@10']:.4f}" if "ndcg@10" in models.get(m, {}) else "—"  # noqa: E731
        vs = models["pipeline"]["vs_best_peer"]
        lines.append(f"| {split} | {cell('pop')} | {cell('history')} | {cell('itemknn')} | {cell('als')} | "
                     f"{cell('als-weighted')} | {cell('ease')} | {cell('slim')} | {cell('rp3beta')} | {cell('artist')} | "
                     f"{cell('blend')} | **{cell('pipeline')}** | {span(models['pipeline'].get('ndcg@10_ci95'))} | "
                     f"{vs['peer']} {vs['peer_ndcg@10']:.4f} | "
                     f"{vs['mean_diff']:+.4f} {span(vs.get('diff_ci95'))} (p={vs['paired_t_p']:.2g}) |")
    replace_section(DOC, BEGIN, END, "Recommendation quality (fixed splits)", lines + ["", END])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--splits", default=SPLITS)
    parser.add_argument("--param", action="append", help="NAME=VALUE of the pipeline's config, repeatable "
                        "(e.g. min_gain_se=0); the results then describe that pipeline")
    args = parser.parse_args()
    params = parse_params(args.param)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = {name: models for name, models in previous.items() if "pipeline" in models}
    with threadpool_limits(2, "blas"):
        for name in args.splits.split(","):
            results[name] = run_split(BENCH / name, params)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1, default=float) + "\n")
    write_doc(results)


if __name__ == "__main__":
    main()
