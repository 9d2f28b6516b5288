"""Request limits: the head (request line and headers) at most 64 KiB, the body at most 8 MiB on
``POST /v1/events`` and 64 KiB on every other route, and a rate per API key.

:class:`BoundedHttpTools` counts a request's head as it arrives and refuses one over its bound
(431) before the HTTP parser holds it. :class:`RateLimiter` is a token bucket per key (429 with
``Retry-After``; ``serve --rate-limit``).

:class:`BodyLimit` wraps each request's ``receive``: a declared ``Content-Length`` over the
route's limit is refused at the first read, a body sent without one (chunked) as soon as the
bytes read pass it, so no route ever holds more than its limit in memory. The refusal is an
HTTP 413 raised where the body is read, so it gets the error body of every other error
(``body_too_large``, see ``errors.py``). The other limits are declared where the fields are:
at most 10,000 events a batch, ``n`` at most 500, ids at most 256 characters, 50 onboarding
picks, 100 session tracks on the radio (``schemas.py`` and the routers).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("tastemaker.serving")

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


#: most bytes of a request's line and headers together (a 50 MB header is refused, not buffered)
MAX_HEAD_BYTES = 64 << 10


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head: the request line and headers may
    take at most :data:`MAX_HEAD_BYTES`. Bytes are counted as they arrive, before the parser holds
    them, and a head over the bound is answered ``431`` (``headers_too_large``) and the connection
    closed, so a client cannot make the server buffer a header of any size. The body has its own
    limits (:class:`BodyLimit`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head: int | None = 0  # head bytes of the request being read; None while its body is read
        self._tail = b""  # the last bytes seen, for a head's end split across two reads

    def data_received(self, data: bytes) -> None:
        if self._head is not None:
            if self._head < 0:  # refused: the connection is closing
                return
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")  # a body sent with its head is not the head's
            self._head += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = seen[-3:]
            if self._head > MAX_HEAD_BYTES:
                self._refuse()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head, self._tail = 0, b""
        super().on_message_complete()

    def _refuse(self) -> None:
        self._head = -1
        log.warning("a request head over %d bytes was refused (431)", MAX_HEAD_BYTES)
        body = orjson.dumps({"code": "headers_too_large",
                             "message": f"the request line and headers may have at most {MAX_HEAD_BYTES} bytes"})
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()


class RateLimiter:
    """Requests per second per API key: a token bucket of ``burst`` tokens refilled at ``rate`` a second.

    A key over its rate gets ``429 rate_limited`` with ``Retry-After`` (whole seconds until a token
    is back). Each server process keeps its own buckets, so under ``serve --workers N`` a key may
    make up to N times the rate. An open server (no keys: loopback only) is not limited.

    >>> RateLimiter(rate=100).take("key-id", now=0.0)
    0.0
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token of ``key``; returns 0 when it had one, else the seconds until it will."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, when = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - when) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
