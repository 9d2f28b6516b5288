"""The operator's dashboard at ``/ui``: pages rendered on the server from what the workspace already holds.

| page | what | from |
|---|---|---|
| ``/ui`` | overview: requests, errors, latency, fallbacks, events, the models in use, listening, alerts | this server's metrics, the latest monitoring run, the alert log |
| ``/ui/drift`` | each drift signal's effect over the monitoring runs, with its bound; each surface's online quality | ``monitoring/history.jsonl`` |
| ``/ui/models`` | every version of every model, the gate's verdicts, the loop's audit log; make a version live (admin) | the registry, ``loop/audit.jsonl`` |
| ``/ui/experiments`` | the experiments and their reports with plots | ``<workspace>/experiments/*`` |
| ``/ui/data`` | tables, segments, events by type and by import, quarantined records by reason | the store |
| ``/ui/listeners`` | one listener: top artists and each surface with its reasons (nothing is logged as shown) | the serving path itself |

The dashboard is behind the same keys as the API. A browser signs in once at ``/ui/login`` with a key; the
key is kept in an HttpOnly, SameSite=Strict cookie scoped to ``/ui`` and checked on every page like a
header. A workspace without keys is open, as the API is. Pages need the ``read`` scope; making a version
live needs ``admin``, and the form's POST must come from the dashboard's own origin.

Charts are inline SVG drawn in Python (``charts.py``) and the stylesheet is packaged: the dashboard works
without internet, and has no script at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from tastemaker.serving.dashboard.charts import bar_chart, line_chart
from tastemaker.serving.errors import ApiError

HERE = Path(__file__).parent
COOKIE = "tastemaker_key"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)
#: the pages, in the navigation's order
NAV = (("overview", "/ui", "Overview"), ("drift", "/ui/drift", "Drift"), ("models", "/ui/models", "Models"),
       ("experiments", "/ui/experiments", "Experiments"), ("data", "/ui/data", "Data"),
       ("listeners", "/ui/listeners", "Listeners"))
#: what an experiment folder may serve to the dashboard
EXPERIMENT_FILES = {".html": "text/html", ".png": "image/png", ".md": "text/markdown", ".json": "application/json"}


class SignIn(Exception):
    """The page needs a key the request did not bring (or brought one that is not valid)."""


def _presented(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE)


def _allow(request: Request, scope: str) -> Any:
    """The key of the request if it may use ``scope`` (None on an open workspace); :class:`SignIn` on 401, the
    API's 403 as it is."""
    try:
        return request.app.state.keyring.authorize(scope, _presented(request))
    except ApiError as exc:
        if exc.status == 401:
            raise SignIn(exc.message) from None
        raise


def _page(request: Request, name: str, active: str, **context: Any) -> HTMLResponse:
    try:
        key = _allow(request, "read")
    except SignIn:
        return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)  # type: ignore[return-value]
    return templates.TemplateResponse(request, name, {
        "nav": NAV, "active": active, "key_name": key.name if key is not None else None,
        "open_workspace": key is None, "can_admin": key is None or "admin" in key.scopes, **context})


def _workspace(request: Request) -> Path:
    return request.app.state.workspace


# ---------------------------------------------------------------------------------------------- sign in


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui", error: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"nav": (), "active": "", "next": _safe(next),
                                                               "error": error, "key_name": None})


@router.post("/login")
async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key, target = form.get("key", [""])[0].strip(), _safe(form.get("next", ["/ui"])[0])
    try:
        request.app.state.keyring.authorize("read", key)
    except ApiError as exc:
        return templates.TemplateResponse(request, "login.html", {"nav": (), "active": "", "next": target,
                                                                  "error": exc.message, "key_name": None},
                                          status_code=401)
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/ui",
                      secure=request.url.scheme == "https")
    return answer


@router.post("/logout")
def logout() -> Response:
    answer = RedirectResponse("/ui/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/ui")
    return answer


