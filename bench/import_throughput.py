"""Bulk import throughput and peak memory, each run a whole `tastemaker import` process.

Cases: generated listener worlds of 1M and 10M events as CSV and as Parquet, and the real
Spotify account-data export (592,464 JSON records) when ../shared/data is present.
Each case runs ``--runs`` times into a fresh workspace; the median is reported, with the
peak resident memory of the import process (from wait4's rusage).

    python bench/import_throughput.py            # everything (about 10 minutes on 2 cores)
    python bench/import_throughput.py --quick    # 1M events only

Writes bench/results/import.json and the table between the markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "import.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- import:begin -->", "<!-- import:end -->"


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024, stdout


def tastemaker(*args: str) -> list[str]:
    return [sys.executable, "-m", "tastemaker", *args]


def generate(out: Path, users: int, per_user: float, fmt: str) -> Path:
    """A generated world (cached across runs of this script in the same temp folder)."""
    if not (out / f"events.{fmt}").exists():
        run(tastemaker("generate", "--out", str(out), "--users", str(users), "--events-per-user", str(per_user),
                       "--format", fmt, "--seed", "7", "--json"))
    return out / f"events.{fmt}"


def measure(name: str, fmt_args: list[str], runs: int, scratch: Path) -> dict[str, object]:
    walls, peaks, inner, summary = [], [], [], {}
    for i in range(runs):
        ws = scratch / f"ws-{name}-{i}"
        shutil.rmtree(ws, ignore_errors=True)
        wall, peak, stdout = run(tastemaker("--workspace", str(ws), "import", *fmt_args, "--json"),
                                 env={"TASTEMAKER_STORE_URL": ""})
        summary = json.loads(stdout)
        walls.append(wall)
        peaks.append(peak)
        inner.append(summary["seconds"])
        shutil.rmtree(ws, ignore_errors=True)
    records = int(summary["read"])
    wall = statistics.median(walls)
    row = {
        "case": name, "records": records, "accepted": summary["accepted"], "runs": runs,
        "wall_s_median": round(wall, 2), "wall_s_all": [round(w, 2) for w in walls],
        "events_per_s": round(records / wall), "events_per_s_in_process": round(records / statistics.median(inner)),
        "peak_rss_mib": round(max(peaks)),
    }
    print(json.dumps(row), flush=True)
    return row


def write_doc(rows: list[dict[str, object]], meta: dict[str, object]) -> None:
    lines = [BEGIN, "", f"Measured {meta['date']} on {meta['machine']} with `python bench/import_throughput.py`"
             f" (median of {rows[0]['runs']} whole-process runs each; peak = max RSS of the import process).", "",
             "| case | records | median wall (s) | events/s (whole process) | events/s (import only) | peak RSS (MiB) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['records']:,} | {r['wall_s_median']} | {r['events_per_s']:,} | "
                     f"{r['events_per_s_in_process']:,} | {r['peak_rss_mib']:,} |")
    lines += ["", END]
    replace_section(DOC, BEGIN, END, "Bulk import", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1M events only")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "tastemaker-bench")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    sizes = [("1M", 100_000, 10.0)] + ([] if args.quick else [("10M", 1_000_000, 10.0)])
    rows = []
    for label, users, per_user in sizes:
        for fmt in ("csv", "parquet"):
            data = generate(args.scratch / f"world-{label}-{fmt}", users, per_user, fmt)
            rows.append(measure(f"generated {label} events, {fmt}", ["table", str(data)], args.runs, args.scratch))
    raw = SHARED / "spotify-streaming-history-basic" / "raw"
    if raw.is_dir():
        rows.append(measure("Spotify account export (26 users, JSON)", ["spotify-account", str(raw)], args.runs,
                            args.scratch))
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.machine()}",
            "python": platform.python_version()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "cases": rows}, indent=2) + "\n")
    write_doc(rows, meta)


if __name__ == "__main__":
    main()
