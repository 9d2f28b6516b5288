"""Every error a client can get, mapped to HTTP in this one place: a status and a machine-readable ``code``.

The body of any 4xx/5xx is ``{"code": ..., "message": ..., "detail": ...}`` (:class:`ErrorOut`):
``code`` is stable and meant for programs, ``message`` for people, ``detail`` lists the offending
fields of a request that did not validate. Internal errors say nothing about their cause: it goes
to the server's log, never to the client.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tastemaker.serving.responses import ORJSONResponse

#: status -> code for the errors the framework raises itself (unknown path, wrong method)
FRAMEWORK_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


class ErrorOut(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    detail: list[dict[str, Any]] | None = None


class UnknownItem(LookupError):
    """The item a request names is not known to the model that would answer it (404 ``unknown_track``)."""


class ModelUnavailable(RuntimeError):
    """The request needs a model that is not loaded and has no fallback (503 ``model_unavailable``)."""


class ApiError(Exception):
    """An error the service answers on purpose: ``status``, a stable ``code`` and a readable ``message``.

    >>> raise ApiError(404, "unknown_track", "no model knows track 'x'")  # doctest: +SKIP
    """

    def __init__(self, status: int, code: str, message: str,
                 detail: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def error_response(status: int, code: str, message: str, detail: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> ORJSONResponse:
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


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into an :class:`ErrorOut` body."""

    async def api_error(_: Request, exc: Exception) -> ORJSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.detail)

    async def unknown(_: Request, exc: Exception) -> ORJSONResponse:
        return error_response(404, "unknown_track", str(exc.args[0]) if exc.args else "unknown track")

    async def unavailable(_: Request, exc: Exception) -> ORJSONResponse:
        return error_response(503, "model_unavailable", str(exc), headers={"Retry-After": "60"})

    async def invalid(_: Request, exc: Exception) -> ORJSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return error_response(422, "invalid_request", "the request does not match the API: see detail",
                              detail)

    async def framework(_: Request, exc: Exception) -> ORJSONResponse:
        assert isinstance(exc, HTTPException)
        code = FRAMEWORK_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def internal(_: Request, exc: Exception) -> ORJSONResponse:
        # the exception goes on to the server, which logs it with its traceback
        return error_response(500, "internal", "internal error; the server log has the cause")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(UnknownItem, unknown)
    app.add_exception_handler(ModelUnavailable, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, framework)
    app.add_exception_handler(Exception, internal)