def _safe(target: str) -> str:
    """Only a dashboard path is a place to go after signing in (no open redirect)."""
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/ui") else "/ui"


# ---------------------------------------------------------------------------------------------- pages


@router.get("", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    from tastemaker.monitoring.report import alerts

    rt = request.app.state.runtime
    raw = rt.metrics.exposition()
    server = _server_numbers(raw.decode() if isinstance(raw, bytes) else raw)
    folder = _workspace(request) / "monitoring"
    report = json.loads((folder / "report.json").read_text()) if (folder / "report.json").exists() else None
    listening = {d["signal"]: d for d in report["drift"]} if report else {}
    models = rt.snapshot.models
    slots = [("personal", models.personal), ("fallback", models.fallback)]
    if models.ranker is not None:
        slots.append(("ranker", models.ranker))
    return _page(request, "overview.html", "overview", server=server, report=report, listening=listening,
                 alerts=list(reversed(alerts(folder)))[:20],
                 models=[{"role": role, "name": s.name, "version": s.version, "loaded": s.loaded} for role, s in slots],
                 latency=bar_chart([(f"p{q}", v) for q, v in server["latency_ms"].items() if v is not None],
                                   title="latency of /v1 requests since start", unit=" ms"))


@router.get("/drift", response_class=HTMLResponse)
def drift(request: Request) -> HTMLResponse:
    from tastemaker.monitoring.drift import SIGNALS
    from tastemaker.monitoring.report import history

    runs = history(_workspace(request) / "monitoring")
    stamp = [r["at"][:16].replace("T", " ") for r in runs]
    charts = []
    for signal, (kind, what) in SIGNALS.items():
        points = [(t, r["drift"].get(signal, {}).get("effect")) for t, r in zip(stamp, runs, strict=True)]
        bound = next((r["drift"][signal]["bound"] for r in reversed(runs) if signal in r["drift"]), None)
        drifted = sum(bool(r["drift"].get(signal, {}).get("drifted")) for r in runs)
        charts.append({"signal": signal, "what": what, "kind": kind, "drifted": drifted,
                       "svg": line_chart({signal: points}, title=f"{signal}: {what}", bound=bound)})
    surfaces = sorted({s for r in runs for s in r.get("quality", {})})
    quality = line_chart({s: [(t, r.get("quality", {}).get(s, {}).get("play_rate")) for t, r in
                              zip(stamp, runs, strict=True)] for s in surfaces},
                         title="play rate per surface (plays within a day of an impression / impressions)")
    latest = runs[-1] if runs else None
    return _page(request, "drift.html", "drift", runs=len(runs), charts=charts, quality=quality, latest=latest)


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, done: str | None = None) -> HTMLResponse:
    from tastemaker.candidates.registry import catalogue
    from tastemaker.loop.cycle import audit_log

    ws = _workspace(request)
    rows = []
    for meta in reversed(catalogue(ws / "models")):
        gate = meta.get("gate") or {}
        rows.append({"name": meta["name"], "version": meta["version"], "latest": meta["latest"],
                     "created": meta["created_at"], "code": meta.get("code"), "pairs": meta.get("data", {}).get("pairs"),
                     "until": meta.get("data", {}).get("until"), "gate": gate.get("action"),
                     "reasons": gate.get("reasons", []),
                     "rolled_back": (meta.get("rolled_back") or {}).get("reasons", [])})
    return _page(request, "models.html", "models", versions=rows, audit=list(reversed(audit_log(ws)))[:50],
                 done=done)


