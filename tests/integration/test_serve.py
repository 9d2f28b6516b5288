"""`tastemaker serve` as a client sees it: a real server process, real HTTP, a real workspace on disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import pytest
from serving_support import Start, copy_workspace, serve

from tastemaker.serving.schemas import (IngestOut, RadioOut, ReadyOut, RecommendationsOut, SimilarArtistsOut,
                                       SimilarOut)
from tastemaker.store import open_store

pytestmark = pytest.mark.slow

USER = "tm:user:000001"


@pytest.fixture(scope="module")
def workspace(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained workspace: what a user has before serving."""
    return copy_workspace(trained, tmp_path_factory.mktemp("serve-module") / "ws")


@pytest.fixture(scope="module")
def server(workspace: Path, request: pytest.FixtureRequest) -> httpx.Client:
    """One server on the trained workspace, shared by the tests of this module."""
    return serve(workspace, request).client


def _play(user: str, item: str, ts: str = "2024-06-01T10:00:00Z") -> dict[str, object]:
    return {"user_id": user, "ts": ts, "type": "play", "item_id": item, "ms_played": 200_000,
            "skipped": False}


def _recommend(client: httpx.Client, user: str, **params: object) -> RecommendationsOut:
    response = client.get(f"/v1/users/{user}/recommendations", params=params)
    assert response.status_code == 200, response.text
    served = RecommendationsOut.model_validate(response.json())
    assert len(served.request_id) == 16 and response.headers["x-request-id"] == served.request_id
    return served


def test_health_readiness_and_the_openapi_document(server: httpx.Client) -> None:
    assert server.get("/healthz").json() == {"status": "ok"}
    ready = ReadyOut.model_validate(server.get("/readyz").json())
    assert ready.ready and ready.store_version is not None
    assert {r: (m.model, m.loaded) for r, m in ready.models.items()} == {
        "personal": ("als", True), "fallback": ("popularity", True), "ranker": ("ranker", True),
        "precomputed": ("discover-weekly-batch", False)}  # no batch lists where the server reads them
    spec = server.get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/metrics", "/v1/events", "/v1/users/{user_id}/recommendations",
            "/v1/tracks/{track_id}/similar", "/v1/radio", "/v1/users", "/v1/users/{user_id}",
            "/v1/admin/models/reload"} <= set(spec["paths"])
    assert spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventBatch"}
    assert {"EventBatch", "EventIn", "RecommendationsOut", "ErrorOut"} <= set(spec["components"]["schemas"])


def test_events_are_stored_once_and_bad_records_are_quarantined_with_their_reason(
        server: httpx.Client, workspace: Path) -> None:
    batch = [_play("ingest-user", "tm:track:000010"), _play("ingest-user", "tm:track:000011"),
             {**_play("ingest-user", "tm:track:000012"), "type": "dance"},
             {**_play("ingest-user", "tm:track:000013"), "ms_played": -5},
             "not an object",
             {"user_id": "ingest-user", "type": "play", "item_id": "tm:track:000014"},
             {**_play("ingest-user", "tm:track:000015"), "ts": 1717236000}]  # epoch seconds, as imports read
    first = IngestOut.model_validate(server.post("/v1/events", json={"events": batch}).json())
    assert (first.received, first.accepted, first.duplicates, first.quarantined) == (7, 3, 0, 4)
    reasons = {r.index: r.reason for r in first.rejected}
    assert set(reasons) == {2, 3, 4, 5}
    assert "unknown event type" in reasons[2] and reasons[3] == "negative ms_played"
    assert "not a JSON object" in reasons[4] and "missing field 'ts'" in reasons[5]
    again = IngestOut.model_validate(server.post("/v1/events", json={"events": batch}).json())
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 3, 4)
    stored = open_store(workspace / "store").events().filter(pl.col("user_id") == "ingest-user").collect()
    assert sorted(stored["item_id"].to_list()) == ["tm:track:000010", "tm:track:000011", "tm:track:000015"]
    assert set(stored["source"].to_list()) == {"http"}
    kept = [json.loads(line) for p in (workspace / "store" / "quarantine").glob("http-*.jsonl")
            for line in p.read_text().splitlines()]
    negative = [r for r in kept if r["reason"] == "negative ms_played"]
    assert len(negative) == 2  # once per send
    assert json.loads(negative[0]["record"])["ms_played"] == -5  # the record as sent


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b"{not json", {"content-type": "application/json"}, 400, "invalid_json"),
    (b"[1, 2]", {"content-type": "application/json"}, 422, "invalid_body"),
    (b'{"events": []}', {"content-type": "application/json"}, 422, "invalid_body"),
    (b'{"events": "x"}', {"content-type": "application/json"}, 422, "invalid_body"),
    (b'{"events": [], "more": 1}', {"content-type": "application/json"}, 422, "invalid_body"),
    (b"user_id=u", {"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
])
def test_a_malformed_batch_gets_a_4xx_with_a_code_and_stores_nothing(
        server: httpx.Client, workspace: Path, body: bytes, headers: dict[str, str], status: int,
        code: str) -> None:
    def listening() -> int:  # impressions of other tests' requests may be flushed meanwhile
        events = open_store(workspace / "store").events().filter(pl.col("type") != "impression")
        return int(events.select(pl.len()).collect().item())

    before = listening()
    response = server.post("/v1/events", content=body, headers=headers)
    assert response.status_code == status and response.json()["code"] == code
    assert response.json()["message"]
    assert listening() == before


