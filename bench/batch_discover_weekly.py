"""Batch Discover Weekly for a generated world of 100k listeners: wall time, listeners/s, peak memory.

    python bench/batch_discover_weekly.py [--users 100000] [--events-per-user 40] [--runs 3]

Each step is a whole `tastemaker` process in a fresh workspace under the temp folder: `generate`
(seed 7), `import table`, `train als`, then `playlist discover-weekly --all --model als --json`
``--runs`` times, each into its own output folder. Wall time, CPU time and peak RSS (wait4's
rusage of that process) are measured per process, with the machine's load average as it started
(other work stretches wall time, not CPU time); the playlists report the median wall and CPU and
the max peak.
The written Parquet is checked against the store: every listener with history has a full list,
no heard track, at most two tracks per artist, positions 1..size, and every run wrote the same
lists. Writes bench/results/batch_discover_weekly.json and the table between the markers in
docs/benchmarks.md; exits non-zero if a check fails (after writing both).
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
from typing import Any

import polars as pl

from tastemaker.store import open_store
from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "batch_discover_weekly.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- batch:begin -->", "<!-- batch:end -->"
ENV = {"OPENBLAS_NUM_THREADS": "1", "TASTEMAKER_STORE_URL": ""}
SIZE, PER_ARTIST = 30, 2  # the command's defaults: 30 tracks, at most two per artist
#: the columns every list starts with (a surface may add more after them, e.g. ``because``)
COLUMNS = ["user_id", "position", "track_id", "name", "artist_name", "score", "reason"]


def run(cmd: list[str]) -> tuple[float, float, float, dict[str, Any]]:
    """Run ``cmd``; return (wall seconds, peak RSS MiB, CPU seconds (user + system), its JSON stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, **ENV})
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, json.loads(stdout)


