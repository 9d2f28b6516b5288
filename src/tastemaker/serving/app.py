"""The HTTP service: ``create_app(settings)`` builds it, ``tastemaker serve`` runs it with uvicorn.

At startup (the app's lifespan) the workspace store is opened, the catalog read, the models
loaded from the registry and the precomputed lists read; requests then share them. Two
background tasks run beside the requests: one swaps in newly trained model versions
(``reload.py``), one writes served lists to the store as impressions (``impressions.py``).
Every ``/v1`` route needs an API key with its scope once the workspace has keys (``auth.py``);
request bodies are limited (``limits.py``); logs carry no personal data (``logs.py``).
See ``docs/serving.md`` for the endpoints.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from fastapi.openapi.utils import get_openapi

import tastemaker
from tastemaker.candidates.ann import EXACT_BELOW
from tastemaker.engine.follow import StoreFollower
from tastemaker.engine.precomputed import PARQUET, PRECOMPUTED_DIR
from tastemaker.engine.recommend import RankerExperiment
from tastemaker.engine.snapshot import Sources
from tastemaker.engine.state import ListeningState
from tastemaker.serving import dashboard, errors, heap
from tastemaker.serving.auth import Keyring
from tastemaker.serving.impressions import ImpressionLog
from tastemaker.serving.keys import keys_path
from tastemaker.serving.limits import BodyLimit, RateLimiter
from tastemaker.serving.metrics import Metrics, MetricsMiddleware
from tastemaker.serving.reload import Reloader
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.routers import admin, artists, events, health, radio, search, tracks, users
from tastemaker.serving.runtime import Runtime
from tastemaker.serving.schemas import MAX_BODY_BYTES, EventBatch
from tastemaker.settings import Settings
from tastemaker.store import open_store


log = logging.getLogger("tastemaker.serving")

#: the events' small segments that trigger a compaction (checked every ``compact_s`` seconds)
COMPACT_AT = 32
#: requests a second an API key may make by default (``serve --rate-limit``)
DEFAULT_RATE = 1000.0


def create_app(settings: Settings, *, personal: str = "als", fallback: str = "popularity",
               reload_s: float = 5.0, impressions_flush_s: float = 2.0, access_log: bool = False,
               ann_above: int = EXACT_BELOW, explore: float = 0.0,
               experiment: dict[str, Any] | None = None, rate_limit: float = DEFAULT_RATE,
               compact_s: float = 30.0) -> FastAPI:
    """The FastAPI app serving the workspace of ``settings``.

    ``personal``: the registry name of the personal model (one with item vectors serves every
    surface; others serve *for-you* and *Discover Weekly*); ``fallback``: the popularity model
    answering when the personal one cannot; ``reload_s``: how often the registry is checked for
    a new version to swap in; ``impressions_flush_s``: how often served lists are written to the
    store as impressions; ``access_log``: log a line per request (route template, status, time, request
    id); ``ann_above``: catalogs of the personal model with at least this many items are searched
    through an HNSW graph, smaller ones exactly (``docs/retrieval.md``); ``explore``: the share of
    for-you slots filled at random from the ranked candidates, with each item's propensity logged;
    ``rate_limit``: requests a second each API key may make (a burst of twice that; 0: no limit);
    ``compact_s``: how often the store's small event segments are counted, and merged past
    :data:`COMPACT_AT`;
    ``experiment``: ``{"name": ..., "arms": {"model": 1, "ranker": 1}}``, an A/B test of the for-you
    order whose arm is logged with every list it decides (``served_by.variant``, impressions). The precomputed lists are read from ``<workspace>/playlists/discover-weekly/playlists.parquet``
    when it exists; the API keys from ``<workspace>/api-keys.json`` (none: every route is open).

    >>> uvicorn.run(create_app(Settings(workspace=Path("ws"))))  # doctest: +SKIP
    """
    if not 0.0 <= explore < 1.0:
        raise ValueError(f"explore must be within [0, 1), got {explore}")
    if reload_s <= 0 or impressions_flush_s <= 0:
        raise ValueError(f"reload_s and impressions_flush_s must be positive, got {reload_s}, "
                         f"{impressions_flush_s}")
    heap.tune()  # before the server's threads: fewer arenas, big temporaries unmapped when freed
    metrics = Metrics()
    sources = Sources(settings.models_dir, personal, fallback,
                      settings.workspace / PRECOMPUTED_DIR / PARQUET, ann_above=ann_above, explore=explore,
                      experiment=RankerExperiment.of(experiment["name"], experiment["arms"]) if experiment else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.store)
        impressions = ImpressionLog(store, metrics, impressions_flush_s)
        seen = sources.key()  # before loading: a version trained meanwhile is picked up by the first check
        follower = None  # one scan; requests never scan the store, the follower reads only new segments
        if StoreFollower.followable(store):
            state, follower = await asyncio.to_thread(StoreFollower.load, store)
        else:
            state = await asyncio.to_thread(ListeningState.load, store)
        impressions.on_stored = state.add_shown  # what this server showed counts for the no-repeat policy
        rt = Runtime(store, metrics, impressions, sources.build(store, state, follower=follower))
        app.state.runtime, app.state.reloader = rt, Reloader(rt, store, sources, seen)
        heap.settle()  # out of the collector's walks; the load's temporaries back to the system
        tasks = [asyncio.create_task(app.state.reloader.watch(reload_s)),
                 asyncio.create_task(impressions.run())]
        if follower is not None:  # what other processes store is absorbed here, in bounded steps
            tasks.append(asyncio.create_task(follower.run()))
        if hasattr(store, "compact"):  # small segments merged before they pile up
            tasks.append(asyncio.create_task(compact_loop(store, compact_s)))
        tasks.append(asyncio.create_task(heap.give_back_every()))  # freed memory back to the system
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(impressions.flush)  # a clean stop loses no impression

    # /docs and /redoc load their JavaScript and CSS from the installed package, never from a CDN
    app = FastAPIOffline(title="tastemaker", version=tastemaker.__version__, lifespan=lifespan,
                         default_response_class=ORJSONResponse,
                         description="Listening events in; recommendations, similar tracks and radio out.")
    app.state.keyring = Keyring(keys_path(settings.workspace))
    app.state.workspace = settings.workspace  # the dashboard reads its monitoring, registry and experiments
    app.state.limiter = RateLimiter(rate_limit) if rate_limit > 0 else None  # per key; 0: none
    for module in (health, events, users, tracks, artists, radio, search, admin):
        app.include_router(module.router)
    app.include_router(dashboard.router)  # /ui, behind the same keys (serving/dashboard/pages.py)
    app.mount("/ui/static", StaticFiles(directory=dashboard.STATIC), name="ui-static")
    errors.install(app, metrics)
    # the last added is the outermost: the boundary sees everything, the metrics see every status
    app.add_middleware(BodyLimit, limits={"/v1/events": MAX_BODY_BYTES})
    app.add_middleware(MetricsMiddleware, metrics=metrics, access_log=access_log)
    app.add_middleware(errors.ErrorBoundary, metrics=metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


#: the environment variable a worker process reads its ``create_app`` options from (``serve --workers``)
SERVE_OPTIONS = "TASTEMAKER_SERVE_OPTIONS"


async def compact_loop(store: Any, every_s: float, small: int = COMPACT_AT) -> None:
    """Every ``every_s`` seconds, merge the events' small segments once there are ``small`` of them
    (each ingest request and impression flush adds one), in a worker thread; under ``--workers N``
    the store's write lock makes the workers take turns."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if store.small_segments("events") >= small:
                done = await asyncio.to_thread(store.compact, "events")
                log.info("compacted events: %d segments -> %d", done.before, done.after)
        except Exception as exc:  # a failed compaction loses nothing (crash-safe): logged, tried again later
            log.warning("compaction failed, retrying later: %s", exc)


def from_environment() -> FastAPI:
    """The app of one worker of ``tastemaker serve --workers N``: options and workspace from the environment."""
    import json

    options = json.loads(os.environ[SERVE_OPTIONS])
    settings = Settings(workspace=Path(options.pop("workspace")), store_url=options.pop("store_url"))
    return create_app(settings, **options)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the event batch schema that ``POST /v1/events`` checks record by record."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        batch = EventBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(batch.pop("$defs", {}))
        components["EventBatch"] = batch
        app.openapi_schema = schema
    return app.openapi_schema
