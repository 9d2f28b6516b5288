"""``GET /v1/radio``: the next tracks of a radio from a seed track (by id or name), steered by the session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tastemaker.engine.items import radio_queue
from tastemaker.serving.answers import answer
from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.params import Count, Played, ShownTo, Skipped
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import RadioOut

router = APIRouter(prefix="/v1", tags=["radio"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})


@router.get("/radio", response_model=RadioOut, dependencies=[requires("read")])
def radio(
    rt: Annotated[Runtime, Depends(runtime)],
    seed: Annotated[str, Query(min_length=1, max_length=256,
                               description="The track the radio starts from: its id or its name "
                                           "(\"Back In Black\", \"AC/DC - Back In Black\"); an artist's "
                                           "radio is GET /v1/artists/{artist}/radio",
                               examples=["tm:track:000001"])],
    n: Count = 10,
    played: Played = None,
    skipped: Skipped = None,
    user_id: ShownTo = None,
) -> ORJSONResponse:
    """The next ``n`` tracks after ``seed``: skips steer away at once, nothing played comes back. A name is
    taken for the track it names (``note`` says how when it was not exact; 404 naming the closest matches
    when it names none, or several equally well)."""
    snap = rt.snapshot
    found = snap.lookup.resolve(seed, "track")
    served = radio_queue(snap.models, snap.catalog, found.match.id, played or [], skipped or [], n)
    return answer(rt, served, user_id, "radio", seed=found.match.id, seed_kind="track", title=found.match.label,
                  note=found.note)
