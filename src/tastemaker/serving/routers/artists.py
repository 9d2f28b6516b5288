"""``GET /v1/artists/{artist}/similar`` and ``/radio``: artists like one artist, and the artist's radio; the
artist named by id or name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from tastemaker.engine.items import radio_queue, similar_artists_of
from tastemaker.serving.answers import answer
from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.params import Count, Played, ShownTo, Skipped
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import RadioOut, SimilarArtistsOut

router = APIRouter(prefix="/v1/artists", tags=["artists"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})


@router.get("/{artist_id:path}/similar", response_model=SimilarArtistsOut, dependencies=[requires("read")])
def similar(
    rt: Annotated[Runtime, Depends(runtime)],
    artist_id: Annotated[str, Path(min_length=1, max_length=256, description="The artist's id or name",
                                   examples=["tm:artist:000001"])],
    n: Count = 10,
    user_id: ShownTo = None,
) -> ORJSONResponse:
    """The ``n`` artists most like ``artist_id`` by shared listeners (404: unknown artist). A name is taken
    for the artist it names (``note`` says how when it was not exact)."""
    snap = rt.snapshot
    found = snap.lookup.resolve(artist_id, "artist")
    served = similar_artists_of(snap.models, snap.catalog, found.match.id, n)
    return answer(rt, served, user_id, "similar-artists", artist_id=found.match.id, title=found.match.label,
                  note=found.note)


@router.get("/{artist_id:path}/radio", response_model=RadioOut, dependencies=[requires("read")])
def radio(
    rt: Annotated[Runtime, Depends(runtime)],
    artist_id: Annotated[str, Path(min_length=1, max_length=256, description="The artist's id or name",
                                   examples=["tm:artist:000001"])],
    n: Count = 10,
    played: Played = None,
    skipped: Skipped = None,
    user_id: ShownTo = None,
) -> ORJSONResponse:
    """The next ``n`` tracks of the artist's radio: it starts from their most listened tracks and plays one
    of theirs at every fourth place, the rest by artists like them; skips steer away, nothing played comes
    back (404: unknown artist, or one the model knows no track of)."""
    snap = rt.snapshot
    found = snap.lookup.resolve(artist_id, "artist")
    served = radio_queue(snap.models, snap.catalog, found.match.id, played or [], skipped or [], n,
                         snap.lookup.tracks_of(found.match.id))
    return answer(rt, served, user_id, "radio", seed=found.match.id, seed_kind="artist", title=found.match.label,
                  note=found.note)
