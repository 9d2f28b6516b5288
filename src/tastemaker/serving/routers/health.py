"""``/healthz`` (the process is up), ``/readyz`` (it can answer) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.metrics import CONTENT_TYPE_LATEST
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)

#: names this server process in ``/readyz`` (tells the workers of one server apart) without its pid
WORKER = uuid.uuid4().hex[:12]


@router.get("/healthz", response_model=HealthOut)
def healthz() -> ORJSONResponse:
    """The process is up and answering."""
    return ORJSONResponse({"status": "ok"})


@router.get("/readyz", response_model=ReadyOut,
            responses={503: {"model": ReadyOut, "description": "Not ready"}})
def readyz(rt: Annotated[Runtime, Depends(runtime)]) -> ORJSONResponse:
    """Ready when the store opens and at least the fallback model is loaded (503 otherwise, same body)."""
    try:
        version: int | None = rt.store.version()
    except Exception:  # a store that cannot be read is the one thing readiness exists to report
        version = None
    snap = rt.snapshot
    ready = version is not None and snap.models.fallback.loaded
    models = {"personal": snap.models.personal.describe(), "fallback": snap.models.fallback.describe(),
              "precomputed": snap.precomputed.describe()}
    if snap.models.ranker is not None:
        models["ranker"] = snap.models.ranker.describe()
    # the store's kind, not its location: readiness is for load balancers, not a map of the disk
    behind = rt.follower.behind if rt.follower is not None else None
    body = {"ready": ready, "store": rt.store.url.partition("://")[0] or "parquet", "store_version": version,
            "models": models, "process": WORKER, "behind": behind}
    return ORJSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}})
def metrics(rt: Annotated[Runtime, Depends(runtime)]) -> Response:
    """Request counts and latency by route and status, fallback levels, events, reloads, impressions."""
    return Response(rt.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
