"""Request body limits: 8 MiB on ``POST /v1/events``, 64 KiB on every other route.

:class:`BodyLimit` wraps each request's ``receive``: a declared ``Content-Length`` over the
route's limit is refused at the first read, a body sent without one (chunked) as soon as the
bytes read pass it, so no route ever holds more than its limit in memory. The refusal is an
HTTP 413 raised where the body is read, so it gets the error body of every other error
(``body_too_large``, see ``errors.py``). The other limits are declared where the fields are:
at most 10,000 events a batch, ``n`` at most 500, ids at most 256 characters, 50 onboarding
picks, 100 session tracks on the radio (``schemas.py`` and the routers).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: most bytes of a request body on a route not listed in the limits
DEFAULT_BODY_BYTES = 64 << 10


class BodyTooLarge(HTTPException):
    """A request body over its route's limit (413 ``body_too_large``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"a request body here may have at most {limit} bytes")


class BodyLimit:
    """Refuse request bodies larger than ``limits[path]`` (``default`` for other paths)."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int], default: int = DEFAULT_BODY_BYTES) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        too_long = declared is not None and (not declared.isdigit() or int(declared) > limit)
        size = 0

        async def bounded() -> Message:
            nonlocal size
            if too_long:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded, send)
