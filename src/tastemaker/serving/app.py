"""The HTTP service: ``create_app(settings)`` builds it, ``tastemaker serve`` runs it with uvicorn.

At startup (the app's lifespan) the workspace store is opened, the catalog read and the models
loaded from the registry; requests then share them. See ``docs/serving.md`` for the endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import tastemaker
from tastemaker.serving import errors
from tastemaker.serving.catalog import Catalog
from tastemaker.serving.metrics import Metrics, MetricsMiddleware
from tastemaker.serving.models import ModelSet
from tastemaker.serving.recommend import RecommendationService
from tastemaker.serving.responses import ORJSONResponse
from tastemaker.serving.routers import events, health, radio, tracks, users
from tastemaker.serving.runtime import Runtime
from tastemaker.serving.schemas import EventBatch
from tastemaker.settings import Settings
from tastemaker.store import open_store


def create_app(settings: Settings, *, personal: str = "als", fallback: str = "popularity") -> FastAPI:
    """The FastAPI app serving the workspace of ``settings``.

    ``personal``: the registry name of the personal model (one with item vectors serves every
    surface; others serve *for-you* and *Discover Weekly*); ``fallback``: the popularity model
    answering when the personal one cannot.

    >>> import uvicorn; uvicorn.run(create_app(Settings(workspace=Path("ws"))))  # doctest: +SKIP
    """
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.store)
        catalog = Catalog.from_store(store)
        models = ModelSet.load(settings.models_dir, store, catalog, personal, fallback)
        service = RecommendationService(store, models, catalog)
        app.state.runtime = Runtime(store, catalog, models, service, metrics)
        app.state.runtime.publish_models()
        yield

    app = FastAPI(title="tastemaker", version=tastemaker.__version__, lifespan=lifespan,
                  default_response_class=ORJSONResponse,
                  description="Listening events in; recommendations, similar tracks and radio out.")
    for module in (health, events, users, tracks, radio):
        app.include_router(module.router)
    errors.install(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


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