@router.post("/models/{name}/{version}/live")
async def make_live(request: Request, name: str, version: str) -> Response:
    """Point the registry's ``LATEST`` of ``name`` at ``version`` (a promotion or a rollback): admin only."""
    from tastemaker.candidates.registry import live, promote
    from tastemaker.loop.cycle import Decision, record

    try:
        key = _allow(request, "admin")
    except SignIn:
        return RedirectResponse("/ui/login?next=/ui/models", status_code=303)
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.url.netloc:
        raise ApiError(403, "cross_origin", "a dashboard form must be sent from the dashboard itself")
    ws = _workspace(request)
    before = live(ws / "models", name)
    try:
        promote(ws / "models", name, version)
    except ValueError as exc:
        raise ApiError(404, "unknown_version", str(exc)) from None
    from datetime import UTC, datetime

    who = key.name if key is not None else "an open dashboard"
    record(ws, Decision(datetime.now(UTC).isoformat(timespec="seconds"), name, "made_live", version, before,
                         [f"made live from the dashboard by {who}"]))
    return RedirectResponse(f"/ui/models?done={quote(f'{name} {version} is live (was {before})')}",
                            status_code=303)


@router.get("/experiments", response_class=HTMLResponse)
def experiments(request: Request) -> HTMLResponse:
    root = _workspace(request) / "experiments"
    rows = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        result = folder / "result.json"
        if not result.exists():
            continue
        try:
            data = json.loads(result.read_text())
        except ValueError:
            continue
        rows.append({"name": folder.name, "report": (folder / "report.html").exists(),
                     "plots": sorted(p.name for p in folder.glob("*.png")),
                     "summary": {k: data[k] for k in ("policy", "arms", "days", "listeners") if k in data}})
    return _page(request, "experiments.html", "experiments", experiments=rows)


@router.get("/experiments/{name}/{file}")
def experiment_file(request: Request, name: str, file: str) -> Response:
    try:
        _allow(request, "read")
    except SignIn:
        return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)
    root = (_workspace(request) / "experiments").resolve()
    path = (root / name / file).resolve()
    if path.parent.parent != root or path.suffix not in EXPERIMENT_FILES or not path.is_file():
        raise ApiError(404, "not_found", f"no file {file!r} in experiment {name!r}")
    return FileResponse(path, media_type=EXPERIMENT_FILES[path.suffix])


@router.get("/data", response_class=HTMLResponse)
def data(request: Request) -> HTMLResponse:
    rt = request.app.state.runtime
    store = rt.store
    tables = [{"table": t, "rows": store.count(t),
               "segments": len(store.segments(t)) if hasattr(store, "segments") else None}
              for t in store.table_names()]
    events = store.events()
    by_type = events.group_by("type").agg(pl.len().alias("rows")).sort("rows", descending=True).collect()
    imports = (events.filter(pl.col("type") != "impression")
               .group_by("source", "source_file")
               .agg(pl.len().alias("rows"), pl.col("ingested_at").max().alias("last"))
               .sort("last", descending=True, nulls_last=True).head(30).collect())
    return _page(request, "data.html", "data", tables=tables, by_type=by_type.to_dicts(),
                 imports=imports.to_dicts(), quarantine=_quarantine(store),
                 types=bar_chart([(r["type"], r["rows"]) for r in by_type.to_dicts()], title="events by type"))


def _quarantine(store: Any, most: int = 200_000) -> list[dict[str, Any]]:
    """Quarantined records per file and reason (counts only: the records hold listeners' data)."""
    folder = getattr(store, "root", None)
    folder = Path(folder) / "quarantine" if folder is not None else None
    counts: dict[tuple[str, str], int] = {}
    for path in sorted(folder.glob("*.jsonl")) if folder is not None and folder.is_dir() else []:
        with open(path, "rb") as handle:
            for i, line in enumerate(handle):
                if i >= most:
                    break
                try:
                    reason = str(json.loads(line).get("reason") or "no reason recorded")
                except ValueError:
                    reason = "unreadable line"
                counts[(path.stem, reason)] = counts.get((path.stem, reason), 0) + 1
    return [{"file": f, "reason": r, "records": n} for (f, r), n in sorted(counts.items(), key=lambda x: -x[1])]


