"""Why the embedded store is Parquet segments: append throughput with de-duplication, and whether
another process can read while one writes, for the three embedded candidates.

    python bench/store_choice.py [--events 1000000] [--batch 100000]

Each candidate appends the same events in batches, de-duplicating on a 64-bit row id (the second
pass re-sends everything and must add nothing), then a second process tries to read while the
writer still holds the store open. Writes bench/results/store_choice.json and the table between
the markers in docs/store.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "store_choice.json"
DOC = ROOT / "docs" / "store.md"
BEGIN, END = "<!-- store-choice:begin -->", "<!-- store-choice:end -->"


def events(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    return pl.DataFrame({
        "row_id": rng.integers(-(2**62), 2**62, n),
        "user_id": [f"u{i}" for i in rng.integers(0, n // 10, n)],
        "item_id": [f"t{i}" for i in rng.integers(0, 50_000, n)],
        "ts": rng.integers(1_600_000_000_000, 1_700_000_000_000, n),
        "ms_played": rng.integers(0, 300_000, n),
    })


def lake(path: Path, batches: list[pl.DataFrame]) -> int:
    from tastemaker.store import open_store

    store = open_store(path)
    return sum(store.append({"events": b.select(
        "row_id", "user_id", "item_id", pl.lit("play").alias("type"), "ms_played")})["events"].accepted
        for b in batches)


def sqlite(path: Path, batches: list[pl.DataFrame]) -> int:
    con = sqlite3.connect(path / "events.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS events (row_id INTEGER PRIMARY KEY, user_id TEXT, item_id TEXT, "
                "ts INTEGER, ms_played INTEGER)")
    added = 0
    for b in batches:
        before = con.total_changes
        with con:
            con.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)", b.iter_rows())
        added += con.total_changes - before
    con.close()
    return added


def duck(path: Path, batches: list[pl.DataFrame]) -> int:
    con = duckdb.connect(str(path / "events.duckdb"))
    con.execute("CREATE TABLE IF NOT EXISTS events (row_id BIGINT PRIMARY KEY, user_id VARCHAR, item_id VARCHAR, "
                "ts BIGINT, ms_played BIGINT)")
    added = 0
    for b in batches:
        before = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
        con.register("batch", b.to_arrow())
        con.execute("INSERT INTO events SELECT * FROM batch ANTI JOIN events USING (row_id)")
        con.unregister("batch")
        added += con.execute("SELECT count(*) FROM events").fetchall()[0][0] - before
    con.close()
    return added


READERS = {
    "parquet segments (tastemaker)": ("from tastemaker.store import open_store; import sys; "
                                      "print(open_store(sys.argv[1]).events().collect().height)", ""),
    "SQLite (WAL)": ("import sqlite3, sys; print(sqlite3.connect(sys.argv[1] + '/events.db')"
                     ".execute('select count(*) from events').fetchall()[0][0])", ""),
    "DuckDB file": ("import duckdb, sys; print(duckdb.connect(sys.argv[1] + '/events.duckdb', read_only=True)"
                    ".execute('select count(*) from events').fetchall()[0][0])", ""),
}


def reader_while_open(name: str, path: Path) -> str:
    """Hold the store open for writing in this process and try to read it from another one."""
    holder = None
    if name == "DuckDB file":
        holder = duckdb.connect(str(path / "events.duckdb"))
    elif name == "SQLite (WAL)":
        holder = sqlite3.connect(path / "events.db")
        holder.execute("BEGIN IMMEDIATE")
    done = subprocess.run([sys.executable, "-c", READERS[name][0], str(path)], capture_output=True, text=True)
    if holder is not None:
        holder.close()
    if done.returncode == 0:
        return f"yes ({int(done.stdout):,} rows)"
    return "no: " + done.stderr.strip().splitlines()[-1][:90]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    data = events(args.events)
    batches = [data.slice(i, args.batch) for i in range(0, data.height, args.batch)]
    rows = []
    for name, fn in (("parquet segments (tastemaker)", lake), ("SQLite (WAL)", sqlite), ("DuckDB file", duck)):
        path = Path(tempfile.mkdtemp(prefix="store-choice-"))
        t0 = time.perf_counter()
        first = fn(path, batches)
        t1 = time.perf_counter()
        second = fn(path, batches)
        t2 = time.perf_counter()
        rows.append({"store": name, "events": args.events, "batch": args.batch, "accepted": first,
                     "resend_accepted": second, "append_events_per_s": round(args.events / (t1 - t0)),
                     "resend_events_per_s": round(args.events / (t2 - t1)),
                     "read_while_writer_open": reader_while_open(name, path)})
        print(json.dumps(rows[-1]), flush=True)
        shutil.rmtree(path, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    table = [BEGIN, "", f"`python bench/store_choice.py --events {args.events} --batch {args.batch}` "
             f"({time.strftime('%Y-%m-%d')}, one run):", "",
             "| store | append events/s | re-send events/s (all duplicates) | re-send added | another process reads while a writer holds it |",
             "|---|---:|---:|---:|---|"]
    table += [f"| {r['store']} | {r['append_events_per_s']:,} | {r['resend_events_per_s']:,} | {r['resend_accepted']} | "
              f"{r['read_while_writer_open']} |" for r in rows]
    replace_section(DOC, BEGIN, END, "Store choice", table + ["", END])


if __name__ == "__main__":
    main()
