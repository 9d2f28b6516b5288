"""Who may call what: each ``/v1`` route declares the scope it needs with :func:`requires`.

A request presents its key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Without
one: 401 ``missing_api_key``; with one the workspace does not hold: 401 ``invalid_api_key``;
with a key lacking the route's scope: 403 ``insufficient_scope``; with a key over its rate
(``serve --rate-limit``, requests a second per key): 429 ``rate_limited`` with ``Retry-After``. A workspace without a keys
file is open (every request passes) — for local use; ``tastemaker serve`` warns about it.

The keys file is looked at (one ``stat``) on every request that needs a scope and read again
when it changed, so a key created or revoked with ``tastemaker keys`` counts from the next
request on, without a restart. A file that cannot be read keeps the keys read last (or, when
there are none, lets no request through) and is reported in the log.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tastemaker.serving.errors import ApiError, ErrorOut
from tastemaker.serving.keys import SCOPES, ApiKey, Scope, read_keys, split_key
from tastemaker.serving.limits import RateLimiter

log = logging.getLogger("tastemaker.serving")

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="`Authorization: Bearer <key>`, a key made by `tastemaker keys create`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                       description="The same key in the `X-API-Key` header")
#: compared against when a key names no stored record, so that answer takes as long as a wrong secret
_NOBODY = ApiKey("00000000", "", frozenset(), "", "00" * 16, "0" * 64)

#: what a route with a scope declares besides its own errors (the OpenAPI document)
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API key (`missing_api_key`) or an unknown one "
          "(`invalid_api_key`)"},
    403: {"model": ErrorOut, "description": "The key lacks the scope of this route (`insufficient_scope`)"},
    429: {"model": ErrorOut, "description": "The key is over its requests a second (`rate_limited`); "
          "`Retry-After` says when to try again"},
}


class Keyring:
    """The keys a server accepts, re-read when the keys file changes.

    >>> Keyring(Path("ws/api-keys.json")).authorize("read", "tmk_...")  # doctest: +SKIP
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._keys: dict[str, ApiKey] | None = None  # None: no keys file, the server is open
        self._refresh()

    def authorize(self, scope: Scope, presented: str | None) -> ApiKey | None:
        """The key ``presented`` if it may use ``scope`` (``None`` on an open server); else raise 401/403."""
        self._refresh()
        if self._keys is None:
            return None
        if not presented:
            raise ApiError(401, "missing_api_key", "this route needs an API key: send 'Authorization: Bearer "
                           "<key>' or 'X-API-Key: <key>' (`tastemaker keys create` makes one)",
                           headers={"WWW-Authenticate": "Bearer"})
        parts = split_key(presented)
        key = self._keys.get(parts[0]) if parts else None
        if not (key or _NOBODY).matches(parts[1] if parts else "") or key is None:
            raise ApiError(401, "invalid_api_key", "the API key is not known to this server (revoked, or "
                           "made for another workspace)",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if scope not in key.scopes:
            raise ApiError(403, "insufficient_scope", f"this route needs a key with the {scope!r} scope; key "
                           f"{key.name!r} has {', '.join(sorted(key.scopes))}")
        return key

    def _refresh(self) -> None:
        """Read the keys file again when its identity (inode, size, mtime) changed since the last look."""
        try:
            st = os.stat(self.path)
            seen: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        if seen == self._seen:
            return
        self._seen = seen
        try:
            keys = read_keys(self.path)
        except (ValueError, OSError) as exc:
            log.error("API keys not re-read, %s: %s", "keeping the last ones" if self._keys else
                      "refusing every request that needs a key", exc)
            if self._keys is None:
                self._keys = {}
            return
        self._keys = None if keys is None else {k.id: k for k in keys}
        if keys is not None:
            log.info("API keys: %d loaded", len(keys))


def requires(scope: Scope) -> Any:
    """The dependency a route lists in ``dependencies=[...]`` to need a key with ``scope``.

    >>> @router.get("/x", dependencies=[requires("read")])  # doctest: +SKIP
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; scopes are {', '.join(SCOPES)}")

    async def check(request: Request,
                    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
                    api_key: Annotated[str | None, Security(_header)]) -> None:
        keyring: Keyring = request.app.state.keyring
        key = keyring.authorize(scope, bearer.credentials if bearer is not None else api_key)
        limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
        if key is not None and limiter is not None:
            wait = limiter.take(key.id)
            if wait > 0:
                raise ApiError(429, "rate_limited", f"key {key.name!r} is over its {limiter.rate:g} requests a "
                               f"second; retry after {math.ceil(wait)} s",
                               headers={"Retry-After": str(math.ceil(wait))})

    check.__name__ = f"requires_{scope}"
    return Depends(check)