@router.get("/listeners", response_class=HTMLResponse)
def listeners(request: Request, user: str | None = None) -> HTMLResponse:
    import re

    from tastemaker.domain import USER_ID_PATTERN

    if not user:
        return _page(request, "listener.html", "listeners", user=None)
    if not re.match(USER_ID_PATTERN, user):
        return _page(request, "listener.html", "listeners", user=user, error="not a listener id")
    rt = request.app.state.runtime
    try:
        _allow(request, "read")
    except SignIn:
        return RedirectResponse(f"/ui/login?next={quote('/ui/listeners')}", status_code=303)  # type: ignore[return-value]
    snap = rt.snapshot
    held = rt.listening.get(user)
    artists = _top_artists(held.history, snap.catalog)
    surfaces = []
    for surface in ("for-you", "discover-weekly", "daily-mix", "home"):
        try:
            served = snap.recommendations.recommend(user, surface, 10)  # not logged: an operator is not the listener
        except Exception as exc:  # a surface that cannot answer says why, the page still shows the others
            surfaces.append({"surface": surface, "error": str(exc), "items": []})
            continue
        surfaces.append({"surface": surface, "level": served.level, "cause": served.cause,
                         "model": f"{served.model} {served.version or ''}".strip(), "items": served.items[:30]})
    return _page(request, "listener.html", "listeners", user=user, known=held.history.height > 0,
                 listens=held.heard.height, artists=artists, surfaces=surfaces,
                 chart=bar_chart([(a["name"], a["weight"]) for a in artists], title="top artists (decayed weight)"))


def _top_artists(history: pl.DataFrame, catalog: Any, top: int = 10) -> list[dict[str, Any]]:
    if history.is_empty():
        return []
    weight = "weight" if "weight" in history.columns else None
    rows = history.select("item_id", pl.col(weight).cast(pl.Float64) if weight else pl.lit(1.0).alias("weight"))
    rows = rows.with_columns(pl.col("item_id").cast(pl.String).replace_strict(catalog.artists, default=None)
                             .alias("artist_id")).drop_nulls("artist_id")
    best = rows.group_by("artist_id").agg(pl.col("weight").sum()).sort("weight", descending=True).head(top)
    return [{"id": r["artist_id"], "name": catalog.artist_names.get(r["artist_id"], r["artist_id"]),
             "weight": round(float(r["weight"]), 2)} for r in best.iter_rows(named=True)]


def _server_numbers(text: str) -> dict[str, Any]:
    """Requests, errors, latency percentiles, fallbacks and events from this server's Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    from tastemaker.loop.metrics import HISTOGRAM, p99_between

    requests = errors = 0.0
    buckets: dict[str, float] = {}
    fallbacks: dict[str, float] = {}
    events: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "tastemaker_http_requests_total" and s.labels.get("route", "").startswith("/v1"):
                requests += s.value
                errors += s.value if s.labels.get("status", "").startswith("5") else 0.0
            elif family.name == HISTOGRAM and s.name.endswith("_bucket") and s.labels.get("route", "").startswith("/v1"):
                buckets[s.labels["le"]] = buckets.get(s.labels["le"], 0.0) + s.value
            elif s.name == "tastemaker_fallbacks_total":
                label = f"{s.labels.get('surface')}: {s.labels.get('cause')}"
                fallbacks[label] = fallbacks.get(label, 0.0) + s.value
            elif s.name == "tastemaker_events_total":
                events[s.labels.get("outcome", "")] = events.get(s.labels.get("outcome", ""), 0.0) + s.value
    latency = {q: p99_between({}, buckets, q / 100, least=1) for q in (50, 90, 99)}
    return {"requests": int(requests), "errors": int(errors), "latency_ms": latency,
            "fallbacks": {k: int(v) for k, v in sorted(fallbacks.items(), key=lambda x: -x[1])},
            "events": {k: int(v) for k, v in events.items()}}
