"""JSON responses rendered by orjson: numpy scalars and arrays included, no ``jsonable_encoder`` pass.

Handlers return these directly, so the response models declared on the routes document the
bodies (OpenAPI) without FastAPI validating them a second time on every request; the
integration tests validate real responses against those models instead.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class ORJSONResponse(JSONResponse):
    """``application/json`` rendered with orjson (``OPT_SERIALIZE_NUMPY``, non-string keys allowed).

    A ``JSONResponse`` subclass, so FastAPI documents the route's response model as its body.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
