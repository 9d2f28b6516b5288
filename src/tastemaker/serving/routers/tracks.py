"""``GET /v1/tracks/{track}/similar``: tracks like one track, named by id or name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from tastemaker.engine.items import similar_tracks
from tastemaker.serving.answers import answer
from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.params import Count, ShownTo
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import SimilarOut

router = APIRouter(prefix="/v1/tracks", tags=["tracks"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})


@router.get("/{track_id:path}/similar", response_model=SimilarOut, dependencies=[requires("read")])
def similar(
    rt: Annotated[Runtime, Depends(runtime)],
    track_id: Annotated[str, Path(min_length=1, max_length=256, description="The track's id or name "
                                  "(\"Back In Black\", \"AC/DC - Back In Black\")",
                                  examples=["tm:track:000001"])],
    n: Count = 10,
    user_id: ShownTo = None,
) -> ORJSONResponse:
    """The ``n`` tracks most like ``track_id`` (404: unknown track; an empty list: a track nothing is like yet).
    A name is taken for the track it names (``note`` says how when it was not exact)."""
    snap = rt.snapshot
    found = snap.lookup.resolve(track_id, "track")
    served = similar_tracks(snap.models, snap.catalog, found.match.id, n)
    return answer(rt, served, user_id, "similar", track_id=found.match.id, title=found.match.label,
                  note=found.note)
