"""Strong generalisation (held-out users, fold-in) on ml100k-recbole and lastfm2k, with diversity and long tail.

    python bench/strong_generalization.py [--seeds 0 1 2] [--splits ml100k-recbole lastfm2k]

For each split the interaction pool is the folder's ``train`` part (valid and test stay unseen).
Per seed, 10 % of the pool's users are held out (:class:`~tastemaker.evaluation.strong.StrongSplit`),
models fit on the rest, and each held-out user is scored from a random 80 % of their items; the
other 20 % is the target. Parameters are the ones chosen on valid NDCG@10 under the fixed protocol
(``bench/results/quality.json``): no parameter is chosen on held-out users.

On the first seed it also records, per model: beyond-accuracy and intra-list diversity (ml100k:
Jaccard over the MovieLens genres of ``u.item``; lastfm2k: over each artist's 10 most used
HetRec tags), metrics on cold (at most 10 training users) vs warm target items, and a paired test
against popularity. The same models under the fixed protocol (the folder's test part) get the
same diversity and cold/warm numbers, for comparison.
Writes ``bench/results/strong_generalization.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.recommender import MatrixRecommender
from tastemaker.evaluation.fixed_split import FixedSplit, ItemPopularity, evaluate_item_segments, evaluate_model
from tastemaker.evaluation.metrics import ItemInfo
from tastemaker.evaluation.significance import paired
from tastemaker.evaluation.strong import StrongSplit, evaluate_strong, strong_item_segments, strong_per_user

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "strong_generalization.json"
#: valid-chosen parameters under the fixed protocol (bench/results/quality.json)
#: (``pop``: item popularity; the others are catalogue names)
MODELS: dict[str, dict[str, dict[str, Any]]] = {
    "ml100k-recbole": {"pop": {}, "itemknn": {"k": 200, "weighting": "bm25"}, "ease": {"l2": 500.0},
                       "als": {"factors": 64, "regularization": 30.0, "alpha": 3.0}},
    "lastfm2k": {"pop": {}, "itemknn": {"k": 200, "weighting": "cosine"}, "ease": {"l2": 50.0},
                 "als": {"factors": 64, "regularization": 30.0, "alpha": 10.0}},
}
HOLDOUT, FOLD_IN, COLD_MAX, TAGS_PER_ARTIST = 0.1, 0.8, 10, 10


def estimator(model: str, params: dict[str, Any]) -> Any:
    """The unfitted index-level estimator of ``model`` with ``params`` (the one under the catalogue's
    recommender): both protocols fit it on a binary train matrix, the strong one folds users in with it."""
    if model == "pop":
        return ItemPopularity()
    recommender = create(model, **params)
    assert isinstance(recommender, MatrixRecommender), f"{model} has no index-level estimator"
    return recommender.model


def movielens_genres(folder: Path) -> pl.DataFrame:
    """``item_id, tag``: each movie's genres from ``u.item`` (19 flags, names in ``u.genre``)."""
    names = [line.split("|")[0] for line in (folder / "u.genre").read_text(encoding="latin-1").splitlines() if line]
    rows = [line.split("|") for line in (folder / "u.item").read_text(encoding="latin-1").splitlines() if line]
    return pl.DataFrame([(r[0], names[g]) for r in rows for g, flag in enumerate(r[5:]) if flag == "1"],
                        schema=["item_id", "tag"], orient="row")


def hetrec_tags(folder: Path) -> pl.DataFrame:
    """``item_id, tag``: each artist's most used HetRec tags (ties by name)."""
    text = (folder / "tags.dat").read_bytes().decode("latin-1")  # latin-1 in the original release
    names = pl.read_csv(io.StringIO(text), separator="\t", quote_char=None, infer_schema=False)
    tagged = pl.read_csv(folder / "user_taggedartists.dat.gz", separator="\t", infer_schema=False)
    counts = (tagged.join(names, on="tagID").group_by(pl.col("artistID").alias("item_id"), pl.col("tagValue").alias("tag"))
              .agg(pl.len().alias("n")).sort(["item_id", "n", "tag"], descending=[False, True, False]))
    return counts.group_by("item_id", maintain_order=True).head(TAGS_PER_ARTIST).select("item_id", "tag")


def item_info(split: str) -> ItemInfo:
    if split == "ml100k-recbole":
        return ItemInfo(tags=movielens_genres(DATA / "movielens-100k"))
    return ItemInfo(tags=hetrec_tags(DATA / "lastfm-hetrec2011-2k"))


def strong_runs(name: str, fixed: FixedSplit, info: ItemInfo, seeds: list[int]) -> dict[str, Any]:
    runs: dict[str, Any] = {model: {"ndcg@10": [], "recall@10": []} for model in MODELS[name]}
    details: dict[str, Any] = {}
    for seed in seeds:
        split = StrongSplit.from_pool(fixed.frames["train"], HOLDOUT, FOLD_IN, "random", seed, name)
        per_user: dict[str, pl.DataFrame] = {}
        for model, params in MODELS[name].items():
            start = time.perf_counter()
            fitted = estimator(model, params).fit(split.train)
            first = seed == seeds[0]
            metrics = evaluate_strong(split, fitted, (10, 20), beyond=first, info=info if first else None)
            runs[model]["ndcg@10"].append(metrics["ndcg@10"])
            runs[model]["recall@10"].append(metrics["recall@10"])
            if first:
                per_user[model] = strong_per_user(split, fitted, 10)
                details[model] = {**metrics, "params": params, "seconds": round(time.perf_counter() - start, 1),
                                  "items": strong_item_segments(split, fitted, 10, cold_max=COLD_MAX)}
            print(f"{name} strong seed {seed} {model}: ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
        if seed == seeds[0]:
            details["split"] = {"train_users": len(split.train_users), "heldout_users": len(split.heldout_users),
                                "scored_users": int(np.count_nonzero(np.diff(split.target.indptr))),
                                "items": len(split.items), "dropped_pairs": split.dropped,
                                "fold_in_pairs": split.fold_in.nnz, "target_pairs": split.target.nnz}
            details["vs_pop"] = {m: paired(per_user["pop"], frame).as_dict() for m, frame in per_user.items()
                                 if m != "pop"}
    summary = {m: {f"{k}_mean": round(float(np.mean(v)), 4) for k, v in r.items()}
               | {f"{k}_std": round(float(np.std(v)), 4) for k, v in r.items()} | r for m, r in runs.items()}
    return {"seeds": seeds, "summary": summary, "first_seed": details}


def fixed_runs(name: str, fixed: FixedSplit, info: ItemInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model, params in MODELS[name].items():
        fitted = estimator(model, params).fit(fixed.matrices["train"])
        out[model] = {**evaluate_model(fixed, fitted, "test", (10,), beyond=True, info=info),
                      "items": evaluate_item_segments(fixed, fitted, "test", 10, cold_max=COLD_MAX)}
        print(f"{name} fixed {model}: ndcg@10 {out[model]['ndcg@10']:.4f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--splits", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.splits:
        fixed = FixedSplit.load(DATA / "benchmarks" / name)
        info = item_info(name)
        results[name] = {"protocol": {"pool": "train part", "holdout_users": HOLDOUT, "fold_in": FOLD_IN,
                                      "order": "random", "cold_max": COLD_MAX},
                         "strong": strong_runs(name, fixed, info, args.seeds), "fixed": fixed_runs(name, fixed, info)}
        RESULTS.write_text(json.dumps(results, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
