"""`tastemaker serve` with API keys: scopes per route, keys stored hashed and picked up without a restart,
request size limits, and a log without user ids or keys. Real server processes, real HTTP."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_support import Server, copy_workspace, serve, tm

from tastemaker.serving.keys import create_key, keys_path
from tastemaker.serving.logs import IN_REQUEST, WithholdRequestData
from tastemaker.serving.schemas import IngestOut, RecommendationsOut

pytestmark = pytest.mark.slow

USER = "tm:user:000001"
TRACK = "tm:track:000001"
#: a listener id found nowhere in the trained world, so finding it in the log can only mean a leak
SECRET_USER = "listener-7f3e9c1a-private"
#: every /v1 route with the scope it needs and a request that is valid with that scope
ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("ingest", "POST", "/v1/events", {"json": {"events": [
        {"user_id": "scoped", "ts": "2024-06-01T10:00:00Z", "type": "play", "item_id": TRACK}]}}),
    ("ingest", "POST", "/v1/users", {"json": {"user_id": "scoped-new", "artists": ["tm:artist:0001"]}}),
    ("read", "GET", f"/v1/users/{USER}/recommendations", {"params": {"n": 2}}),
    ("read", "GET", f"/v1/tracks/{TRACK}/similar", {"params": {"n": 2}}),
    ("read", "GET", "/v1/radio", {"params": {"seed": TRACK, "n": 2}}),
    ("admin", "DELETE", "/v1/users/scoped-gone", {}),
    ("admin", "POST", "/v1/admin/models/reload", {}),
]


def _key(ws: Path, *scopes: str, name: str | None = None) -> str:
    """A new key made with the CLI (what a user does)."""
    args = [a for s in scopes for a in ("--scope", s)] + (["--name", name] if name else [])
    done = tm(ws, "keys", "create", *args, "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["key"])


def _made(ws: Path, *scopes: str, name: str) -> str:
    """A new key made in-process (what the CLI calls, without its start-up time)."""
    return create_key(keys_path(ws), scopes, name)[1]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keyed(trained: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
          ) -> tuple[Server, dict[str, str]]:
    """A server on a workspace with one key per scope and one with all three (``"all"``)."""
    ws = copy_workspace(trained, tmp_path_factory.mktemp("security") / "ws")
    keys = {scope: _made(ws, scope, name=f"only-{scope}") for scope in ("ingest", "read", "admin")}
    keys["all"] = _made(ws, "ingest", "read", "admin", name="all")
    return serve(ws, request, "--access-log"), keys


def test_keys_are_stored_hashed_listed_without_secrets_and_refused_when_malformed(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    listed = json.loads(tm(ws, "keys", "list", "--json").stdout)
    assert listed["open"] and listed["keys"] == []
    key = _key(ws, "read", "ingest", name="web")
    assert key.startswith("tmk_") and len(key) == 4 + 9 + 43
    text = (ws / "api-keys.json").read_text()
    secret = key.split("_", 2)[2]
    assert key not in text and secret not in text and "sha256" in text
    assert (ws / "api-keys.json").stat().st_mode & 0o077 == 0  # owner only
    listed = json.loads(tm(ws, "keys", "list", "--json").stdout)
    assert not listed["open"]
    assert [(k["name"], k["scopes"]) for k in listed["keys"]] == [("web", ["ingest", "read"])]
    assert set(listed["keys"][0]) == {"name", "id", "scopes", "created"}
    again = tm(ws, "keys", "create", "--scope", "read", "--name", "web")
    assert again.returncode == 2 and "a key named 'web' exists" in again.stderr
    for scopes, name, message in ((["write"], None, "unknown scope 'write'"), ([], None, "at least one scope"),
                                  (["read"], "no spaces", "name 'no spaces'")):
        with pytest.raises(ValueError, match=message):  # what the CLI reports, as above
            create_key(keys_path(ws), scopes, name)
    assert tm(ws, "keys", "revoke", "web").returncode == 0
    gone = tm(ws, "keys", "revoke", "web")
    assert gone.returncode == 2 and "no key named 'web'" in gone.stderr
    (ws / "api-keys.json").write_text("{not json")
    broken = tm(ws, "serve", "--port", "1")  # refuses to start rather than serve open or closed by surprise
    assert broken.returncode == 2 and "not an API keys file" in broken.stderr


def test_every_v1_route_needs_a_key_with_its_scope(keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    client = server.client
    for scope, method, path, kwargs in ROUTES:
        missing = client.request(method, path, **kwargs)
        assert (missing.status_code, missing.json()["code"]) == (401, "missing_api_key"), path
        assert missing.headers["www-authenticate"].startswith("Bearer") and missing.json()["message"]
        for wrong in ("not-a-key", keys["all"][:-1] + ("A" if keys["all"][-1] != "A" else "B"),
                      "tmk_00000000_" + "x" * 43):
            refused = client.request(method, path, headers=_bearer(wrong), **kwargs)
            assert (refused.status_code, refused.json()["code"]) == (401, "invalid_api_key"), (path, wrong)
        for other in {"ingest", "read", "admin"} - {scope}:
            forbidden = client.request(method, path, headers=_bearer(keys[other]), **kwargs)
            assert (forbidden.status_code, forbidden.json()["code"]) == (403, "insufficient_scope"), path
            assert repr(scope) in forbidden.json()["message"]
        for key in (keys[scope], keys["all"]):
            for headers in (_bearer(key), {"X-API-Key": key}):
                allowed = client.request(method, path, headers=headers, **kwargs)
                assert allowed.status_code in (200, 201), (path, allowed.text)
    bad_n = client.get(f"/v1/users/{USER}/recommendations", params={"n": 0})  # the key is checked first
    assert (bad_n.status_code, bad_n.json()["code"]) == (401, "missing_api_key")
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path  # open: probes, scrapers, documentation
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    for _, method, path, _ in ROUTES:
        template = (path.replace(USER, "{user_id}").replace(TRACK, "{track_id}")
                    .replace("scoped-gone", "{user_id}"))
        operation = spec["paths"][template][method.lower()]
        assert operation["security"] == [{"bearer": []}, {"apiKey": []}] and {"401", "403"} <= set(
            operation["responses"]), path
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_a_key_created_or_revoked_counts_from_the_next_request_and_failures_are_counted(
        keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    client, path = server.client, f"/v1/users/{USER}/recommendations"
    fresh = _key(server.workspace, "read", name="fresh")  # no restart, no reload call
    assert client.get(path, headers=_bearer(fresh)).status_code == 200
    assert tm(server.workspace, "keys", "revoke", "fresh").returncode == 0
    revoked = client.get(path, headers=_bearer(fresh))
    assert (revoked.status_code, revoked.json()["code"]) == (401, "invalid_api_key")
    assert client.get(path).status_code == 401
    assert client.get(path, headers=_bearer(keys["admin"])).status_code == 403
    text = client.get("/metrics").text
    for code in ("missing_api_key", "invalid_api_key", "insufficient_scope"):
        assert f'tastemaker_http_errors_total{{code="{code}"}}' in text, code
    assert 'route="/v1/users/{user_id}/recommendations",status="401"' in text


def test_revoking_every_key_closes_the_server_rather_than_opening_it(
        trained: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    key = _made(ws, "read", name="last")
    server = serve(ws, request)
    path = f"/v1/users/{USER}/recommendations"
    assert server.client.get(path, headers=_bearer(key)).status_code == 200
    assert tm(ws, "keys", "revoke", "last").returncode == 0
    assert server.client.get(path).json()["code"] == "missing_api_key"
    assert server.client.get(path, headers=_bearer(key)).json()["code"] == "invalid_api_key"
    (ws / "api-keys.json").unlink()  # deleting the file is how a workspace is made open again
    assert server.client.get(path).status_code == 200
    assert "API keys required: 1 key(s)" in server.log_path.read_text()


def test_an_open_workspace_says_so_loudly_on_start(trained: Path, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    server = serve(copy_workspace(trained, tmp_path / "ws"), request)
    log = server.log_path.read_text()
    assert "WARNING: no API keys" in log and "every route is open" in log
    assert server.client.get(f"/v1/users/{USER}/recommendations").status_code == 200


def test_request_bodies_and_parameters_are_limited(keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    client = httpx.Client(base_url=server.url, headers=_bearer(keys["all"]), timeout=30)
    json_type = {"content-type": "application/json"}

    def chunked(size: int) -> Any:  # a generator body: sent without Content-Length
        yield b'{"events": ["' + b"x" * size + b'"]}'

    for response in (client.post("/v1/events", content=b" " * ((8 << 20) + 1), headers=json_type),
                     client.post("/v1/events", content=chunked(8 << 20), headers=json_type),
                     client.post("/v1/users", content=b" " * ((64 << 10) + 1), headers=json_type),
                     client.post("/v1/users", content=chunked(64 << 10), headers=json_type)):
        assert (response.status_code, response.json()["code"]) == (413, "body_too_large"), response.request
    too_many = client.post("/v1/events", json={"events": [{"user_id": "u"}] * 10_001})
    assert too_many.json()["code"] == "invalid_body"
    long_id = "u" * 257
    for method, path, kwargs in (
            ("GET", f"/v1/users/{USER}/recommendations", {"params": {"n": 501}}),
            ("GET", f"/v1/users/{long_id}/recommendations", {}),
            ("GET", "/v1/radio", {"params": {"seed": TRACK, "played": [TRACK] * 101}}),
            ("GET", "/v1/radio", {"params": {"seed": TRACK, "skipped": [long_id]}}),
            ("GET", f"/v1/tracks/{TRACK}/similar", {"params": {"user_id": long_id}}),
            ("POST", "/v1/users", {"json": {"user_id": "u", "artists": [long_id]}}),
            ("POST", "/v1/users", {"json": {"user_id": "u", "artists": ["tm:artist:0001"] * 51}})):
        response = client.request(method, path, **kwargs)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_request"), (path, kwargs)
    at_limit = client.get("/v1/radio", params={"seed": TRACK, "played": [TRACK] * 100, "n": 500})
    assert at_limit.status_code == 200
    client.close()


def test_no_user_id_or_key_reaches_the_log(keyed: tuple[Server, dict[str, str]]) -> None:
    """With the access log on, requests naming a listener everywhere a request can — path, query,
    body, good and bad requests — leave neither the id nor a key in the server's output."""
    server, keys = keyed
    client = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["all"]}, timeout=30)
    play = {"user_id": SECRET_USER, "ts": "2024-06-01T10:00:00Z", "type": "play", "item_id": TRACK}
    ingested = IngestOut.model_validate(client.post("/v1/events", json={"events": [
        play, {**play, "type": f"bad-{SECRET_USER}"}, {**play, "ts": 1e300}]}).json())
    assert (ingested.accepted, ingested.quarantined) == (1, 2)
    for picks, status in ((["tm:artist:0001"], 201), ([SECRET_USER], 422)):
        assert client.post("/v1/users", json={"user_id": SECRET_USER, "artists": picks}).status_code == status
    for surface in ("for-you", "discover-weekly", "daily-mix", "home"):
        served = client.get(f"/v1/users/{SECRET_USER}/recommendations", params={"surface": surface})
        assert RecommendationsOut.model_validate(served.json()).user_id == SECRET_USER
    assert client.get(f"/v1/users/{SECRET_USER}/recommendations", params={"n": -1}).status_code == 422
    assert client.get(f"/v1/tracks/{TRACK}/similar", params={"user_id": SECRET_USER}).status_code == 200
    assert client.get(f"/v1/tracks/{SECRET_USER}/similar").status_code == 404
    assert client.get("/v1/radio", params={"seed": TRACK, "user_id": SECRET_USER,
                                           "skipped": SECRET_USER}).status_code == 200
    assert client.get(f"/v1/users/{SECRET_USER}/nothing-here").status_code == 404
    assert client.delete(f"/v1/users/{SECRET_USER}").status_code == 200
    assert client.get(f"/v1/users/{SECRET_USER}/recommendations",
                      headers={"X-API-Key": keys["all"] + "x"}).status_code == 401
    client.close()
    log = server.log_path.read_text()
    assert "GET /v1/users/{user_id}/recommendations 200" in log  # the access log is on and written
    assert SECRET_USER not in log and "7f3e9c1a" not in log
    for key in keys.values():
        assert key not in log and key.split("_", 2)[2] not in log


def test_tracebacks_logged_while_answering_withhold_exception_messages() -> None:
    """The log filter ``tastemaker serve`` installs (in-process: no request makes the server fail)."""
    records = []
    for in_request in (True, False):
        try:
            raise KeyError(SECRET_USER)
        except KeyError:
            record = logging.LogRecord("tastemaker.serving", logging.ERROR, __file__, 1, "failed", (),
                                       sys.exc_info())
        token = IN_REQUEST.set(in_request)
        try:
            assert WithholdRequestData().filter(record)
        finally:
            IN_REQUEST.reset(token)
        records.append(logging.Formatter().format(record))
    during, outside = records
    assert SECRET_USER not in during and "builtins.KeyError" in during and "Traceback" in during
    assert __file__ in during  # the frames are kept: the log still says where
    assert SECRET_USER in outside  # background errors keep their messages (files, versions)
