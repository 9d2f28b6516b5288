"""``tastemaker monitor`` on a served workspace: what the server logged, credited, judged, written down."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from serving_support import copy_workspace, serve, tm

from tastemaker.store import open_store


def test_monitor_credits_plays_to_what_the_server_showed_and_alerts_past_a_bound(
        trained: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    (ws / "monitoring.toml").write_text("[quality]\nmin_lists = 5\nmin_play_rate = 0.5\n")
    server = serve(ws, request)
    users = (open_store(ws / "store").events().select("user_id").unique().sort("user_id").head(20)
             .collect()["user_id"].to_list())
    tops = []
    for user in users:
        answer = server.client.get(f"/v1/users/{user}/recommendations", params={"n": 10}).json()
        assert len(answer["items"]) == 10
        tops.append((user, answer["items"][0]["item_id"]))
    now = datetime.now(UTC).isoformat()
    plays = [{"user_id": u, "ts": now, "type": "play", "item_id": item, "ms_played": 200_000} for u, item in tops]
    assert server.client.post("/v1/events", json={"events": plays}).json()["accepted"] == 20

    def shown() -> int:
        events = open_store(ws / "store").events().filter(pl.col("type") == "impression")
        return int(events.select(pl.len()).collect().item())

    deadline = time.monotonic() + 30
    while shown() < 200 and time.monotonic() < deadline:  # the server flushes impressions every 2 s
        time.sleep(0.5)
    assert shown() == 200

    done = tm(ws, "monitor", "--json")
    assert done.returncode == 1, done.stderr  # a guardrail broke: 1 play in 10 impressions, the bound is 0.5
    report = json.loads(done.stdout)
    for_you = next(q for q in report["quality"] if q["surface"] == "for-you")
    assert (for_you["lists"], for_you["impressions"]) == (20, 200)
    assert for_you["play_rate"] == pytest.approx(0.1) and for_you["minutes_per_impression"] == pytest.approx(
        20 * 200_000 / 60_000 / 200)
    assert for_you["fallback_rate"] == 0.0 and 0 < for_you["coverage"] < 1
    assert {d["signal"] for d in report["drift"]} >= {"volume", "skip_rate", "country_mix"}
    assert any(a["name"] == "for-you.play_rate" and a["value"] == pytest.approx(0.1) for a in report["alerts"])

    folder = ws / "monitoring"
    assert json.loads((folder / "report.json").read_text())["at"] == report["at"]
    logged = [json.loads(line) for line in (folder / "alerts.jsonl").read_text().splitlines()]
    assert any(a["name"] == "for-you.play_rate" for a in logged)
    assert 'tastemaker_surface_quality{metric="play_rate",surface="for-you"} 0.1' in (folder / "metrics.prom").read_text()

    readable = tm(ws, "monitor")  # the tables, for a person
    assert readable.returncode == 1 and "for-you" in readable.stdout and "play_rate" in readable.stdout
