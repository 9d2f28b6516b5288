"""``tastemaker serve --workers 2``: two processes on one port, one store, one real-time view of listening."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from serving_support import Start, copy_workspace

USER = "tm:user:000002"


def _pid(client: httpx.Client) -> int | None:
    answer = client.get("/readyz")
    return answer.json()["process"] if answer.status_code == 200 else None


def _clients_on_two_workers(url: str) -> tuple[httpx.Client, httpx.Client]:
    """Two keep-alive clients whose connections were accepted by different worker processes.

    First wait until both workers answer (the second may still be loading its models), then
    pick the clients: an idle keep-alive connection is closed by the server after a few
    seconds, and a client whose connection was closed reconnects to either worker.
    """
    seen: set[int] = set()
    deadline = time.monotonic() + 90
    while len(seen) < 2 and time.monotonic() < deadline:
        with httpx.Client(base_url=url, timeout=30) as probe:
            pid = _pid(probe)
        if pid is not None:
            seen.add(pid)
        if len(seen) < 2:
            time.sleep(0.2)
    if len(seen) < 2:
        pytest.fail("a second worker never answered")
    by_pid: dict[int, httpx.Client] = {}
    for _ in range(200):
        client = httpx.Client(base_url=url, timeout=30)
        pid = _pid(client)
        if pid is not None and pid not in by_pid:
            by_pid[pid] = client
            if len(by_pid) == 2:
                break
        else:
            client.close()
    if len(by_pid) < 2:
        pytest.fail("no connection reached the second worker in 200 tries")
    first, second = by_pid.values()
    return first, second


def _served(total: str) -> float:
    return sum(float(v) for v in re.findall(r'^tastemaker_recommendations_served_total\{[^}]*\} (\S+)$', total,
                                            re.MULTILINE))


def test_two_workers_share_listening_forgets_and_metrics(trained: Path, tmp_path: Path, start: Start) -> None:
    server = start(copy_workspace(trained, tmp_path / "ws"), "--workers", "2")
    a, b = _clients_on_two_workers(server.url)
    try:
        assert a.get("/readyz").json()["process"] != b.get("/readyz").json()["process"]
        before = b.get(f"/v1/users/{USER}/recommendations", params={"n": 10}).json()
        assert before["served_by"]["level"] == "model"
        top = before["items"][0]["item_id"]
        play = {"user_id": USER, "ts": "2024-06-03T10:00:00Z", "type": "play", "item_id": top,
                "ms_played": 200_000}
        assert a.post("/v1/events", json={"events": [play]}).json()["accepted"] == 1  # stored by worker A
        after = b.get(f"/v1/users/{USER}/recommendations", params={"n": 10}).json()  # answered by worker B
        assert top not in [i["item_id"] for i in after["items"]] and len(after["items"]) == 10

        served = _served(a.get("/metrics").text)
        for client in (a, b, a, b):
            assert client.get(f"/v1/users/{USER}/recommendations", params={"n": 3}).status_code == 200
        assert _served(b.get("/metrics").text) == served + 4  # every worker's counts, from either

        assert a.delete(f"/v1/users/{USER}").status_code == 200
        gone = b.get(f"/v1/users/{USER}/recommendations", params={"n": 10}).json()
        assert gone["served_by"]["level"] == "popularity" and gone["served_by"]["cause"] == "forgotten"
    finally:
        a.close()
        b.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balances on Linux; reads /proc")
def test_connections_opened_together_spread_over_the_workers(trained: Path, tmp_path: Path, start: Start) -> None:
    import json
    import socket
    from collections import Counter

    server = start(copy_workspace(trained, tmp_path / "ws"), "--workers", "2")
    for client in _clients_on_two_workers(server.url):  # both workers answer
        client.close()
    port = int(server.url.rsplit(":", 1)[1])
    # each worker listens on a socket of its own (uvicorn's --workers shares one: the first worker to wake
    # accepts every connection waiting, so a busy moment piles a client's pool onto one worker)
    listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    assert sum(1 for f in listening if f[1].endswith(f":{port:04X}") and f[3] == "0A") == 2
    # a client opening its pool at once: every connection is made before the first request is sent
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(32)]
    try:
        for conn in conns:
            conn.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        workers = Counter[int]()
        for conn in conns:
            answer = b""
            while b"}" not in answer:
                answer += conn.recv(65536)
            workers[json.loads(answer.partition(b"\r\n\r\n")[2])["process"]] += 1
    finally:
        for conn in conns:
            conn.close()
    assert len(workers) == 2 and min(workers.values()) >= 4, workers  # by chance: p < 1e-5


def test_explored_for_you_logs_each_items_propensity(trained: Path, tmp_path: Path, start: Start) -> None:
    import polars as pl

    from tastemaker.store import open_store

    server = start(copy_workspace(trained, tmp_path / "ws"), "--explore", "0.5", "--impressions-flush", "0.2")
    answers = [server.client.get(f"/v1/users/{USER}/recommendations", params={"n": 10}).json() for _ in range(6)]
    shown = [(a["request_id"], i["position"], i["propensity"], i["reason"]) for a in answers for i in a["items"]]
    assert all(0 < p <= 1 for *_, p, _ in shown)
    assert any(p < 0.01 and why == "exploration" for *_, p, why in shown)  # a random pick from ~200
    assert any(p > 0.5 for *_, p, _ in shown)  # the greedy pick: 0.5 + 0.5 / candidates left
    store = open_store(server.workspace / "store")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = store.events().filter(pl.col("type") == "impression").collect()
        if rows.filter(pl.col("session_id").is_in([a["request_id"] for a in answers])).height == len(shown):
            break
        time.sleep(0.2)
    logged = {(r, p): v for r, p, v in rows.select("session_id", "position", "propensity").iter_rows()}
    assert [logged[(r, p)] for r, p, _, _ in shown] == pytest.approx([v for _, _, v, _ in shown])


def test_an_ab_of_the_for_you_order_logs_each_listeners_arm(trained: Path, tmp_path: Path, start: Start) -> None:
    import polars as pl

    from tastemaker.experiments.assignment import Assigner, Experiment, Variant
    from tastemaker.store import open_store

    server = start(copy_workspace(trained, tmp_path / "ws"), "--experiment", "order-ab", "--arms",
                   "model=1,ranker=1", "--impressions-flush", "0.2")
    expected = Assigner([Experiment("order-ab", [Variant("model", 1.0), Variant("ranker", 1.0)])])
    answers = {}
    for i in range(20):
        user = f"tm:user:{i:06d}"
        answer = server.client.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
        by = answer["served_by"]
        if by["level"] != "model":  # not personalised: no arm decided it, no exposure
            assert by["variant"] is None
            continue
        arm = expected.assign(user, "order-ab")
        assert by["variant"] == f"order-ab:{arm}"
        assert by["ranker"] == (None if arm == "model" else "ranker@v0001")
        answers[answer["request_id"]] = by["variant"]
    assert {v.split(":")[1] for v in answers.values()} == {"model", "ranker"}
    store = open_store(server.workspace / "store")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = store.events().filter(pl.col("session_id").is_in(list(answers))).collect()
        if rows.height == 5 * len(answers):
            break
        time.sleep(0.2)
    logged = dict(rows.select("session_id", "variant").unique().iter_rows())
    assert logged == answers  # every item of a list carries its arm: the exposure log
