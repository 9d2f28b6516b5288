"""The dashboard at /ui on a real server: behind the keys, every page from the workspace's own state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import polars as pl
import pytest
from serving_support import Server, operated

from tastemaker.loop.cycle import audit_log
from tastemaker.store import open_store


@pytest.fixture(scope="module")
def dash(trained: Path, tmp_path_factory: pytest.TempPathFactory,
         request: pytest.FixtureRequest) -> tuple[Path, Server, str, str]:
    return operated(trained, tmp_path_factory.mktemp("dashboard") / "ws", request)


@contextmanager
def _signed_in(server: Server, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post("/ui/login", data={"key": key, "next": "/ui/models"})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/models"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        yield client


def test_the_dashboard_asks_for_a_key_and_takes_only_a_valid_one(dash: tuple[Path, Server, str, str]) -> None:
    _, server, viewer, _ = dash
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for page in ("/ui", "/ui/drift", "/ui/models", "/ui/data", "/ui/listeners?user=x"):
            answer = anonymous.get(page)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next=/ui")
        assert "API key" in anonymous.get("/ui/login").text
        wrong = anonymous.post("/ui/login", data={"key": "tmk_nope_nope", "next": "/ui"})
        assert wrong.status_code == 401 and "not known" in wrong.text
        away = anonymous.post("/ui/login", data={"key": viewer, "next": "https://elsewhere.example/"})
        assert away.headers["location"] == "/ui"  # no open redirect
        assert anonymous.get("/ui/static/style.css").status_code == 200
    with _signed_in(server, viewer) as client:
        assert "signed in as viewer" in client.get("/ui").text


def test_every_page_shows_the_workspace_and_a_listener_view_logs_nothing(dash: tuple[Path, Server, str, str]) -> None:
    ws, server, viewer, _ = dash
    store = open_store(ws / "store")
    user = store.events().select("user_id").unique().sort("user_id").head(1).collect()["user_id"][0]
    with _signed_in(server, viewer) as client:
        overview = client.get("/ui").text
        assert "Models in use" in overview and "als" in overview and "<svg" in overview
        assert "The latest monitoring run" in overview
        drift = client.get("/ui/drift").text
        assert "skip_rate" in drift and drift.count("<svg") >= 12 and "1 monitoring run" in drift
        models = client.get("/ui/models").text
        assert "v0002" in models and "promoted" in models and "admin only" in models  # a read key cannot act
        import tastemaker
        assert f"<code>{tastemaker.__version__}" in models  # the code that trained each version
        assert "No experiment" in client.get("/ui/experiments").text
        data = client.get("/ui/data").text
        assert "events" in data and "Quarantine" in data and "play" in data

        def shown() -> int:
            events = open_store(ws / "store").events().filter(pl.col("type") == "impression")
            return int(events.select(pl.len()).collect().item())

        before = shown()
        page = client.get("/ui/listeners", params={"user": user})
        assert page.status_code == 200
        for surface in ("for-you", "discover-weekly", "daily-mix", "home"):
            assert f"<h2>{surface}</h2>" in page.text
        assert "top artists" in page.text and "because" in page.text.lower()
        time.sleep(3)  # past the server's impression flush
        assert shown() == before  # an operator looking is not the listener being shown
        assert "not a listener id" in client.get("/ui/listeners", params={"user": " bad/id"}).text
        assert client.get("/ui/experiments/../api-keys.json").status_code == 404


def test_making_a_version_live_needs_an_admin_key_from_the_dashboard_itself(
        dash: tuple[Path, Server, str, str]) -> None:
    ws, server, viewer, operator = dash
    latest = ws / "models" / "als" / "LATEST"
    assert latest.read_text().strip() == "v0002"
    with _signed_in(server, viewer) as client:
        refused = client.post("/ui/models/als/v0001/live")
        assert refused.status_code == 403 and latest.read_text().strip() == "v0002"
    with _signed_in(server, operator) as client:
        assert "make live" in client.get("/ui/models").text
        forged = client.post("/ui/models/als/v0001/live", headers={"origin": "https://elsewhere.example"})
        assert forged.status_code == 403 and latest.read_text().strip() == "v0002"
        done = client.post("/ui/models/als/v0001/live", headers={"origin": server.url})
        assert done.status_code == 303 and latest.read_text().strip() == "v0001"
        assert "als v0001 is live (was v0002)" in client.get(done.headers["location"]).text
        assert client.post("/ui/models/als/v0099/live").status_code == 404
    assert audit_log(ws)[-1]["action"] == "made_live" and "operator" in audit_log(ws)[-1]["reasons"][0]
