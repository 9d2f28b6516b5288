"""Limits a real server keeps: a request head is bounded, each key has a rate, a read writes nothing for a
made-up listener."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import psutil
import pytest
from serving_support import Start, copy_workspace, tm

from tastemaker.store import open_store

pytestmark = pytest.mark.slow


def _huge_header(url: str, size: int) -> bytes:
    """Send a GET /healthz whose one header is ``size`` bytes; returns what the server answered."""
    where = urlparse(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk, sent = b"a" * 65536, 0
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:  # the server closed the connection: what it answered is already in the buffer
            pass
        try:
            return sock.recv(4096)
        except OSError:
            return b""


def test_a_huge_header_is_refused_without_growing_the_server(trained: Path, tmp_path: Path, start: Start) -> None:
    server = start(copy_workspace(trained, tmp_path / "ws"))
    proc = psutil.Process(server.proc.pid)
    assert server.client.get("/healthz").status_code == 200
    before = proc.memory_info().rss
    answers = [_huge_header(server.url, 20 << 20) for _ in range(5)]  # five 20 MB headers
    assert all(a.startswith(b"HTTP/1.1 431") for a in answers), answers[0][:200]
    assert proc.memory_info().rss - before < 30 << 20  # nothing near 100 MB was held
    assert server.client.get("/healthz").status_code == 200  # and it still answers


def test_a_key_over_its_rate_gets_429_with_retry_after_then_gets_through(trained: Path, tmp_path: Path,
                                                                         start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    key = tm(ws, "keys", "create", "--scope", "read").stdout.strip().split()[-1]
    client = start(ws, "--rate-limit", "1").client
    headers = {"Authorization": f"Bearer {key}"}
    codes = [client.get("/v1/users/tm:user:000001/recommendations", headers=headers) for _ in range(20)]
    limited = [r for r in codes if r.status_code == 429]
    assert codes[0].status_code == 200 and len(limited) >= 5  # a burst of 2, then 1 a second
    assert limited[0].json()["code"] == "rate_limited" and int(limited[0].headers["retry-after"]) >= 1
    time.sleep(2.5)
    assert client.get("/v1/users/tm:user:000001/recommendations", headers=headers).status_code == 200


def test_reading_a_made_up_listeners_lists_writes_nothing(trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    server = start(ws, "--impressions-flush", "0.2")
    for n in range(20):
        assert server.client.get(f"/v1/users/made-up-{n}/recommendations").status_code == 200
    known = server.client.get("/v1/users/tm:user:000001/recommendations").json()
    time.sleep(1.0)
    server.stop()
    shown = open_store(ws / "store").events().filter(pl.col("type") == "impression").collect()
    assert not shown["user_id"].str.starts_with("made-up-").any()
    assert shown.filter(pl.col("user_id") == "tm:user:000001").height == len(known["items"])  # the known one's
