"""``GET /v1/tracks/{track_id}/similar``: tracks like one track."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from tastemaker.engine.items import similar_tracks
from tastemaker.serving.answers import answer
from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import MAX_ITEMS, SimilarOut

router = APIRouter(prefix="/v1/tracks", tags=["tracks"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})


@router.get("/{track_id}/similar", response_model=SimilarOut, dependencies=[requires("read")])
def similar(
    rt: Annotated[Runtime, Depends(runtime)],
    track_id: Annotated[str, Path(min_length=1, max_length=256, examples=["tm:track:000001"])],
    n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
    user_id: Annotated[str | None, Query(min_length=1, max_length=256,
                                         description="The listener shown the list: logs it as impressions")]
    = None,
) -> ORJSONResponse:
    """The ``n`` tracks closest to ``track_id`` in the personal model's item space (404: unknown track)."""
    snap = rt.snapshot
    served = similar_tracks(snap.models, snap.catalog, track_id, n)
    return answer(rt, served, user_id, "similar", track_id=track_id)
