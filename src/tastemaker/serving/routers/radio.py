"""``GET /v1/radio``: the next tracks of a radio from a seed track, steered by the session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.items import radio_queue
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import MAX_ITEMS, RadioOut

router = APIRouter(prefix="/v1", tags=["radio"], responses=ERROR_RESPONSES)


@router.get("/radio", response_model=RadioOut)
def radio(
    rt: Annotated[Runtime, Depends(runtime)],
    seed: Annotated[str, Query(min_length=1, max_length=256, description="The track the radio starts from")],
    n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
    played: Annotated[list[str] | None, Query(description="A session track played through (repeatable)")]
    = None,
    skipped: Annotated[list[str] | None, Query(description="A session track skipped (repeatable)")] = None,
) -> ORJSONResponse:
    """The next ``n`` tracks after ``seed``: skips steer away at once, nothing played comes back."""
    served = radio_queue(rt.models, rt.catalog, seed, played or [], skipped or [], n)
    return ORJSONResponse({"seed": seed, "served_by": {"level": served.level, "model": served.model,
                                                       "version": served.version, "cause": None},
                           "items": served.items})
