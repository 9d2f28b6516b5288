"""``POST /v1/events``: a batch of listening events, stored durably and idempotently before the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from tastemaker.engine.ingest import IngestResult, ingest_events
from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES, ApiError
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import MAX_EVENTS, Envelope, IngestOut

router = APIRouter(prefix="/v1", tags=["events"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})

BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/EventBatch"}}}}}


@router.post("/events", response_model=IngestOut, openapi_extra=BODY, dependencies=[requires("ingest")])
async def post_events(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> ORJSONResponse:
    """Store a batch of events (``{"events": [...]}``, at most 10,000).

    Each record is validated, identified and stored the way ``tastemaker import`` does it: a record
    already stored (a re-send) counts as a duplicate, an invalid one is quarantined with its reason
    while the rest of the batch is stored. A 2xx answer means everything it counts is on disk.
    """
    records = _records(await _body(request))
    request_id = uuid.uuid4().hex[:16]
    result = await run_in_threadpool(_ingest, rt, records, request_id)
    rt.metrics.events.labels("accepted").inc(result.accepted)
    rt.metrics.events.labels("duplicate").inc(result.duplicates)
    rt.metrics.events.labels("quarantined").inc(result.quarantined)
    rt.metrics.events.labels("forgotten").inc(result.forgotten)
    return ORJSONResponse({"received": result.received, "accepted": result.accepted,
                           "duplicates": result.duplicates, "quarantined": result.quarantined,
                           "forgotten": result.forgotten,
                           "rejected": [{"index": i, "reason": r} for i, r in result.rejected]},
                          headers={"X-Request-ID": request_id})


def _ingest(rt: Runtime, records: list[object], request_id: str) -> IngestResult:
    """Store ``records``, then add what was stored to the in-memory listening (blocking)."""
    mark = rt.listening.mark()
    result = ingest_events(rt.store, records, request_id)
    if rt.follower is not None:  # its own rows, each once (follow.py); others' writes: the background loop
        rt.follower.apply_own(result.rows)
    elif result.duplicates:  # which rows the store already had is not known: read those listeners back
        rt.listening.reload(rt.store, result.rows["user_id"].unique().to_list())
    elif result.accepted:
        rt.listening.add(result.rows, since=mark)
    return result


async def _body(request: Request) -> bytes:
    """The request body, refused before it is read when it is not JSON (too large: ``limits.BodyLimit``)."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", f"send the batch as application/json, not {kind!r}")
    return await request.body()


def _records(body: bytes) -> list[object]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    try:
        return Envelope.model_validate(parsed).events
    except ValidationError as exc:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        shape = f'the body must be {{"events": [...]}} with 1 to {MAX_EVENTS} events'
        raise ApiError(422, "invalid_body", shape, detail) from None