def tm(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tastemaker", "--workspace", str(ws), *args, "--json"]


def step(name: str, cmd: list[str]) -> dict[str, Any]:
    load = os.getloadavg()[0]  # other work on the machine stretches wall time, not CPU time: keep both
    wall, peak, cpu, summary = run(cmd)
    row = {"step": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mib": round(peak),
           "load_1m_before": round(load, 2), "summary": summary}
    print(json.dumps({k: v for k, v in row.items() if k != "summary"}), flush=True)
    return row


def check(lists: pl.DataFrame, store_url: Path) -> dict[str, Any]:
    """The playlist rules, computed on the written lists against the store's history and catalog."""
    store = open_store(store_url)
    heard = store.events().select("user_id", "item_id").unique().collect()
    artists = store.entities("tracks").select("track_id", "artist_id")
    listeners = heard.select("user_id").unique()
    per_user = lists.group_by("user_id").agg(pl.len().alias("n"), pl.col("position").min().alias("first"),
                                             pl.col("position").max().alias("last"),
                                             pl.col("track_id").n_unique().alias("distinct"))
    per_artist = lists.join(artists, on="track_id", how="left").group_by("user_id", "artist_id").len()
    result = {
        "columns": lists.columns,
        "columns_ok": lists.columns[:len(COLUMNS)] == COLUMNS,
        "listeners_with_history": listeners.height,
        "listeners_with_list": per_user.height,
        "listeners_missing": listeners.join(per_user, on="user_id", how="anti").height,
        "lists_short": per_user.filter(pl.col("n") < SIZE).height,
        "lists_too_long": per_user.filter(pl.col("n") > SIZE).height,
        "heard_tracks": lists.join(heard, left_on=["user_id", "track_id"],
                                   right_on=["user_id", "item_id"]).height,
        "max_per_artist": int(per_artist["len"].max() or 0),
        "tracks_without_artist": int(per_artist["artist_id"].null_count()),
        "positions_bad": per_user.filter((pl.col("first") != 1) | (pl.col("last") != pl.col("n"))
                                         | (pl.col("distinct") != pl.col("n"))).height,
    }
    zero = ("listeners_missing", "lists_short", "lists_too_long", "heard_tracks", "tracks_without_artist",
            "positions_bad")
    result["ok"] = (result["columns_ok"] and result["max_per_artist"] <= PER_ARTIST
                    and not any(result[k] for k in zero))
    return result


def write_doc(r: dict[str, Any]) -> None:
    c, setup = r["checks"], {s["step"]: s for s in r["setup"]}
    rows = [(f"`tastemaker {cmd}`", setup[name]["wall_s"], setup[name]["cpu_s"], setup[name]["peak_rss_mib"])
            for name, cmd in (("generate", "generate"), ("import", "import table"), ("train", "train als"))]
    lines = [BEGIN, "", f"`python bench/batch_discover_weekly.py` ({r['date']}, {r['machine']}; a generated "
             f"world of {r['users']:,} listeners at {r['events_per_user']:g} plays each on average, seed "
             f"{r['seed']}: {r['events']:,} events, {r['pairs']:,} user-track pairs, {r['tracks']:,} tracks; "
             f"{c['listeners_with_history']:,} listeners have history and get a list; playlists: median of "
             f"{r['runs']} processes):", "",
             "| step (whole process) | wall (s) | CPU (s) | peak RSS (MiB) |", "|---|---:|---:|---:|",
             *(f"| {name} | {wall} | {cpu} | {peak:,} |" for name, wall, cpu, peak in rows),
             f"| **`tastemaker playlist discover-weekly --all --model als`** "
             f"| **{r['wall_s_median']}** | {r['cpu_s_median']} | **{r['peak_rss_mib']:,}** |", "",
             f"**{r['users_per_s']:,} listeners/s** over the whole process "
             f"({r['users_per_s_in_process']:,}/s "
             f"inside the command, store read to files written; runs: "
             f"{', '.join(f'{w} s (load {x})' for w, x in zip(r['wall_s_all'], r['load_1m_all']))}; load "
             f"= the machine's 1-minute load average as the run started). "
             f"Target ≤ 600 s: **{'met' if r['wall_s_median'] <= 600 else 'missed'}**.", "",
             f"Checked on the written Parquet: {c['listeners_with_list']:,} lists, {c['lists_short']} "
             f"short of {SIZE} tracks, {c['listeners_missing']} listeners with history left out, "
             f"{c['heard_tracks']} heard tracks, at most {c['max_per_artist']} tracks per artist, every run "
             f"identical: {'yes' if r['deterministic'] else 'no'}.", "", END]
    replace_section(DOC, BEGIN, END, "Batch Discover Weekly", lines)


def playlists(ws: Path, scratch: Path, n: int) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """``n`` batch runs; the first one's lists checked, the later ones compared with it."""
    runs: list[dict[str, Any]] = []
    first: pl.DataFrame | None = None
    checks: dict[str, Any] = {}
    deterministic = True
    for i in range(n):
        out = scratch / f"playlists-{i}"
        shutil.rmtree(out, ignore_errors=True)
        runs.append(step(f"discover-weekly {i + 1}", tm(ws, "playlist", "discover-weekly", "--all", "--out",
                                                        str(out), "--model", "als", "--size", str(SIZE))))
        lists = pl.read_parquet(out / "playlists.parquet")
        if first is None:
            first, checks = lists, check(lists, ws / "store")
            with (out / "playlists.jspf.jsonl").open() as jspf:
                checks["jspf_documents"] = sum(1 for _ in jspf)
        else:
            deterministic = deterministic and lists.equals(first)
            shutil.rmtree(out)
    return runs, checks, deterministic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events-per-user", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", type=Path,
                        default=Path(tempfile.gettempdir()) / "tastemaker-bench-batch")
    args = parser.parse_args()
    ws = args.scratch / f"ws-{args.users}"
    shutil.rmtree(ws, ignore_errors=True)
    setup = [step("generate", tm(ws, "generate", "--users", str(args.users), "--events-per-user",
                                 str(args.events_per_user), "--seed", str(args.seed))),
             step("import", tm(ws, "import", "table", str(ws / "world"))),
             step("train", tm(ws, "train", "als"))]
    runs, checks, deterministic = playlists(ws, args.scratch, args.runs)
    users = runs[0]["summary"]["users"]
    wall = statistics.median(r["wall_s"] for r in runs)
    inner = statistics.median(r["summary"]["seconds"] for r in runs)
    world = setup[0]["summary"]
    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "users": args.users, "events_per_user": args.events_per_user, "seed": args.seed,
        "events": world["events"], "tracks": world["tracks"], "pairs": setup[2]["summary"]["pairs"],
        "runs": args.runs, "listeners_with_list": users, "wall_s_median": round(wall, 2),
        "wall_s_all": [r["wall_s"] for r in runs], "load_1m_all": [r["load_1m_before"] for r in runs],
        "seconds_in_process_median": round(inner, 2),
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "users_per_s": round(users / wall), "users_per_s_in_process": round(users / inner),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs), "deterministic": deterministic,
        "checks": checks, "setup": setup,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "setup"}, indent=1))
    RESULTS.write_text(json.dumps({**result, "playlist_runs": runs}, indent=1) + "\n")
    write_doc(result)
    if not (checks["ok"] and deterministic and checks["jspf_documents"] == users):
        raise SystemExit("a playlist check failed: see bench/results/batch_discover_weekly.json")


if __name__ == "__main__":
    main()
