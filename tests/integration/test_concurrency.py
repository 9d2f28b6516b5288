"""Real processes against one store: concurrent writers and readers, and kill -9 mid-import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from tastemaker.store import open_store

WRITER = """
import sys, polars as pl
from tastemaker.store import open_store
store = open_store(sys.argv[1]); lo, hi, step = map(int, sys.argv[2:5])
for start in range(lo, hi, step):
    ids = list(range(start, min(start + step, hi)))
    store.append({"events": pl.DataFrame({"row_id": ids, "user_id": ["u"] * len(ids), "item_id": [f"t{i}" for i in ids],
                                         "type": ["play"] * len(ids), "item_kind": ["track"] * len(ids)})})
"""

READER = """
import sys, json, time, polars as pl
from tastemaker.store import open_store
store = open_store(sys.argv[1]); seen = []; deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    files = store.segments("events")
    ids = pl.scan_parquet(files).select("row_id").collect()["row_id"] if files else pl.Series([], dtype=pl.Int64)
    assert ids.n_unique() == ids.len(), "a reader saw the same event twice"
    assert not seen or ids.len() >= seen[-1], "a reader saw the log shrink"
    seen.append(ids.len())
print(json.dumps(seen))
"""


def _spawn(code: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_writers_and_a_reader_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    url = tmp_path / "store"
    open_store(url)
    reader = _spawn(READER, url, 8)
    writers = [_spawn(WRITER, url, 0, 100_000, 2_500), _spawn(WRITER, url, 50_000, 150_000, 2_500)]
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    counts = json.loads(out)
    assert len(counts) > 3 and counts == sorted(counts)
    ids = open_store(url).events().select("row_id").collect()["row_id"]
    assert ids.len() == 150_000 and ids.n_unique() == 150_000
    assert ids.sort().to_list() == list(range(150_000))


def _events_csv(path: Path, n: int) -> Path:
    rng = np.random.default_rng(7)
    ts = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 1000
    pl.DataFrame({
        "user_id": [f"u{i}" for i in rng.integers(0, 5_000, n)],
        "ts": pl.Series(ts).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
        "type": "play",
        "item_id": [f"t{i}" for i in rng.integers(0, 20_000, n)],
        "item_kind": "track",
        "ms_played": rng.integers(0, 300_000, n),
    }).write_csv(path)
    return path


def _import(workspace: Path, csv: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tastemaker", "--workspace", str(workspace), "import", "table", str(csv),
           "--json", "--commit-rows", "40000"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TASTEMAKER_STORE_URL": ""})


def test_kill_9_during_import_loses_no_acknowledged_event(tmp_path: Path) -> None:
    n = 400_000
    csv = _events_csv(tmp_path / "events.csv", n)
    ws = tmp_path / "ws"
    acknowledged = 0
    for delay in (0.0, 0.7):
        proc = _import(ws, csv)
        assert proc.stderr is not None
        while True:  # wait for a committed batch, then kill at once or a little later
            line = proc.stderr.readline()
            assert line, f"import ended before its first commit: {proc.communicate()}"
            if line.startswith('{"progress"'):
                acknowledged = max(acknowledged, json.loads(line)["progress"]["accepted"])
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        store = open_store(ws / "store")
        ids = store.events().select("row_id").collect()["row_id"]
        assert ids.len() >= acknowledged, "an acknowledged event was lost"
        assert ids.n_unique() == ids.len()
    done = _import(ws, csv)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    summary = json.loads(out)
    assert summary["read"] == n and summary["accepted"] + summary["duplicates"] == n
    ids = open_store(ws / "store").events().select("row_id").collect()["row_id"]
    assert ids.len() == n and ids.n_unique() == n
