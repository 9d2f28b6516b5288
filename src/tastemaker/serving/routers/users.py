"""``GET /v1/users/{user_id}/recommendations``: a surface for a listener, real time, with fallbacks."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from tastemaker.serving.errors import ERROR_RESPONSES
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import MAX_ITEMS, RecommendationsOut

router = APIRouter(prefix="/v1/users", tags=["users"], responses=ERROR_RESPONSES)

Surface = Literal["for-you", "discover-weekly", "daily-mix", "home"]


@router.get("/{user_id}/recommendations", response_model=RecommendationsOut)
def recommendations(
    rt: Annotated[Runtime, Depends(runtime)],
    user_id: Annotated[str, Path(min_length=1, max_length=256)],
    surface: Annotated[Surface, Query(description="for-you: the personal model's picks; discover-weekly: "
                                      "unheard, two per artist; daily-mix: n per mix; home: n per shelf")]
    = "for-you",
    n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
) -> ORJSONResponse:
    """Up to ``n`` items of ``surface`` for ``user_id``, each with its reason.

    Nothing the listener has an event for (as stored right now) is recommended on for-you or
    Discover Weekly. ``served_by.level`` is ``model``, or ``popularity`` when the personal model is
    missing, broken or does not know the listener (a new listener gets the popular list at once).
    """
    served = rt.recommendations.recommend(user_id, surface, n)
    rt.metrics.served.labels(surface, served.level).inc()
    if served.cause is not None:
        rt.metrics.fallbacks.labels(surface, served.cause).inc()
    by = {"level": served.level, "model": served.model, "version": served.version, "cause": served.cause}
    return ORJSONResponse({"user_id": user_id, "surface": surface, "served_by": by, "items": served.items})
