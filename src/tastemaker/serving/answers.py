"""A served list as an HTTP answer: ``served_by``, a fresh ``request_id``, and its impressions queued.

Every route that answers with a list goes through :func:`answer`, so every list a listener is
shown is logged the same way (see ``impressions.py``) and every answer names its request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tastemaker.engine.reads import collect
from tastemaker.engine.recommend import Served
from tastemaker.serving.impressions import Shown
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime


def new_request_id() -> str:
    """A random 64-bit request id in hex (names one answer and its impressions)."""
    return uuid.uuid4().hex[:16]


def body(served: Served, request_id: str, /, **fields: Any) -> dict[str, Any]:
    """The JSON body of a list: ``fields`` (what it is for), ``request_id``, ``served_by`` and ``items``."""
    by = {"level": served.level, "model": served.model, "version": served.version, "cause": served.cause,
          "ranker": served.ranker, "variant": served.variant}
    return {**fields, "request_id": request_id, "served_by": by, "items": served.items}


def log_shown(rt: Runtime, served: Served, request_id: str, user_id: str | None, surface: str) -> None:
    """Queue the list's impressions, only for a listener the service knows (with listening, or onboarded):
    a made-up id in a URL must not grow the store. A forgotten listener's are refused by the store."""
    if user_id is not None and known(rt, user_id):
        rt.impressions.record(Shown(request_id, user_id, surface, served.level, served.model, served.version,
                                    served.cause, served.items, datetime.now(UTC), served.ranker, served.variant))


def known(rt: Runtime, user_id: str) -> bool:
    """Whether ``user_id`` has listening in the server's state or a row in the ``users`` table (onboarded)."""
    held = rt.listening.get(user_id)
    if held.heard.height or held.history.height:
        return True
    users = collect(lambda: rt.store.scan("users").filter(pl.col("user_id") == user_id).select(pl.len()))
    return bool(users.item())


def answer(rt: Runtime, served: Served, shown_to: str | None, surface: str, /, **fields: Any) -> ORJSONResponse:
    """The response for ``served`` (``fields`` lead its body), with its impressions queued (when it was
    ``shown_to`` a known listener) and the request id in ``X-Request-ID``."""
    request_id = new_request_id()
    log_shown(rt, served, request_id, shown_to, surface)
    return ORJSONResponse(body(served, request_id, **fields), headers={"X-Request-ID": request_id})
