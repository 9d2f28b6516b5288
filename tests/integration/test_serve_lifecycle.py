"""`tastemaker serve` over time: hot-swap and rollback under load, forgetting a listener, onboarding,
impression logging and the precomputed fallback level. Real server processes, real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from serving_support import Server, Start, copy_workspace, serve, tm

from tastemaker.candidates.popularity import Popularity
from tastemaker.candidates.recommender import MatrixRecommender
from tastemaker.serving.schemas import ForgottenOut, OnboardingOut, ReadyOut, RecommendationsOut, ReloadOut
from tastemaker.store import open_store

pytestmark = pytest.mark.slow

USER = "tm:user:000001"


@pytest.fixture(scope="module")
def server(trained: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Server:
    """A server that writes impressions five times a second, on its own copy of the workspace."""
    ws = copy_workspace(trained, tmp_path_factory.mktemp("lifecycle") / "ws")
    return serve(ws, request, "--impressions-flush", "0.2")


def _recommend(client: httpx.Client, user: str, **params: object) -> RecommendationsOut:
    response = client.get(f"/v1/users/{user}/recommendations", params=params)
    assert response.status_code == 200, response.text
    return RecommendationsOut.model_validate(response.json())


def _reload(client: httpx.Client) -> ReloadOut:
    response = client.post("/v1/admin/models/reload")
    assert response.status_code == 200, response.text
    return ReloadOut.model_validate(response.json())


def _ids(served: RecommendationsOut) -> list[str]:
    return [i.item_id for i in served.items]


def _until(check: Any, seconds: float = 10.0) -> Any:
    """Poll ``check()`` until it returns neither None nor False (that value is returned); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value is not None and value is not False:
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {seconds} s: {getattr(check, '__name__', check)}")


