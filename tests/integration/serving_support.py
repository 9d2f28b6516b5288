"""What the serving tests share: running ``tastemaker`` commands, copying a workspace, a server process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}


def tm(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``tastemaker --workspace WORKSPACE ARGS`` in a new process."""
    return subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(workspace), *args],
                          check=False, capture_output=True, text=True, timeout=300, env=ENV)


def copy_workspace(trained: Path, to: Path, precomputed: bool = False) -> Path:
    """A copy of the trained workspace at ``to``; with ``precomputed``, the batch lists where the server reads them."""
    shutil.copytree(trained, to, ignore=shutil.ignore_patterns("world"))
    if precomputed:
        shutil.copytree(to / "batch", to / "playlists" / "discover-weekly")
    return to


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``tastemaker serve`` process and an HTTP client for it."""

    def __init__(self, ws: Path, *options: str) -> None:
        self.workspace = ws
        port = _free_port()
        self.log_path = ws.parent / f"server-{port}.log"
        self._log = open(self.log_path, "wb")  # a file, not a pipe: a full pipe would block the server
        command = [sys.executable, "-m", "tastemaker", "--workspace", str(ws), "serve", "--port", str(port),
                   *options]
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=ENV)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                if self.client.get("/readyz").status_code in (200, 503):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail("the server did not answer /readyz within 60 s")

    def stop(self) -> int | None:
        """SIGTERM (a clean stop: the lifespan's shutdown runs), SIGKILL after 10 s; returns the exit code."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


Start = Callable[..., Server]


def serve(ws: Path, request: pytest.FixtureRequest, *options: str) -> Server:
    """A started server on ``ws``, stopped when ``request``'s scope ends."""
    server = Server(ws, *options)
    request.addfinalizer(server.stop)
    server.wait_ready()
    return server


def operated(trained: Path, to: Path, request: pytest.FixtureRequest) -> tuple[Path, Server, str, str]:
    """A served copy of the trained workspace after one monitoring run and one loop cycle (ALS), with a ``read``
    key and a ``read``+``admin`` key: what the dashboard's tests look at. Returns the workspace, the server
    and the two keys."""
    from tastemaker.serving.keys import create_key, keys_path

    ws = copy_workspace(trained, to)
    assert tm(ws, "monitor").returncode in (0, 1)
    assert tm(ws, "loop", "--once", "--model", "als", "--holdout", "4").returncode == 0
    _, viewer = create_key(keys_path(ws), ["read"], "viewer")
    _, operator = create_key(keys_path(ws), ["read", "admin"], "operator")
    return ws, serve(ws, request, "--model", "als"), viewer, operator
