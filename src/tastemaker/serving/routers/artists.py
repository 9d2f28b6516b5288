"""``GET /v1/artists/{artist_id}/similar``: artists like one artist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from tastemaker.engine.items import similar_artists_of
from tastemaker.serving.answers import answer
from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import MAX_ITEMS, SimilarArtistsOut

router = APIRouter(prefix="/v1/artists", tags=["artists"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})


@router.get("/{artist_id}/similar", response_model=SimilarArtistsOut, dependencies=[requires("read")])
def similar(
    rt: Annotated[Runtime, Depends(runtime)],
    artist_id: Annotated[str, Path(min_length=1, max_length=256, examples=["tm:artist:000001"])],
    n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
    user_id: Annotated[str | None, Query(min_length=1, max_length=256,
                                         description="The listener shown the list: logs it as impressions")]
    = None,
) -> ORJSONResponse:
    """The ``n`` artists closest to ``artist_id`` in the personal model's item space (404: unknown artist)."""
    snap = rt.snapshot
    served = similar_artists_of(snap.models, snap.catalog, artist_id, n)
    return answer(rt, served, user_id, "similar-artists", artist_id=artist_id)