class Load:
    """Threads requesting recommendations without pause; every answer's (start, status, level, version)."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.results: list[tuple[float, int | str, str | None, str | None]] = []
        self._stop = threading.Event()
        users = [f"tm:user:{i:06d}" for i in range(40)]
        self._threads = [threading.Thread(target=self._run, args=(url, users[k::threads]))
                         for k in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, url: str, users: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not self._stop.is_set():
                for user in users:
                    started = time.monotonic()
                    try:
                        response = client.get(f"/v1/users/{user}/recommendations", params={"n": 10})
                    except httpx.HTTPError as exc:  # a refused or dropped connection is a failed request
                        self.results.append((started, type(exc).__name__, None, None))
                        continue
                    by = response.json().get("served_by", {}) if response.status_code == 200 else {}
                    self.results.append((started, response.status_code, by.get("level"), by.get("version")))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def test_a_new_version_is_swapped_in_under_load_and_rollback_is_one_command(
        trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    server = start(ws, "--reload-interval", "0.5")
    client = server.client
    load = Load(server.url)
    try:
        _until(lambda: len(load.results) >= 20)
        training = time.monotonic()
        done = tm(ws, "train", "als")  # writes v0002 and moves LATEST while the server answers
        assert done.returncode == 0 and "v0002" in done.stdout, done.stderr
        assert _reload(client).after["personal"] == "v0002"  # at once, or the background check already had
        swapped = time.monotonic()
        assert _recommend(client, USER).served_by.version == "v0002"
        time.sleep(0.5)

        broken = ws / "models" / "als" / "v0003"  # a version whose arrays are unreadable
        shutil.copytree(ws / "models" / "als" / "v0002", broken)
        (broken / "arrays.npz").write_bytes(b"not a zip file")
        (ws / "models" / "als" / ".LATEST.tmp").write_text("v0003")
        os.replace(ws / "models" / "als" / ".LATEST.tmp", ws / "models" / "als" / "LATEST")
        kept = _reload(client)
        assert kept.after["personal"] == "v0002" and "v0003" in str(kept.errors["personal"])
        personal = ReadyOut.model_validate(client.get("/readyz").json()).models["personal"]
        assert (personal.loaded, personal.version) == (True, "v0002") and "v0003" in str(personal.error)

        rolled = tm(ws, "models", "rollback", "als", "v0001")  # no reload call: the server checks by itself
        assert rolled.returncode == 0, rolled.stderr
        _until(lambda: _recommend(client, USER).served_by.version == "v0001")
        time.sleep(0.5)
    finally:
        load.stop()
    failed = [r for r in load.results if r[1] != 200]
    assert not failed, failed[:5]
    versions = {r[3] for r in load.results if r[2] == "model"}
    assert versions == {"v0001", "v0002"}  # never the broken v0003, never a 5xx
    during = [r for r in load.results if training <= r[0] <= swapped]
    assert len(during) >= 10  # requests kept being answered while training and loading
    assert [r[3] for r in load.results if r[2] == "model"][-1] == "v0001"
    text = client.get("/metrics").text
    assert 'tastemaker_model_loaded{model="als",role="personal",version="v0001"} 1.0' in text
    assert 'tastemaker_model_loaded{model="als",role="personal",version="v0002"} 0.0' in text
    assert 'tastemaker_model_reloads_total{outcome="kept"}' in text
    assert "Traceback" not in server.log_path.read_text()


def test_forgetting_a_listener_removes_them_everywhere_and_retraining_does_not_see_them(
        trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws", precomputed=True)
    server = start(ws, "--impressions-flush", "60")  # impressions stay in memory until the clean stop
    client, store = server.client, open_store(ws / "store")
    user, other = "tm:user:000002", "tm:user:000003"
    shown = {u: _recommend(client, u, n=10).request_id for u in (user, other)}
    bad = {"ts": "2024-06-01T10:00:00Z", "type": "dance", "item_id": "tm:track:000001"}
    posted = client.post("/v1/events", json={"events": [
        {"user_id": user, "ts": "2024-06-03T10:00:00Z", "type": "play", "item_id": "tm:track:000009",
         "ms_played": 200_000}, {**bad, "user_id": user}, {**bad, "user_id": other}]}).json()
    assert (posted["accepted"], posted["quarantined"]) == (1, 2)
    others = store.events().filter(pl.col("user_id") == other).collect().height

    response = client.delete(f"/v1/users/{user}")
    assert response.status_code == 200, response.text
    done = ForgottenOut.model_validate(response.json())
    assert done.events > 1 and done.profile_rows == 1 and done.quarantined == 1
    assert done.precomputed_rows == 30 and done.buffered_impressions == 10
    assert store.events().filter(pl.col("user_id") == user).collect().is_empty()
    assert store.scan("users").filter(pl.col("user_id") == user).collect().is_empty()
    assert store.events().filter(pl.col("user_id") == other).collect().height == others
    for path in (ws / "store" / "segments").glob("*.parquet"):  # no file left on disk holds them
        frame = pl.read_parquet(path)
        assert "user_id" not in frame.columns or user not in frame["user_id"].to_list(), path.name
    quarantined = "".join(p.read_text() for p in (ws / "store" / "quarantine").glob("*.jsonl"))
    assert user not in quarantined and other in quarantined
    batch = ws / "playlists" / "discover-weekly"
    assert pl.read_parquet(batch / "playlists.parquet").filter(pl.col("user_id") == user).is_empty()
    assert f"for {user}\"" not in (batch / "playlists.jspf.jsonl").read_text()

    cold = _recommend(client, user, n=10)
    assert (cold.served_by.level, cold.served_by.cause) == ("popularity", "forgotten")
    assert _ids(cold) == _ids(_recommend(client, "never-seen-listener", n=10))  # the cold-start list
    assert _recommend(client, user, surface="discover-weekly", n=5).served_by.level == "popularity"

    trained_again = tm(ws, "train", "als")
    assert trained_again.returncode == 0, trained_again.stderr
    model = MatrixRecommender.load(ws / "models" / "als" / "v0002")
    assert user not in model.users_.tolist() and other in model.users_.tolist()
    assert _reload(client).after["personal"] == "v0002"
    assert _recommend(client, user).served_by.cause == "unknown_user"

    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    assert "Application shutdown complete" in server.log_path.read_text()  # which wrote what was in memory
    logged = set(store.events().filter(pl.col("type") == "impression").collect()["session_id"].to_list())
    assert shown[other] in logged and shown[user] not in logged


def test_every_served_list_is_logged_as_impressions(server: Server) -> None:
    client, user = server.client, "tm:user:000004"
    answers = [client.get(f"/v1/users/{user}/recommendations", params={"surface": s, "n": 5}).json()
               for s in ("for-you", "discover-weekly", "daily-mix", "home")]
    seed = answers[0]["items"][0]["item_id"]
    answers += [client.get(f"/v1/tracks/{seed}/similar", params={"n": 4, "user_id": user}).json(),
                client.get("/v1/radio", params={"seed": seed, "n": 4, "user_id": user}).json()]
    surfaces = ["for-you", "discover-weekly", "daily-mix", "home", "similar", "radio"]
    anonymous = client.get(f"/v1/tracks/{seed}/similar", params={"n": 4}).json()["request_id"]
    store = open_store(server.workspace / "store")

    def logged() -> pl.DataFrame | None:
        rows = store.events().filter((pl.col("type") == "impression") & (pl.col("user_id") == user)).collect()
        ids = set(rows["session_id"].to_list())
        return rows if all(a["request_id"] in ids for a in answers) else None

    impressions = _until(logged)
    for answer, surface in zip(answers, surfaces, strict=True):
        rows = impressions.filter(pl.col("session_id") == answer["request_id"]).sort("position")
        items, by = answer["items"], answer["served_by"]
        assert rows["item_id"].to_list() == [i["item_id"] for i in items]
        assert rows["position"].to_list() == [i["position"] for i in items] == list(range(1, len(items) + 1))
        assert rows["value"].to_list() == pytest.approx([i["score"] for i in items])
        assert rows["item_kind"].to_list() == [i["kind"] for i in items]
        assert rows["tag"].to_list() == [i["group"] for i in items]
        assert set(rows["surface"]) == {surface} and set(rows["source"]) == {"serving"}
        ranked = f"+{by['ranker']}" if by.get("ranker") else ""  # for-you names the ranker that ordered it
        assert set(rows["source_file"]) == {f"{by['model']}@{by['version']}{ranked}"}
        assert set(rows["source_file"]) == ({"als@v0001+ranker@v0001"} if surface == "for-you" else {"als@v0001"})
        assert set(rows["reason_start"]) == {by["level"]}
    assert anonymous not in set(store.events().filter(pl.col("type") == "impression").collect()["session_id"])
    again = _recommend(client, user, n=5)  # an impression is not a listen: the list does not move
    assert _ids(again) == [i["item_id"] for i in answers[0]["items"]]
    assert 'tastemaker_impressions_total{outcome="stored"}' in client.get("/metrics").text


def test_onboarding_stores_the_listener_and_their_first_list_comes_from_their_picks(server: Server) -> None:
    client = server.client
    store = open_store(server.workspace / "store")
    tracks = store.entities("tracks")
    by_artist = dict(zip(tracks["track_id"].to_list(), tracks["artist_id"].to_list(), strict=True))
    names = dict(zip(tracks["artist_id"].to_list(), tracks["artist_name"].to_list(), strict=True))
    chart = Popularity.load(server.workspace / "models" / "popularity" / "v0001").item_ids_.tolist()
    charted = pl.Series("artist_id", [by_artist[t] for t in chart]).value_counts().filter(pl.col("count") >= 4)
    a, b = sorted(charted["artist_id"].to_list())[:2]
    best = {x: [t for t in chart if by_artist[t] == x] for x in (a, b)}  # their tracks, most popular first
    response = client.post("/v1/users", json={"user_id": "onboarded", "artists": [a, names[b].upper()],
                                              "country": "SE", "n": 6})
    assert response.status_code == 201, response.text
    first = OnboardingOut.model_validate(response.json())
    assert first.created and first.artists == [a, b] and first.country == "SE"
    served = first.recommendations
    assert (served.served_by.level, served.served_by.cause) == ("popularity", "unknown_user")
    assert _ids(served) == [best[a][0], best[b][0], best[a][1], best[b][1], best[a][2], best[b][2]]
    assert [i.reason for i in served.items] == [f"because you picked {names[a]}",
                                                f"because you picked {names[b]}"] * 3
    row = store.entities("users").filter(pl.col("user_id") == "onboarded").row(0, named=True)
    assert (row["onboarding_artists"], row["country"]) == ([a, b], "SE") and row["signup_date"] is not None
    later = _recommend(client, "onboarded", n=6)
    assert _ids(later) == _ids(served)
    client.post("/v1/events", json={"events": [{"user_id": "onboarded", "ts": "2024-06-01T10:00:00Z",
                                                "type": "play", "item_id": served.items[0].item_id,
                                                "ms_played": 200_000}]})
    after = _recommend(client, "onboarded", n=6)
    assert served.items[0].item_id not in _ids(after) and after.items[0].item_id == best[a][1]
    again = OnboardingOut.model_validate(client.post("/v1/users", json={"user_id": "onboarded",
                                                                          "artists": [b]}).json())
    assert not again.created and again.recommendations.items[0].reason == f"because you picked {names[b]}"
    unknown = client.post("/v1/users", json={"user_id": "onboarded-2", "artists": [a, "no such artist"]})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_artist"
    assert store.scan("users").filter(pl.col("user_id") == "onboarded-2").collect().is_empty()
    empty = client.post("/v1/users", json={"user_id": "onboarded-3", "artists": []})
    assert empty.status_code == 422 and empty.json()["code"] == "invalid_request"


def test_precomputed_lists_answer_when_the_model_cannot(trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws", precomputed=True)
    shutil.rmtree(ws / "models" / "als")
    client = start(ws).client
    batch = (pl.read_parquet(ws / "batch" / "playlists.parquet").filter(pl.col("user_id") == USER)
             .sort("position"))
    mine = batch["track_id"].to_list()
    served = _recommend(client, USER, n=5)
    assert (served.served_by.level, served.served_by.cause) == ("precomputed", "not_loaded")
    assert served.served_by.model == "discover-weekly-batch" and served.served_by.version
    assert _ids(served) == mine[:5] and [i.reason for i in served.items] == batch["reason"].to_list()[:5]
    client.post("/v1/events", json={"events": [{"user_id": USER, "ts": "2024-06-01T10:00:00Z", "type": "play",
                                                "item_id": mine[0], "ms_played": 200_000}]})
    assert _ids(_recommend(client, USER, n=5)) == mine[1:6]  # what they played since the batch is left out
    assert _recommend(client, USER, surface="discover-weekly", n=5).served_by.level == "precomputed"
    assert _recommend(client, USER, surface="daily-mix", n=5).served_by.level == "popularity"
    assert _recommend(client, "not-in-the-batch", n=5).served_by.level == "popularity"
    ready = ReadyOut.model_validate(client.get("/readyz").json())
    assert ready.models["precomputed"].loaded
    text = client.get("/metrics").text
    assert 'tastemaker_recommendations_served_total{level="precomputed",surface="for-you"}' in text
    assert 'tastemaker_fallbacks_total{cause="not_loaded",surface="for-you"}' in text

    parquet = ws / "playlists" / "discover-weekly" / "playlists.parquet"
    parquet.write_bytes(b"not parquet")  # a broken batch file: the lists already loaded go on answering
    assert "kept" in str(_reload(client).errors["precomputed"])
    assert _recommend(client, USER, n=5).served_by.level == "precomputed"
    parquet.unlink()  # no batch file at all: popularity
    assert _reload(client).changed
    assert _recommend(client, USER, n=5).served_by.level == "popularity"
