"""``GET /v1/search``: tracks, artists and shows by name, with their ids."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import SearchOut

router = APIRouter(prefix="/v1", tags=["search"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})

#: most matches one search returns
MAX_MATCHES = 50


@router.get("/search", response_model=SearchOut, dependencies=[requires("read")])
def search(
    rt: Annotated[Runtime, Depends(runtime)],
    q: Annotated[str, Query(min_length=1, max_length=256, description="A name, as a person types it: case, "
                            "accents, punctuation and small typos aside", examples=["bad buny"])],
    kind: Annotated[Literal["track", "artist", "show"] | None, Query(description="Only this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MATCHES)] = 10,
) -> SearchOut:
    """The catalogue items ``q`` matches, best first; exact names first, the most listened among equals."""
    found = rt.snapshot.lookup.search(q, kind, limit)
    return SearchOut.model_validate({"query": q, "kind": kind, "items": [m.as_dict() for m in found]})
