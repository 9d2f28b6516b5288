"""Screenshots of every dashboard page for docs/dashboard/, from a real server on a generated world.

    python bench/dashboard_screenshots.py

A world of 300 listeners × 2,000 tracks (30 days) is imported; popularity and ALS are trained; a
monitoring run, one cycle of the loop (ALS, a 4-day holdout) and a few hundred requests give the pages
something to show; `tastemaker serve --model als` then runs with an admin key, and Debian's Chromium
(headless, driven by Playwright) signs in and photographs each page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "dashboard"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
PAGES = ("/ui", "/ui/drift", "/ui/models", "/ui/experiments", "/ui/data")


def tm(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(ws), *args], env=ENV,
                          capture_output=True, text=True, check=False)


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tastemaker.serving.keys import create_key, keys_path
    from tastemaker.store import open_store

    scratch = Path(tempfile.mkdtemp(prefix="tastemaker-shots-"))
    ws = scratch / "ws"
    for args in (("generate", "--users", "300", "--tracks", "2000", "--days", "30"), ("import", "table", str(ws / "world")),
                 ("train", "popularity"), ("train", "als"), ("monitor",),
                 ("loop", "--once", "--model", "als", "--holdout", "4")):
        done = tm(ws, *args)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{args}: {done.stderr[-2000:]}")
    _, key = create_key(keys_path(ws), ["read", "admin"], "operator")
    port = 8765
    server = subprocess.Popen([sys.executable, "-m", "tastemaker", "--workspace", str(ws), "serve", "--model", "als",
                               "--port", str(port)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        client = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30)
        for _ in range(300):
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        users = open_store(ws / "store").events().select("user_id").unique().sort("user_id").collect()["user_id"]
        for i, user in enumerate(users.head(200).to_list()):
            client.get(f"/v1/users/{user}/recommendations",
                       params={"surface": ("for-you", "discover-weekly", "home")[i % 3]})
        time.sleep(3)  # the impressions flushed
        tm(ws, "monitor")
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/ui/login")
            page.fill("input[name=key]", key)
            page.click("button[type=submit]")
            page.wait_for_url(url + "/ui")
            for path in PAGES:
                page.goto(url + path)
                name = path.strip("/").replace("/", "-")
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                print(OUT / f"{name}.png")
            page.goto(url + f"/ui/listeners?user={users[len(users) // 2]}")
            page.screenshot(path=str(OUT / "ui-listeners.png"), full_page=True)
            print(OUT / "ui-listeners.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
