"""Listening-aware confidence against plain counts and binary input, ALS on one temporal split.

    python bench/confidence.py [--users 5000] [--test-days 7]

Data: a generated listener world (skips with timing, completions, saves, playlist adds, bans).
Split: the last ``--test-days`` are the test period; targets are tracks each warm listener
played to the end (not skipped) for the first time then — discovery, already-heard excluded.
The same ALS (factors 64, reg 10, alpha 3) is fit on three inputs built from the same training
events: binary (1 per pair with a non-skipped play), counts (non-skipped plays), and
listening-aware confidence (``tastemaker.features.confidence``). Writes
bench/results/confidence.json and the table between the markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.evaluation.metrics import evaluate
from tastemaker.features.confidence import confident_interactions
from tastemaker.features.interactions import interactions
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.simulate import World, WorldConfig, write_world
from tastemaker.store import open_store
from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "confidence.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- confidence:begin -->", "<!-- confidence:end -->"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--test-days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tm-confidence-"))
    write_world(World(WorldConfig(seed=args.seed, n_users=args.users)), scratch / "world", "parquet")
    store = open_store(scratch / "store")
    run_import(store, FORMATS["table"], scratch / "world")
    events = store.events()
    cutoff = events.select(pl.col("ts").max()).collect().item() - timedelta(days=args.test_days)
    train_counts = interactions(events, until=cutoff)
    after = interactions(events.filter(pl.col("ts") >= cutoff))
    heard = events.filter(pl.col("ts") < cutoff).select("user_id", "item_id").unique().collect()
    truth = (after.join(train_counts.select("user_id").unique(), on="user_id", how="semi")
             .join(heard, on=["user_id", "item_id"], how="anti").select("user_id", "item_id"))
    users = truth["user_id"].unique().to_list()
    inputs = {
        "binary": (train_counts, "binary"),
        "play counts": (train_counts, "weights"),
        "listening-aware confidence": (confident_interactions(events, until=cutoff), "weights"),
    }
    rows = {}
    for name, (data, signal) in inputs.items():
        model = create("als", signal=signal, factors=64, regularization=10.0, alpha=3.0).fit(TrainingData(data))
        recs = model.recommend(users, k=10, exclude=heard)
        rows[name] = {k: round(v, 4) for k, v in evaluate(recs, truth, 10).items()} | {"pairs": data.height}
        print(name, rows[name], flush=True)
    RESULTS.write_text(json.dumps({"users": args.users, "seed": args.seed, "test_days": args.test_days,
                                   "results": rows}, indent=1) + "\n")
    base = rows["play counts"]["ndcg@10"]
    lines = [BEGIN, "", f"`python bench/confidence.py --users {args.users}` ({time.strftime('%Y-%m-%d')}; generated "
             f"world, seed {args.seed}, last {args.test_days:g} days as test, {int(rows['binary']['users']):,} warm "
             "listeners, unheard targets; ALS f=64, reg=10, α=3 on each input):", "",
             "| input | NDCG@10 | Recall@10 | MRR@10 | vs play counts |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {n} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | {r['mrr@10']:.4f} | {r['ndcg@10'] / base:.2f}× |"
              for n, r in rows.items()]
    replace_section(DOC, BEGIN, END, "Listening-aware confidence", lines + ["", END])


if __name__ == "__main__":
    main()
