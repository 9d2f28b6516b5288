"""A served workspace absorbs an outside import in the background and keeps its store compact."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest
from serving_support import Start, copy_workspace, tm

from tastemaker.store import open_store

pytestmark = pytest.mark.slow


def _wait(predicate, seconds: float = 180.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_an_outside_import_is_absorbed_without_any_request_and_in_steps(trained: Path, tmp_path: Path,
                                                                        start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    server = start(ws)
    assert server.client.get("/readyz").json()["behind"] is False
    world = tmp_path / "more"
    assert tm(ws, "generate", "--users", "400", "--tracks", "2000", "--days", "30", "--seed", "9",
              "--out", str(world)).returncode == 0
    done = tm(ws, "import", "table", str(world), "--user-prefix", "other-", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] > 20_000  # more than a request applies itself
    assert _wait(lambda: server.client.get("/readyz").json()["behind"] is False)  # no request asked for it
    newcomer = "other-tm:user:000003"
    heard = set(open_store(ws / "store").events().filter(pl.col("user_id") == newcomer)
                .select("item_id").collect()["item_id"].to_list())
    assert heard
    listed = server.client.get(f"/v1/users/{newcomer}/recommendations", params={"n": 50}).json()
    assert listed["served_by"]["level"] == "popularity"  # the model does not know them yet...
    assert not heard & {i["item_id"] for i in listed["items"]}  # ...but what they played is already excluded


def test_the_server_merges_the_small_segments_its_ingest_adds(trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    server = start(ws, "--compact-interval", "0.5")
    store = open_store(ws / "store")
    for n in range(40):  # forty acknowledged batches: forty new segments
        event = {"user_id": "tm:user:000001", "ts": f"2024-06-01T10:{n:02d}:00Z", "type": "play",
                 "item_id": f"tm:track:{n:06d}", "ms_played": 200_000}
        assert server.client.post("/v1/events", json={"events": [event]}).json()["accepted"] == 1
    assert _wait(lambda: store.small_segments("events") < 32)
    stored = store.events().filter((pl.col("user_id") == "tm:user:000001")
                                   & (pl.col("ts") >= pl.datetime(2024, 6, 1, time_zone="UTC"))).collect()
    assert stored.height == 40 and stored["row_id"].n_unique() == 40  # every acknowledged event, once
    played = server.client.get("/v1/users/tm:user:000001/recommendations", params={"n": 100}).json()["items"]
    assert not {f"tm:track:{n:06d}" for n in range(40)} & {i["item_id"] for i in played}
