"""Listeners: their recommendations (``GET``), onboarding (``POST /v1/users``), forgetting (``DELETE``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from tastemaker.domain import MAX_USER_ID, USER_ID_PATTERN
from tastemaker.engine.catalog import Catalog
from tastemaker.engine.onboarding import register
from tastemaker.engine.recommend import Served
from tastemaker.serving.answers import answer, body, log_shown, new_request_id
from tastemaker.serving.auth import AUTH_RESPONSES, requires
from tastemaker.serving.errors import ERROR_RESPONSES, ApiError
from tastemaker.serving.forget import forget_listener
from tastemaker.serving.reload import Reloader, reloader
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.runtime import Runtime, runtime
from tastemaker.serving.schemas import MAX_ITEMS, ForgottenOut, OnboardingIn, OnboardingOut, RecommendationsOut

router = APIRouter(prefix="/v1/users", tags=["users"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})

Surface = Literal["for-you", "discover-weekly", "daily-mix", "home"]
#: surfaces answered on the event loop itself (the array path of ranking/online.py)
INLINE = frozenset({"for-you"})
UserId = Annotated[str, Path(min_length=1, max_length=MAX_USER_ID, pattern=USER_ID_PATTERN)]


@router.get("/{user_id}/recommendations", response_model=RecommendationsOut,
            dependencies=[requires("read")])
async def recommendations(
    rt: Annotated[Runtime, Depends(runtime)],
    user_id: UserId,
    surface: Annotated[Surface, Query(description="for-you: the personal model's picks; discover-weekly: "
                                      "unheard, two per artist; daily-mix: n per mix; home: n per shelf")]
    = "for-you",
    n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
) -> ORJSONResponse:
    """Up to ``n`` items of ``surface`` for ``user_id``, each with its reason.

    Nothing the listener has an event for (as stored right now) is recommended on for-you or
    Discover Weekly. ``served_by.level`` is ``model``; or ``precomputed`` (their batch Discover
    Weekly list) or ``popularity`` (led by their onboarding picks) when the personal model is
    missing, broken or does not know the listener. The list is logged as impressions.
    """
    service = rt.snapshot.recommendations
    if surface in INLINE:  # about a millisecond on arrays: a thread hop would cost more than it saves
        served = service.recommend(user_id, surface, n)
    else:  # mixes and home take tens of milliseconds: off the event loop
        served = await run_in_threadpool(service.recommend, user_id, surface, n)
    _count(rt, surface, served)
    return answer(rt, served, user_id, surface, user_id=user_id, surface=surface)


@router.post("", response_model=OnboardingOut, status_code=201, dependencies=[requires("ingest")])
def onboard(rt: Annotated[Runtime, Depends(runtime)], listener: OnboardingIn) -> ORJSONResponse:
    """A new listener with the artists they picked: stored in the users table, first list at once.

    Until the personal model is trained on their listening, their lists lead with the picked
    artists' most popular tracks, each "because you picked A". 422 ``unknown_artist`` names
    picks the catalog does not know.
    """
    snap = rt.snapshot
    artists = resolve_picks(snap.catalog, listener.artists)
    request_id = new_request_id()
    created = register(rt.store, listener.user_id, artists, listener.country, request_id)
    served = snap.recommendations.recommend(listener.user_id, "for-you", listener.n)
    _count(rt, "for-you", served)
    log_shown(rt, served, request_id, listener.user_id, "onboarding")
    first = body(served, request_id, user_id=listener.user_id, surface="for-you")
    return ORJSONResponse({"user_id": listener.user_id, "created": created, "artists": artists,
                           "country": listener.country, "recommendations": first},
                          status_code=201, headers={"X-Request-ID": request_id})


@router.delete("/{user_id}", response_model=ForgottenOut, dependencies=[requires("admin")])
async def forget(rt: Annotated[Runtime, Depends(runtime)], reload: Annotated[Reloader, Depends(reloader)],
                 user_id: UserId) -> ORJSONResponse:
    """Forget ``user_id`` everywhere: events, profile, quarantined records, impressions, precomputed lists,
    model versions not in use that learnt from them.

    Answered once all of it is gone from disk. Their next lists are the cold-start ones; the
    loaded model's factors for them are not used, and the next training cannot see them (its
    registration deletes the version in use). From now on every event naming them is refused
    (``forgotten`` in the ingest answer) until ``tastemaker unforget``.
    """
    done = await run_in_threadpool(forget_listener, rt, reload, user_id)
    return ORJSONResponse({"user_id": done.user_id, "events": done.events, "profile_rows": done.profile_rows,
                           "edges": done.edges, "quarantined": done.quarantined,
                           "precomputed_rows": done.precomputed_rows,
                           "buffered_impressions": done.buffered_impressions,
                           "store_version": done.store_version,
                           "model_versions_removed": done.model_versions_removed,
                           "model_versions_in_use": done.model_versions_in_use})


def _count(rt: Runtime, surface: str, served: Served) -> None:
    rt.metrics.served.labels(surface, served.level).inc()
    if served.cause is not None:
        rt.metrics.fallbacks.labels(surface, served.cause).inc()


def resolve_picks(catalog: Catalog, picks: Sequence[str]) -> list[str]:
    """Artist ids for ``picks`` (ids, or names matched case-insensitively), in order, without repeats.

    Raises :class:`ApiError` 422 ``unknown_artist`` naming the picks the catalog does not know.
    With no catalog at all, the picks are kept as given: there is nothing to check them against.
    """
    if not catalog.artist_names:
        return list(dict.fromkeys(picks))
    by_name = {name.casefold(): artist for artist, name in catalog.artist_names.items()}
    found = [p if p in catalog.artist_names else by_name.get(p.casefold()) for p in picks]
    unknown = [p for p, f in zip(picks, found, strict=True) if f is None]
    if unknown:
        raise ApiError(422, "unknown_artist", f"the catalog has no artist {unknown[0]!r} (give artist ids "
                       "or names from the tracks table)", [{"loc": ["body", "artists"], "msg": f"unknown: {p}",
                                                            "type": "unknown_artist"} for p in unknown])
    return list(dict.fromkeys(f for f in found if f is not None))
