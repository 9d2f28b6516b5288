"""How long the trained pipeline takes to answer one listener, next to ALS on the same workspace.

    python bench/pipeline_latency.py [--users 2000] [--runs 3] [--requests 300]

A generated world (seed 0, `--users` listeners) is imported and trained once with `tastemaker train
als` and `tastemaker train pipeline` (the demo's quick pipeline: history, item-kNN, ALS and artist, two
settings each). Then, ``--runs`` times, a fresh process loads both from the registry and times
``recommend([user], k=10, exclude=heard)`` for ``--requests`` listeners, one at a time (what
`serve` calls for a for-you list without its array path). Reported: medians over the runs of each
run's median, p95 and p99 per call, and the process's peak RSS. Writes
bench/results/pipeline_latency.json and the table between the markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "pipeline_latency.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- pipeline-latency:begin -->", "<!-- pipeline-latency:end -->"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TASTEMAKER_STORE_URL": ""}

TIMED = """
import json, resource, sys, time
import numpy as np, polars as pl
from pathlib import Path
from tastemaker.candidates.catalogue import load
from tastemaker.candidates.registry import resolve
from tastemaker.features.interactions import heard
from tastemaker.store import open_store
ws, n = Path(sys.argv[1]), int(sys.argv[2])
events = open_store(ws / "store").events()
out = {}
for name in ("als", "pipeline"):
    model = load(resolve(ws / "models", name))
    users = sorted(heard(events).select("user_id").unique().collect()["user_id"].to_list())[:n]
    done = heard(events.filter(pl.col("user_id").is_in(users))).collect()
    model.recommend([users[0]], k=10, exclude=done.filter(pl.col("user_id") == users[0]))
    times = []
    for user in users:
        mine = done.filter(pl.col("user_id") == user)
        start = time.perf_counter()
        model.recommend([user], k=10, exclude=mine)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    out[name] = {"items": int(len(model.item_ids)), "median_ms": float(np.median(ms)),
                 "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99))}
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def tm(ws: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(ws), *args], check=True, env=ENV,
                   capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    ws = Path(tempfile.mkdtemp(prefix="tm-pipeline-latency-")) / "ws"
    tm(ws, "generate", "--users", str(args.users), "--seed", "0")
    tm(ws, "import", "table", str(ws / "world"))
    tm(ws, "train", "als")
    start = time.perf_counter()
    tm(ws, "train", "pipeline", "--param", 'only=["history", "itemknn", "als", "artist"]', "--param", "max_grid=2")
    train_s = time.perf_counter() - start
    runs = []
    for _ in range(args.runs):
        done = subprocess.run([sys.executable, "-c", TIMED, str(ws), str(args.requests)], check=True, env=ENV,
                              capture_output=True, text=True)
        runs.append(json.loads(done.stdout))
    result = {"users": args.users, "requests": args.requests, "runs": runs, "train_pipeline_s": round(train_s, 1),
              **{name: {key: round(statistics.median(r[name][key] for r in runs), 2)
                        for key in ("median_ms", "p95_ms", "p99_ms")} | {"items": runs[0][name]["items"]}
                 for name in ("als", "pipeline")},
              "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs))}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    lines = [BEGIN, "", f"`python bench/pipeline_latency.py --users {args.users}` ({time.strftime('%Y-%m-%d')}; "
             f"generated world, {result['pipeline']['items']:,} tracks; medians of {args.runs} whole-process runs "
             f"of {args.requests} single-listener `recommend` calls; `train pipeline` took {result['train_pipeline_s']} s; "
             f"peak RSS {result['peak_rss_mib']} MiB):", "",
             "| model | median (ms) | p95 (ms) | p99 (ms) | vs ALS (median) |", "|---|---:|---:|---:|---:|"]
    for name in ("als", "pipeline"):
        r = result[name]
        ratio = r["median_ms"] / result["als"]["median_ms"]
        lines.append(f"| {name} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {ratio:.1f}× |")
    replace_section(DOC, BEGIN, END, "Pipeline latency (one listener, in process)", lines + ["", END])
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
