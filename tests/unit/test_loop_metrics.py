"""The loop reads the server's latency from its /metrics text: buckets of /v1 routes, a p99 between scrapes."""

from __future__ import annotations

import pytest

from tastemaker.loop.metrics import buckets, p99_between
from tastemaker.serving.metrics import Metrics


def test_the_p99_between_two_scrapes_is_of_the_requests_answered_between_them() -> None:
    metrics = Metrics()
    for _ in range(300):
        metrics.latency.labels("GET", "/v1/users/{user_id}/recommendations").observe(0.004)
        metrics.latency.labels("GET", "/healthz").observe(2.0)  # not a /v1 route: not the product's latency
    then = buckets(metrics.exposition().decode())
    assert then["+Inf"] == 300
    for i in range(200):
        metrics.latency.labels("GET", "/v1/radio/{item_id}").observe(0.6 if i % 10 == 0 else 0.004)
    now = buckets(metrics.exposition().decode())
    assert now["+Inf"] == 500
    since = {k: v - then.get(k, 0) for k, v in now.items()}
    assert p99_between(then, now) == pytest.approx(p99_between({}, since))
    assert 250 < p99_between(then, now) <= 1000  # one in ten of those 200 took 600 ms
    assert p99_between({}, then) < 10
