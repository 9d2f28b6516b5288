"""What a running server holds: the store, the catalog, the loaded models, the services and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from tastemaker.serving.catalog import Catalog
from tastemaker.serving.metrics import Metrics
from tastemaker.serving.models import ModelSet
from tastemaker.serving.recommend import RecommendationService


@dataclass(frozen=True, slots=True)
class Runtime:
    """Built once at startup (see :func:`tastemaker.serving.app.create_app`), shared by every request."""

    store: Any
    catalog: Catalog
    models: ModelSet
    recommendations: RecommendationService
    metrics: Metrics

    def publish_models(self) -> None:
        """Set the ``tastemaker_model_loaded`` gauge from the loaded models."""
        for slot in (self.models.personal, self.models.fallback):
            gauge = self.metrics.model_info.labels(slot.role, slot.name, slot.version or "")
            gauge.set(1.0 if slot.loaded else 0.0)


def runtime(request: Request) -> Runtime:
    """The runtime of the app answering ``request`` (a FastAPI dependency)."""
    state: Runtime = request.app.state.runtime
    return state
