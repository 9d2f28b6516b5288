"""Shown is not heard, on the server: its Discover Weekly counts the days a track was shown without a play."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from serving_support import Start, copy_workspace

from tastemaker.serving.impressions import Shown, impression_rows
from tastemaker.store import open_store

pytestmark = pytest.mark.slow

USER = "tm:user:000001"


def _weekly(client: httpx.Client) -> list[dict[str, object]]:
    response = client.get(f"/v1/users/{USER}/recommendations", params={"surface": "discover-weekly", "n": 10})
    assert response.status_code == 200, response.text
    assert response.json()["served_by"]["level"] == "model"
    return response.json()["items"]


def _shown_on(ws: Path, item: dict[str, object], days_ago: int) -> None:
    """Store that ``item`` was on ``USER``'s Discover Weekly ``days_ago`` days ago (as the server logs it)."""
    when = datetime.now(UTC) - timedelta(days=days_ago)
    listed = Shown(f"{days_ago:016x}", USER, "discover-weekly", "model", "als", "v0001", None, [item], when)
    open_store(ws / "store").append({"events": impression_rows([listed])})


def test_what_the_server_showed_counts_by_day_and_three_days_unplayed_sends_a_track_back(
        trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    server = start(ws, "--impressions-flush", "0.2")
    first = _weekly(server.client)
    assert not any("shown to you" in str(i["reason"]) for i in first)  # nothing shown yet
    deadline = time.monotonic() + 60  # the list is flushed to the store as impressions, counted as shown today
    while True:
        again = _weekly(server.client)
        if all("shown to you" in str(i["reason"]) for i in again) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert [i["item_id"] for i in again] == [i["item_id"] for i in first]  # once shown is not heard
    assert all(str(i["reason"]).endswith("(shown to you once before, not played)") for i in again)
    time.sleep(1.0)
    assert all("once before" in str(i["reason"]) for i in _weekly(server.client))  # the same day counts once
    server.stop()

    tired, kept = first[0], first[1]
    _shown_on(ws, tired, 1)
    _shown_on(ws, tired, 2)  # with today's lists: shown on three days, never played
    restarted = _weekly(start(ws).client)  # a new server reads the shown days from the store
    ids = [i["item_id"] for i in restarted]
    assert tired["item_id"] not in ids and kept["item_id"] in ids
    assert next(i for i in restarted if i["item_id"] == kept["item_id"])["reason"].endswith(
        "(shown to you once before, not played)")
