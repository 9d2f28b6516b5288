"""`tastemaker train als` on ~10M generated events against a bare `implicit` fit of the same matrix.

    python bench/train_speed.py [--users 1000000] [--runs 3]

Both sides run as whole processes, ``--runs`` times; medians are reported with peak RSS.
Ours: the `train` process's wall time, with its data loading (events -> interactions) reported
separately and subtracted for the ratio. Bare: a process that loads the very matrix our model
saved (not timed) and times only `AlternatingLeastSquares.fit` with the same parameters.
Writes bench/results/train_speed.json and the table between the markers in docs/benchmarks.md.
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
RESULTS = ROOT / "bench" / "results" / "train_speed.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- train:begin -->", "<!-- train:end -->"
ENV = {"OPENBLAS_NUM_THREADS": "1", "TASTEMAKER_STORE_URL": ""}

BARE = """
import json, sys, time, numpy as np, scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
with np.load(sys.argv[1]) as a:
    X = sp.csr_matrix((a["matrix.data"], a["matrix.indices"], a["matrix.indptr"]), shape=tuple(a["matrix.shape"]))
p = json.load(open(sys.argv[2]))
m = AlternatingLeastSquares(factors=p["factors"], regularization=p["regularization"], alpha=p["alpha"],
                            iterations=15, random_state=0)
t = time.perf_counter(); m.fit(X, show_progress=False); print(json.dumps({"fit_s": time.perf_counter() - t}))
"""


def run(cmd: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **ENV})
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, stdout


def tm(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tastemaker", "--workspace", str(ws), *args]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "tastemaker-bench-train")
    args = parser.parse_args()
    ws = args.scratch / f"ws-{args.users}"
    if not (ws / "store" / "manifest.json").exists():
        run(tm(ws, "generate", "--users", str(args.users), "--events-per-user", "10", "--seed", "7", "--json"))
        run(tm(ws, "import", "table", str(ws / "world"), "--json"))
    ours, bare = [], []
    for _ in range(args.runs):
        wall, peak, stdout = run(tm(ws, "train", "als", "--json"))
        ours.append({"wall_s": wall, "peak_rss_mib": peak, **json.loads(stdout)})
    model = ws / "models" / "als" / (ws / "models" / "als" / "LATEST").read_text().strip()
    for _ in range(args.runs):
        wall, peak, stdout = run([sys.executable, "-c", BARE, str(model / "arrays.npz"), str(model / "params.json")])
        bare.append({"wall_s": wall, "peak_rss_mib": peak, **json.loads(stdout)})
    med = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
    ours_no_load = statistics.median(r["wall_s"] - r["load_s"] for r in ours)
    result = {
        "events_users": args.users, "pairs": ours[0]["pairs"], "runs": args.runs,
        "ours_wall_s": round(med(ours, "wall_s"), 2), "ours_load_s": round(med(ours, "load_s"), 2),
        "ours_fit_s": round(med(ours, "fit_s"), 2), "ours_wall_minus_load_s": round(ours_no_load, 2),
        "ours_peak_rss_mib": round(max(r["peak_rss_mib"] for r in ours)),
        "bare_fit_s": round(med(bare, "fit_s"), 2), "bare_peak_rss_mib": round(max(r["peak_rss_mib"] for r in bare)),
    }
    result["ratio_end_to_end_minus_load"] = round(ours_no_load / result["bare_fit_s"], 2)
    result["ratio_fit_only"] = round(result["ours_fit_s"] / result["bare_fit_s"], 2)
    print(json.dumps(result, indent=1))
    RESULTS.write_text(json.dumps({"runs": {"ours": ours, "bare": bare}, "summary": result}, indent=1) + "\n")
    lines = [BEGIN, "", f"`python bench/train_speed.py` ({time.strftime('%Y-%m-%d')}; {result['pairs']:,} user-track "
             f"pairs from a generated world of {args.users:,} listeners; median of {args.runs} processes each):", "",
             "| | seconds | peak RSS (MiB) |", "|---|---:|---:|",
             f"| `tastemaker train als`, whole process | {result['ours_wall_s']} | {result['ours_peak_rss_mib']:,} |",
             f"| of which data loading (events → interactions) | {result['ours_load_s']} | |",
             f"| of which the ALS fit | {result['ours_fit_s']} | |",
             f"| bare `implicit` fit of the same matrix | {result['bare_fit_s']} | {result['bare_peak_rss_mib']:,} |",
             "", f"Ratio, our process minus data loading over the bare fit: **{result['ratio_end_to_end_minus_load']}×** "
             f"(fit alone: {result['ratio_fit_only']}×).", "", END]
    replace_section(DOC, BEGIN, END, "Training speed: ALS", lines)


if __name__ == "__main__":
    main()
