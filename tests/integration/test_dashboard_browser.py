"""The dashboard in headless Chromium: every page loads without a console error, charts render, and a version is
made live with an admin key and not without one. Needs Debian's chromium (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from serving_support import Server, operated

from tastemaker.store import open_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
#: each page, and how many charts it must draw at least
PAGES = {"/ui": 1, "/ui/drift": 12, "/ui/models": 0, "/ui/experiments": 0, "/ui/data": 1, "/ui/listeners": 0}

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI needs Chromium at {CHROMIUM}: .ci/run installs Debian's chromium")
    pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def site(trained: Path, tmp_path_factory: pytest.TempPathFactory,
         request: pytest.FixtureRequest) -> tuple[Path, Server, str, str]:
    return operated(trained, tmp_path_factory.mktemp("browser") / "ws", request)


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _sign_in(browser, server: Server, key: str):  # type: ignore[no-untyped-def]
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(server.url + "/ui")
    assert page.url.startswith(server.url + "/ui/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/ui")
    return page, problems


def test_every_page_loads_without_an_error_and_draws_its_charts(site, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, server, viewer, _ = site
    page, problems = _sign_in(browser, server, viewer)
    for path, charts in PAGES.items():
        answer = page.goto(server.url + path)
        assert answer is not None and answer.status == 200, path
        assert page.locator("svg.chart").count() >= charts, path
        if charts:
            box = page.locator("svg.chart").first.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 40, path  # drawn, not empty
        assert page.locator("nav a.active").count() == 1, path
        page.screenshot(path=str(tmp_path / f"{path.strip('/').replace('/', '-') or 'ui'}.png"), full_page=True)
    page.goto(server.url + "/ui/listeners")  # the listener view: search one by id
    user = open_store(ws / "store").events().select("user_id").unique().sort("user_id").head(1).collect()["user_id"][0]
    page.fill("input[name=user]", user)
    page.click("form.search button")
    page.wait_for_selector("section.surface ol li")
    assert page.locator("section.surface").count() == 4 and page.locator("svg.chart").count() == 1
    assert problems == []


def test_make_live_works_with_an_admin_key_and_is_not_offered_without_one(site, browser) -> None:  # type: ignore[no-untyped-def]
    ws, server, viewer, operator = site
    latest = ws / "models" / "als" / "LATEST"
    page, problems = _sign_in(browser, server, viewer)
    page.goto(server.url + "/ui/models")
    assert page.locator("button[data-version]").count() == 0 and page.get_by_text("admin only").count() > 0
    refused = page.request.post(server.url + "/ui/models/als/v0001/live")
    assert refused.status == 403 and latest.read_text().strip() == "v0002"
    page.close()

    admin, problems = _sign_in(browser, server, operator)
    admin.goto(server.url + "/ui/models")
    admin.click("button[data-version='als-v0001']")
    admin.wait_for_selector("p.ok")
    assert "als v0001 is live (was v0002)" in admin.locator("p.ok").inner_text()
    assert latest.read_text().strip() == "v0001"
    assert problems == []
