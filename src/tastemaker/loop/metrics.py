"""The server's latency as the loop sees it: its ``/metrics`` histogram, scraped, and a p99 between two scrapes."""

from __future__ import annotations

import math

HISTOGRAM = "tastemaker_http_request_duration_seconds"
#: fewer requests than this between two scrapes give no p99 (None): one slow request is not a regression
MIN_REQUESTS = 50


def scrape(url: str, timeout: float = 10.0) -> dict[str, float]:
    """The cumulative request counts per latency bucket (upper bound in seconds, as text: ``"0.05"``,
    ``"+Inf"``) of every ``/v1`` route of the server at ``url``, all workers together."""
    import httpx

    return buckets(httpx.get(url.rstrip("/") + "/metrics", timeout=timeout).text)


def buckets(text: str) -> dict[str, float]:
    """The cumulative ``/v1`` request counts per latency bucket in a ``/metrics`` page's ``text``."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != HISTOGRAM:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("route", "").startswith("/v1"):
                le = sample.labels["le"]
                counts[le] = counts.get(le, 0.0) + sample.value
    return counts


def p99_between(then: dict[str, float], now: dict[str, float], q: float = 0.99,
                least: int = MIN_REQUESTS) -> float | None:
    """The ``q`` quantile, in milliseconds, of the requests answered between two scrapes (linear within a
    bucket, as Prometheus's ``histogram_quantile``); None with fewer than ``least`` requests."""
    bounds = sorted(now, key=lambda le: math.inf if le == "+Inf" else float(le))
    counts = [now[le] - then.get(le, 0.0) for le in bounds]
    total = counts[-1] if counts else 0.0
    if total < max(least, 1):
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for le, cum in zip(bounds, counts, strict=True):
        upper = math.inf if le == "+Inf" else float(le)
        if cum >= rank:
            if math.isinf(upper):
                return lower * 1000  # past the last finite bucket: its bound is all that is known
            share = (rank - below) / (cum - below) if cum > below else 1.0
            return (lower + (upper - lower) * share) * 1000
        lower, below = upper, cum
    return lower * 1000
