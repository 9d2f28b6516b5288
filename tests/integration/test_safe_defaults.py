"""Safe by default: init makes an admin key, files are their owner's only, no open bind beyond loopback,
readiness shows no paths, and the API documentation needs no CDN."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from serving_support import ENV, Start, copy_workspace, tm

pytestmark = pytest.mark.slow


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_an_admin_key_and_every_file_written_is_its_owners_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    done = tm(ws, "init")
    assert done.returncode == 0, done.stderr
    key = next(line for line in done.stdout.split() if line.startswith("tmk_"))
    assert key not in (ws / "api-keys.json").read_text()  # stored hashed
    assert tm(ws, "init").stdout.count("tmk_") == 0  # a second init makes no second key
    world = tmp_path / "world"
    assert tm(ws, "generate", "--users", "20", "--tracks", "200", "--days", "5", "--out", str(world)).returncode == 0
    assert tm(ws, "import", "table", str(world)).returncode == 0
    assert tm(ws, "train", "popularity").returncode == 0
    written = [p for p in ws.rglob("*")]
    assert any(p.suffix == ".parquet" for p in written) and any(p.name == "meta.json" for p in written)
    loose = sorted(str(p.relative_to(ws)) for p in written
                   if _mode(p) & 0o077 or (p.is_dir() and _mode(p) != 0o700))
    assert loose == [] and _mode(ws) == 0o700


def test_the_server_refuses_an_open_bind_and_shows_no_path_and_its_docs_need_no_cdn(
        trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    refused = subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(ws), "serve", "--host",
                              "0.0.0.0", "--port", "1"], capture_output=True, text=True, timeout=60, env=ENV)
    assert refused.returncode != 0 and "without API keys" in refused.stderr + refused.stdout

    server = start(ws)
    ready = server.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == "parquet"
    assert str(ws) not in ready.text and str(os.getpid()) not in ready.text
    assert ready.json()["process"] != str(server.proc.pid)
    docs = server.client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    script = server.client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000


def test_with_inits_key_every_route_needs_it(trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    key = next(w for w in tm(ws, "init").stdout.split() if w.startswith("tmk_"))
    client = start(ws).client
    path = "/v1/users/tm:user:000001/recommendations"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.delete("/v1/users/nobody").status_code == 401