def test_bad_requests_elsewhere_get_a_code_too(server: httpx.Client) -> None:
    for path, status, code in (("/v1/users/u/recommendations?surface=nope", 422, "invalid_request"),
                               ("/v1/users/u/recommendations?n=0", 422, "invalid_request"),
                               ("/v1/tracks/no-such-track/similar", 404, "unknown_track"),
                               ("/v1/radio?seed=no-such-track", 404, "unknown_track"),
                               ("/v1/radio", 422, "invalid_request"),
                               ("/no/such/path", 404, "not_found")):
        response = server.get(path)
        assert (response.status_code, response.json()["code"]) == (status, code), path


def test_a_played_track_leaves_the_next_recommendations_without_retraining(server: httpx.Client) -> None:
    for surface in ("for-you", "discover-weekly"):
        before = _recommend(server, USER, surface=surface, n=10)
        assert before.served_by.level == "model" and before.served_by.model == "als"
        assert len(before.items) == 10 and all(i.reason for i in before.items)
        top = before.items[0].item_id
        play = _play(USER, top, f"2024-06-02T10:00:{len(surface):02d}Z")
        assert server.post("/v1/events", json={"events": [play]}).json()["accepted"] == 1
        after = _recommend(server, USER, surface=surface, n=10)
        assert top not in [i.item_id for i in after.items] and len(after.items) == 10
    ranked = _recommend(server, USER, n=10)
    assert ranked.served_by.ranker == "ranker@v0001"  # for-you is ordered by the learning-to-rank model
    assert any(i.reason.startswith("because you played") and i.because for i in ranked.items)


def test_a_new_listener_gets_the_popular_list_at_once_minus_what_they_play(server: httpx.Client) -> None:
    fresh = _recommend(server, "brand-new-listener", n=5)
    assert fresh.served_by.level == "popularity" and fresh.served_by.cause == "unknown_user"
    assert fresh.served_by.model == "popularity" and fresh.served_by.version == "v0001"
    assert len(fresh.items) == 5 and all(i.reason for i in fresh.items)
    server.post("/v1/events", json={"events": [_play("brand-new-listener", fresh.items[0].item_id)]})
    after = _recommend(server, "brand-new-listener", n=5)
    assert fresh.items[0].item_id not in [i.item_id for i in after.items]


def test_mixes_home_similar_and_radio_answer_with_reasons(server: httpx.Client) -> None:
    mixes = _recommend(server, USER, surface="daily-mix", n=10)
    assert mixes.served_by.level == "model"
    assert all(i.group and i.group.startswith("daily-mix-") for i in mixes.items)
    page = _recommend(server, USER, surface="home", n=5)
    assert page.served_by.level == "model" and page.items[0].group == "made-for-you"
    cards = [(i.kind, i.item_id) for i in page.items]
    assert len(cards) == len(set(cards)) and all(i.reason for i in page.items)
    seed = _recommend(server, USER, n=1).items[0].item_id
    like = SimilarOut.model_validate(server.get(f"/v1/tracks/{seed}/similar", params={"n": 5}).json())
    assert len(like.items) == 5 and seed not in [i.item_id for i in like.items]
    assert all(i.reason.startswith("similar to") for i in like.items)
    queue = RadioOut.model_validate(server.get("/v1/radio", params={"seed": seed, "n": 5}).json())
    steered = RadioOut.model_validate(server.get("/v1/radio", params={
        "seed": seed, "n": 5, "skipped": queue.items[0].item_id}).json())
    assert len(queue.items) == 5 and seed not in [i.item_id for i in queue.items]
    assert [i.item_id for i in steered.items] != [i.item_id for i in queue.items]


