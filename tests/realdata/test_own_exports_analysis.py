"""The analysis commands on the real exports, through the real command: ``evaluate`` cuts each listener at their
own last days (their years differ) and says so, refuses a table over one listener, and ``train ranker`` trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.realdata


def tm(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(workspace), *args],
                          check=False, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def exports(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("exports") / "ws"
    done = tm(ws, "import", "spotify-account", str(shared_data / "spotify-streaming-history-basic" / "raw"), "--json")
    assert done.returncode == 0, done.stderr
    return ws


def test_evaluate_cuts_each_listener_at_their_own_last_days(exports: Path) -> None:
    done = tm(exports, "evaluate", "--test-days", "30", "--model", "popularity", "--model", "artist", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["protocol"] == "per-listener" and "spans differ" in done.stderr
    assert report["listeners"] >= 20  # a global cut scores the one or two listeners of the last month
    artist, popular = report["models"]["artist"], report["models"]["popularity"]
    assert artist["ndcg@10_low"] <= artist["ndcg@10"] <= artist["ndcg@10_high"]
    assert artist["ndcg@10"] > popular["ndcg@10"]
    forced = tm(exports, "evaluate", "--test-days", "30", "--model", "popularity", "--protocol", "global")
    assert forced.returncode != 0 and "lower --min-listeners" in forced.stderr


def test_one_person_with_subfolders_is_one_listener_and_gets_no_table(shared_data: Path, tmp_path: Path) -> None:
    one = shared_data / "spotify-streaming-history-basic" / "raw" / "u003"  # holds two exports' folders
    assert len({p.parent for p in one.rglob("StreamingHistory*.json*")}) > 1
    assert tm(tmp_path / "ws", "import", "spotify-account", str(one), "--user", "me", "--json").returncode == 0
    assert json.loads(tm(tmp_path / "ws", "stats", "--json").stdout)["users"] == 1
    done = tm(tmp_path / "ws", "evaluate", "--test-days", "30", "--model", "popularity")
    assert done.returncode != 0 and "fewer than 10 listeners" in done.stderr and "┃" not in done.stdout
    alone = tm(tmp_path / "ws", "evaluate", "--test-days", "30", "--model", "popularity", "--min-listeners", "1")
    assert alone.returncode != 0 and "only 0 listener(s)" in alone.stderr  # alone, no new track was played before


def test_train_ranker_trains_on_real_exports(exports: Path) -> None:
    done = tm(exports, "train", "ranker", "--json")
    assert done.returncode == 0, done.stderr
    trained = json.loads(done.stdout)
    assert trained["train_lists"] > 0 and trained["cut"] == "each listener's last 7 days"
