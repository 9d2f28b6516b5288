"""Prometheus metrics of one app: requests, errors, latency, fallback levels, ingest, reloads, impressions.

Each app owns its registry (several apps in one process, as in tests, do not share counters).
Under ``tastemaker serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set) every worker writes its
values to that folder and ``/metrics`` adds up all workers' (prometheus_client's multiprocess mode).
Labels are route templates (``/v1/users/{user_id}/recommendations``), never raw paths: a user id
in a label would be personal data and an unbounded series count.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tastemaker.serving.logs import ACCESS

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "MetricsMiddleware", "route_of"]

access = logging.getLogger(ACCESS)

#: the methods counted by name; any other is counted as "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: latency buckets in seconds, dense under the 50 ms budget
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    """The counters the service updates, in their own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        if not multiprocess():
            ProcessCollector(registry=r)  # one process's CPU and memory: meaningless summed over workers
        self.requests = Counter("tastemaker_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=r)
        self.errors = Counter("tastemaker_http_errors", "Error answers by their code (missing_api_key, "
                              "invalid_api_key, insufficient_scope, invalid_request, internal, ...)",
                              ["code"], registry=r)
        self.latency = Histogram("tastemaker_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=BUCKETS, registry=r)
        self.served = Counter("tastemaker_recommendations_served",
                              "Lists served, by surface and fallback level", ["surface", "level"], registry=r)
        self.fallbacks = Counter("tastemaker_fallbacks",
                                 "Requests the personal model could not answer, by cause",
                                 ["surface", "cause"], registry=r)
        self.events = Counter("tastemaker_events", "Events received over HTTP, by outcome "
                              "(accepted, duplicate, quarantined, forgotten)", ["outcome"], registry=r)
        self.model_info = Gauge("tastemaker_model_loaded", "1 when the model of a role is loaded, else 0",
                                ["role", "model", "version"], registry=r, multiprocess_mode="max")
        self.reloads = Counter("tastemaker_model_reloads", "Model reloads, by outcome (swapped: a new set "
                               "answers; kept: a new version failed to load, the old one still answers)",
                               ["outcome"], registry=r)
        self.impressions = Counter("tastemaker_impressions", "Served items logged as impressions, by outcome "
                                   "(stored, dropped)", ["outcome"], registry=r)
        self.impression_flush = Histogram("tastemaker_impression_flush_seconds",
                                          "Time to write one batch of impressions to the store", registry=r)

    def exposition(self) -> bytes:
        """The text format ``/metrics`` answers with (every worker's values added up under ``--workers``)."""
        if multiprocess():
            from prometheus_client import multiprocess as mp

            merged = CollectorRegistry()
            mp.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)


def multiprocess() -> bool:
    """Whether metrics are shared between worker processes (``PROMETHEUS_MULTIPROC_DIR`` is set)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def route_of(scope: Scope) -> str:
    """The template of the route that answered (``/v1/users/{user_id}``), ``unmatched`` when none did."""
    return getattr(scope.get("route"), "path", None) or "unmatched"


class MetricsMiddleware:
    """Count and time every HTTP request by its route template and status; with ``access_log``, also log
    one line per request (route template, status, milliseconds, request id: no raw path, no client)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, request_id = 500, "-"

        async def record(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if self.access_log:
                    request_id = next((v.decode() for k, v in message.get("headers", ())
                                       if k.lower() == b"x-request-id"), "-")
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            template = route_of(scope)  # the router sets scope["route"] when a route matched
            method = scope.get("method", "")
            method = method if method in METHODS else "other"  # a label per made-up method would grow forever
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            if self.access_log:
                access.info("%s %s %d %.1fms %s", method, template, status, elapsed * 1000, request_id)
