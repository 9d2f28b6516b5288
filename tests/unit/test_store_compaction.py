"""Compaction: many small segments become a few, the same rows stay, and a kill -9 at any point loses and
doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from tastemaker.store import open_store


def _events(ids: range, user: str = "u1", kind: str = "play") -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({"row_id": list(ids), "user_id": [user] * n, "item_id": [f"t{i}" for i in ids],
                         "type": [kind] * n, "item_kind": ["track"] * n})


def _fill(root: Path, batches: int = 40, size: int = 50):  # type: ignore[no-untyped-def]
    store = open_store(root)
    for b in range(batches):
        kind = "impression" if b % 4 == 3 else "play"
        store.append({"events": _events(range(b * size, (b + 1) * size), user=f"u{b % 7}", kind=kind)})
    return store


def _rows(store) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    return store.events().collect().sort("row_id")


def test_compaction_merges_small_segments_and_keeps_every_row_once(tmp_path: Path) -> None:
    store = _fill(tmp_path / "store")
    before, version = _rows(store), store.version()
    done = store.compact("events", small_rows=1000, target_rows=600)
    assert (done.before, done.rows_merged) == (40, 2000) and done.after < 10
    assert _rows(store).equals(before) and store.version() == version + 1
    segments = store.manifest()["tables"]["events"]
    assert all(s["rows"] <= 600 for s in segments)
    flagged = [s for s in segments if s.get("impressions_only")]
    assert flagged and sum(s["rows"] for s in flagged) == 10 * 50  # impression-only segments merged apart
    assert len(list((tmp_path / "store" / "segments").iterdir())) == len(segments)  # the small files are gone
    again = store.append({"events": _events(range(0, 100))})  # de-duplication reads the merged segments
    assert (again["events"].accepted, again["events"].duplicates) == (0, 100)
    assert store.compact("events", small_rows=10, target_rows=600).after == len(segments)  # nothing small left


def test_merged_segments_are_merged_again_once_there_are_enough_of_one_kind(tmp_path: Path) -> None:
    from tastemaker.store.lake import MEDIUM_FANOUT

    store = _fill(tmp_path / "store", batches=MEDIUM_FANOUT * 4, size=50)  # a quarter impressions only
    before = _rows(store)
    # every segment is "medium" here (50 rows: at least small_rows, under half of target_rows)
    assert store.compact("events", small_rows=50, target_rows=2000).after == 2  # 24 plays -> 1, 8 impressions -> 1
    assert _rows(store).equals(before)
    plays = open_store(tmp_path / "few")
    for b in range(MEDIUM_FANOUT - 1):
        plays.append({"events": _events(range(b * 50, (b + 1) * 50))})
    assert plays.compact("events", small_rows=50, target_rows=2000).rows_merged == 0  # too few to merge yet


def test_an_entity_table_merges_only_neighbours_so_the_latest_value_still_wins(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    for i, country in enumerate(["SE", "NO", "DK", "FI", "IS"]):
        store.append({"users": pl.DataFrame({"row_id": [i], "user_id": ["u1"], "country": [country]})})
    store.compact("users", small_rows=10, target_rows=100)
    assert store.entities("users")["country"].to_list() == ["IS"]
    assert len(store.manifest()["tables"]["users"]) == 1


COMPACT = """
import sys, time
from tastemaker.store import open_store
store = open_store(sys.argv[1])
print("ready", flush=True)
store.compact("events", small_rows=10_000, target_rows=1_500)
print("done", flush=True)
"""


def test_kill_9_at_any_point_of_a_compaction_loses_and_doubles_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(root)
    rng = np.random.default_rng(0)
    killed_midway = 0
    for round_ in range(12):
        first = 10**6 * (round_ + 1)
        for b in range(40):  # forty more small segments each round: there is always something to merge
            store.append({"events": _events(range(first + b * 100, first + (b + 1) * 100), user=f"u{b % 5}")})
        expected = _rows(store)["row_id"].to_numpy()
        proc = subprocess.Popen([sys.executable, "-c", COMPACT, str(root)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.0, 0.15)))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed_midway += 1
        proc.wait()
        store = open_store(root)
        assert np.array_equal(_rows(store)["row_id"].to_numpy(), expected)  # every row, once
        store.append({"events": _events(range(first - 1, first))})  # the next writer clears what was left
        listed = {str(seg["file"]) for seg in store.manifest()["tables"]["events"]}
        assert {p.name for p in (root / "segments").iterdir()} == listed  # no orphan outlives it
    assert killed_midway >= 3  # most kills land while it runs (how many depends on the machine's speed)