def test_similar_artists_share_listeners_and_say_so(server: httpx.Client, workspace: Path) -> None:
    tracks = open_store(workspace / "store").entities("tracks")
    artist = tracks["artist_id"].value_counts(sort=True)["artist_id"][0]  # the artist with the most tracks
    name = tracks.filter(pl.col("artist_id") == artist)["artist_name"][0]
    answer = server.get(f"/v1/artists/{artist}/similar", params={"n": 5})
    assert answer.status_code == 200, answer.text
    similar = SimilarArtistsOut.model_validate(answer.json())
    assert similar.served_by.level == "model" and len(similar.items) == 5
    assert artist not in [i.item_id for i in similar.items] and {i.kind for i in similar.items} == {"artist"}
    assert all(i.reason.endswith(f" listeners of {name} also play this artist") for i in similar.items)
    scores = [i.score for i in similar.items]
    assert scores == sorted(scores, reverse=True)
    gone = server.get("/v1/artists/no-such-artist/similar")
    assert (gone.status_code, gone.json()["code"]) == (404, "unknown_artist")


def test_metrics_count_requests_fallback_levels_and_ingest(server: httpx.Client) -> None:
    _recommend(server, "metrics-listener", n=3)
    server.post("/v1/events", json={"events": [_play("metrics-listener", "t1"),
                                               {**_play("metrics-listener", "t2"), "type": "x"}]})
    text = server.get("/metrics").text
    for line in ('tastemaker_recommendations_served_total{level="popularity",surface="for-you"}',
                 'tastemaker_fallbacks_total{cause="unknown_user",surface="for-you"}',
                 'tastemaker_events_total{outcome="accepted"}',
                 'tastemaker_events_total{outcome="quarantined"}',
                 'tastemaker_http_requests_total{method="POST",route="/v1/events",status="200"}',
                 'tastemaker_http_request_duration_seconds_bucket{le="0.05",method="GET",'
                 'route="/v1/users/{user_id}/recommendations"}',
                 'tastemaker_model_loaded{model="als",role="personal",version="v0001"} 1.0'):
        assert line in text, line
    assert "metrics-listener" not in text  # route templates, never raw paths with user ids


@pytest.mark.parametrize("damage", ["deleted", "corrupted", "no-models-at-all"])
def test_a_missing_or_broken_model_still_serves_200_from_popularity(
        trained: Path, tmp_path: Path, start: Start, damage: str) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    if damage == "corrupted":
        (ws / "models" / "als" / "v0001" / "arrays.npz").write_bytes(b"not a zip file")
    else:
        shutil.rmtree(ws / "models" / "als")
    if damage == "no-models-at-all":  # popularity is then fitted on the store at startup
        shutil.rmtree(ws / "models" / "popularity")
    client = start(ws).client
    ready = ReadyOut.model_validate(client.get("/readyz").json())
    assert ready.ready and not ready.models["personal"].loaded and ready.models["personal"].error
    for surface in ("for-you", "discover-weekly", "daily-mix", "home"):
        served = _recommend(client, USER, surface=surface, n=5)
        assert (served.served_by.level, served.served_by.cause) == ("popularity", "not_loaded")
        assert len(served.items) == 5 and all(i.reason for i in served.items)
        assert served.served_by.version == ("v0001" if damage != "no-models-at-all" else
                                            f"store-v{ready.store_version}")
    similar = client.get("/v1/tracks/tm:track:000001/similar")
    assert similar.status_code == 503 and similar.json()["code"] == "model_unavailable"


