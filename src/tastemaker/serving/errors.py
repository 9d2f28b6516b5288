"""Every error a client can get, mapped to HTTP in this one place: a status and a machine-readable ``code``.

The body of any 4xx/5xx is ``{"code": ..., "message": ..., "detail": ...}`` (:class:`ErrorOut`):
``code`` is stable and meant for programs, ``message`` for people, ``detail`` lists the offending
fields of a request that did not validate. Every error answer is counted by its code
(``tastemaker_http_errors_total``). Internal errors say nothing about their cause: it goes to the
server's log (its frames and exception type, see ``logs.py``), never to the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tastemaker.engine.errors import ModelUnavailable, UnknownItem
from tastemaker.serving.logs import IN_REQUEST
from tastemaker.serving.metrics import Metrics, route_of
from tastemaker.serving.responses import ORJSONResponse

log = logging.getLogger("tastemaker.serving")

#: status -> code for the errors the framework raises itself (unknown path, wrong method, body too large)
FRAMEWORK_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "body_too_large"}


class ErrorOut(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    detail: list[dict[str, Any]] | None = None


class ApiError(Exception):
    """An error the service answers on purpose: ``status``, a stable ``code`` and a readable ``message``.

    >>> raise ApiError(404, "unknown_track", "no model knows track 'x'")  # doctest: +SKIP
    """

    def __init__(self, status: int, code: str, message: str, detail: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail
        self.headers = headers


def error_response(status: int, code: str, message: str, detail: list[dict[str, Any]] | None = None,
                   headers: Mapping[str, str] | None = None) -> ORJSONResponse:
    """The JSON response of an error."""
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return ORJSONResponse(body, status_code=status, headers=headers)


#: what every router declares for its error statuses, so the OpenAPI document matches the bodies sent
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in ((400, "Malformed request (for example a body that is not JSON)"),
                         (404, "Unknown resource"), (413, "Request body too large"),
                         (415, "Unsupported media type"), (422, "Request of the wrong shape"),
                         (503, "Not ready, or the model this needs is not loaded"))
}


def install(app: FastAPI, metrics: Metrics) -> None:
    """Register the handlers that turn every error into an :class:`ErrorOut` body counted in ``metrics``.

    Exceptions no handler knows (bugs) are answered by :class:`ErrorBoundary`.
    """

    def answer(status: int, code: str, message: str, detail: list[dict[str, Any]] | None = None,
               headers: Mapping[str, str] | None = None) -> ORJSONResponse:
        metrics.errors.labels(code).inc()
        return error_response(status, code, message, detail, headers)

    async def api_error(_: Request, exc: Exception) -> ORJSONResponse:
        assert isinstance(exc, ApiError)
        return answer(exc.status, exc.code, exc.message, exc.detail, exc.headers)

    async def unknown(_: Request, exc: Exception) -> ORJSONResponse:
        return answer(404, getattr(exc, "code", "unknown_track"), str(exc.args[0]) if exc.args else "unknown item")

    async def unavailable(_: Request, exc: Exception) -> ORJSONResponse:
        return answer(503, "model_unavailable", str(exc), headers={"Retry-After": "60"})

    async def invalid(_: Request, exc: Exception) -> ORJSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return answer(422, "invalid_request", "the request does not match the API: see detail", detail)

    async def framework(_: Request, exc: Exception) -> ORJSONResponse:
        assert isinstance(exc, HTTPException)
        code = FRAMEWORK_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return answer(exc.status_code, code, str(exc.detail), headers=exc.headers)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(UnknownItem, unknown)
    app.add_exception_handler(ModelUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, framework)


class ErrorBoundary:
    """The app's outermost layer: marks the request for the log filter (``logs.IN_REQUEST``) and turns
    an exception nothing handled (a bug, or a panic in a Rust extension) into 500 ``internal``.

    The exception is logged here, while the request is marked, so the filter ``tastemaker serve``
    installs keeps its frames and type and withholds its message (which can quote the request);
    it stops here, because uvicorn would log it again with the message.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = IN_REQUEST.set(True)
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # a panic in a Rust extension (polars) is not an Exception
            log.error("%s while answering %s %s", type(exc).__name__, scope.get("method"), route_of(scope),
                      exc_info=exc)
            if not started:  # else the client sees the connection close mid-answer
                self.metrics.errors.labels("internal").inc()
                await error_response(500, "internal", "internal error; the server log has the cause")(
                    scope, receive, send)
        finally:
            IN_REQUEST.reset(token)
