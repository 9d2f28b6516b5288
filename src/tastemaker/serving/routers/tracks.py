"""``GET /v1/tracks/{track_id}/similar``: tracks like one track."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.items import similar_tracks
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import MAX_ITEMS, SimilarOut

router = APIRouter(prefix="/v1/tracks", tags=["tracks"], responses=ERROR_RESPONSES)


@router.get("/{track_id}/similar", response_model=SimilarOut)
def similar(
    rt: Annotated[Runtime, Depends(runtime)],
    track_id: Annotated[str, Path(min_length=1, max_length=256)],
    n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
) -> ORJSONResponse:
    """The ``n`` tracks closest to ``track_id`` in the personal model's item space (404: unknown track)."""
    served = similar_tracks(rt.models, rt.catalog, track_id, n)
    return ORJSONResponse({"track_id": track_id, "served_by": {"level": served.level, "model": served.model,
                                                               "version": served.version, "cause": None},
                           "items": served.items})