def test_kill_9_during_ingest_loses_no_acknowledged_event(trained: Path, tmp_path: Path, start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    started = start(ws)
    client, proc = started.client, started.proc
    acknowledged: list[str] = []

    def send() -> None:
        for b in range(10_000):
            batch = [_play(f"k9-{b}", f"tm:track:{i:06d}") for i in range(50)]
            try:
                if client.post("/v1/events", json={"events": batch}).status_code == 200:
                    acknowledged.append(f"k9-{b}")
            except httpx.TransportError:
                return

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    sender.join(timeout=30)
    stored = (open_store(ws / "store").events().filter(pl.col("user_id").str.starts_with("k9-"))
              .group_by("user_id").len().collect())
    counts = dict(zip(stored["user_id"].to_list(), stored["len"].to_list(), strict=True))
    assert acknowledged and all(counts.get(u) == 50 for u in acknowledged)


def test_tracks_and_artists_go_by_name_search_finds_them_and_an_artists_radio_plays_them(
        server: httpx.Client, workspace: Path) -> None:
    tracks = open_store(workspace / "store").entities("tracks")
    unique = tracks.filter(pl.len().over("name", "artist_name") == 1)["track_id"].to_list()
    seed = next(i for i in _recommend(server, USER, n=20).items if i.item_id in unique)  # one "Artist - Title"
    artist_id = tracks.filter(pl.col("track_id") == seed.item_id)["artist_id"][0]
    artist = str(tracks.filter(pl.col("artist_id") == artist_id)["artist_name"][0])

    found = server.get("/v1/search", params={"q": artist.lower().replace(" ", ""), "kind": "artist"}).json()
    assert found["items"][0]["id"] == artist_id and found["items"][0]["name"] == artist
    assert found["items"][0]["listeners"] > 0

    by_name = SimilarOut.model_validate(server.get(f"/v1/tracks/{seed.subtitle} - {seed.title}/similar",
                                                   params={"n": 5}).json())
    by_id = SimilarOut.model_validate(server.get(f"/v1/tracks/{seed.item_id}/similar", params={"n": 5}).json())
    assert by_name.track_id == seed.item_id and by_name.title == f"{seed.title} by {seed.subtitle}"
    assert [i.item_id for i in by_name.items] == [i.item_id for i in by_id.items] and by_name.note is None

    typo = artist[:-1] + ("x" if artist[-1] != "x" else "y")  # one letter off: the closest, and a note
    like = SimilarArtistsOut.model_validate(server.get(f"/v1/artists/{typo}/similar", params={"n": 5}).json())
    assert like.artist_id == artist_id and like.note and artist in like.note

    queue = RadioOut.model_validate(server.get(f"/v1/artists/{artist}/radio", params={"n": 12}).json())
    assert queue.seed == artist_id and queue.seed_kind == "artist" and queue.title == artist
    own = [i.position for i in queue.items if i.subtitle == artist]
    assert own[:3] == [1, 5, 9]  # the artist at every fourth place
    assert len({i.item_id for i in queue.items}) == 12 and all(i.reason for i in queue.items)
    radio = RadioOut.model_validate(server.get("/v1/radio", params={"seed": f"{seed.title} by {seed.subtitle}",
                                                                    "n": 5}).json())
    assert radio.seed == seed.item_id and seed.item_id not in [i.item_id for i in radio.items]
    for path in (f"/v1/tracks/{artist_id}/similar", f"/v1/radio?seed={artist_id}"):  # an artist's id on a track route
        wrong = server.get(path)
        assert (wrong.status_code, wrong.json()["code"]) == (404, "unknown_track")
        assert f"/v1/artists/{artist_id}/radio" in wrong.json()["message"] and artist in wrong.json()["message"]

    nobody = server.get("/v1/artists/Qqqqzzzz Vvvvxxxx/radio")
    assert nobody.status_code == 404 and nobody.json()["code"] == "unknown_artist"
    assert "closest" in nobody.json()["message"]


def test_a_catalogue_track_the_model_never_saw_starts_a_radio_from_its_artist(
        server: httpx.Client, workspace: Path) -> None:
    store = open_store(workspace / "store")
    tracks = store.entities("tracks")
    played = store.events().filter(pl.col("type") != "impression").select("item_id").unique().collect()["item_id"]
    heard_artists = tracks.filter(pl.col("track_id").is_in(played.implode()))["artist_id"].unique()
    unheard = tracks.filter(~pl.col("track_id").is_in(played.implode())
                            & pl.col("artist_id").is_in(heard_artists.implode()))
    assert unheard.height, "the generated world has catalogue tracks nobody played"
    seed = unheard["track_id"][0]
    assert server.get(f"/v1/tracks/{seed}/similar").json()["items"] == []  # nothing is like it yet: an empty list
    radio = RadioOut.model_validate(server.get("/v1/radio", params={"seed": seed, "n": 8}).json())
    assert radio.seed == seed and len(radio.items) == 8 and seed not in [i.item_id for i in radio.items]
    assert all(i.reason for i in radio.items)
