"""Impressions: every list the server answers with, logged to the event store for off-policy evaluation.

A served list becomes one ``impression`` event per item in the store's ``events`` table:

| What was served | events column |
|---|---|
| the request id (also ``request_id`` in the response and ``X-Request-ID``) | ``session_id`` |
| the listener | ``user_id`` |
| when it was served | ``ts`` |
| the item, and its kind (track, playlist card) | ``item_id``, ``item_kind`` |
| its position in the list, from 1 | ``position`` |
| its score (null when the level has none) | ``value`` |
| the surface (for-you, discover-weekly, daily-mix, home, similar, radio, onboarding) | ``surface`` |
| the model and version that chose the list, and the ranker that ordered it (``als@v0002+ranker@v0001``) | ``source_file`` |
| the level that answered (model, precomputed, popularity) | ``reason_start`` |
| why the personal model did not answer, when it did not | ``reason_end`` |
| the Daily Mix or home shelf the item is on | ``tag`` |
| the probability the policy had of showing the item in that position (for-you; null elsewhere) | ``propensity`` |
| the experiment and arm that decided the list (``ranker-ab:ranker``; an exposure), null outside one | ``variant`` |

``source`` is ``serving``; ``row_id`` is a hash of the request id and the position, so a flush
retried after an error stores nothing twice. For-you is deterministic (propensity 1) unless the
server explores (``serve --explore 0.1``: epsilon-greedy slots over the 200 ranked candidates,
each item's propensity logged), which is what off-policy evaluation of another policy needs
(``tastemaker.experiments.ope.from_impressions``).

Logging must not slow the answer down: a request only appends its list to an in-memory buffer;
a background task turns the buffer into rows and appends them to the store every
``flush_s`` seconds (and once more at shutdown). So impressions are **not** durable on
acknowledge as ingested events are: a crash (``kill -9``, power loss) loses up to ``flush_s``
seconds of them, a clean stop loses none.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tastemaker.ingest.identity import row_ids
from tastemaker.serving.metrics import Metrics
from tastemaker.store import conform

log = logging.getLogger("tastemaker.serving")

SOURCE = "serving"
#: most rows held in memory; beyond it (the store failing for a long time) the oldest are dropped
MAX_BUFFERED_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class Shown:
    """One served list, as a request hands it over: cheap to make, turned into rows at flush time."""

    request_id: str
    user_id: str
    surface: str
    level: str
    model: str
    version: str | None
    cause: str | None
    items: Sequence[dict[str, Any]]
    ts: datetime
    ranker: str | None = None
    variant: str | None = None


class ImpressionLog:
    """A buffer of served lists, flushed to the store in the background.

    >>> log = ImpressionLog(store, metrics, flush_s=2.0)  # doctest: +SKIP
    >>> log.record(Shown("r1", "u1", "for-you", "model", "als", "v0001", None, items, now))  # doctest: +SKIP
    >>> log.flush()  # doctest: +SKIP
    """

    def __init__(self, store: Any, metrics: Metrics, flush_s: float = 2.0,
                 on_stored: Callable[[pl.DataFrame], None] | None = None) -> None:
        """``on_stored``: called with the rows of each flush once they are stored (the server counts
        them as shown in its listening state, :meth:`~tastemaker.engine.state.ListeningState.add_shown`)."""
        if flush_s <= 0:
            raise ValueError(f"flush_s must be positive, got {flush_s}")
        self.store = store
        self.metrics = metrics
        self.flush_s = flush_s
        self.on_stored = on_stored
        self._buffer: list[Shown] = []
        self._rows = 0
        self._buffer_lock = threading.Lock()
        self.writing = threading.Lock()  # held while rows go to the store; forgetting a listener takes it too

    def record(self, shown: Shown) -> None:
        """Queue a served list (called on the request path: an append under a lock, nothing more)."""
        if not shown.items:
            return
        with self._buffer_lock:
            self._buffer.append(shown)
            self._rows += len(shown.items)
            while self._rows > MAX_BUFFERED_ROWS and len(self._buffer) > 1:
                dropped = self._buffer.pop(0)
                self._rows -= len(dropped.items)
                self.metrics.impressions.labels("dropped").inc(len(dropped.items))

    def drop_user(self, user_id: str) -> int:
        """Remove ``user_id``'s queued lists (forgetting them); returns the items removed."""
        with self._buffer_lock:
            mine = [s for s in self._buffer if s.user_id == user_id]
            self._buffer = [s for s in self._buffer if s.user_id != user_id]
            removed = sum(len(s.items) for s in mine)
            self._rows -= removed
        return removed

    def flush(self) -> int:
        """Append every queued list to the store as impression events; returns the rows written.

        On a store error the lists go back to the front of the queue for the next flush.
        """
        with self.writing:
            with self._buffer_lock:
                taken, self._buffer, rows = self._buffer, [], self._rows
                self._rows = 0
            if not taken:
                return 0
            frame = impression_rows(taken)
            try:
                written = self.store.append({"events": frame})["events"].accepted
            except Exception as exc:
                log.error("impressions not written (%d rows kept for the next flush): %s", rows, exc)
                with self._buffer_lock:
                    self._buffer[:0] = taken
                    self._rows += rows
                return 0
            if self.on_stored is not None:
                try:
                    self.on_stored(frame)
                except Exception as exc:  # stored already: only the no-repeat count misses them until a restart
                    log.warning("served lists stored but not counted as shown: %s", exc)
        self.metrics.impressions.labels("stored").inc(written)
        return int(written)

    async def run(self) -> None:
        """Flush every ``flush_s`` seconds until cancelled (the app's lifespan runs this as a task)."""
        while True:
            await asyncio.sleep(self.flush_s)
            started = time.perf_counter()
            await asyncio.to_thread(self.flush)
            self.metrics.impression_flush.observe(time.perf_counter() - started)


def impression_rows(lists: Sequence[Shown]) -> pl.DataFrame:
    """The ``events`` rows of served lists: one ``impression`` per item (mapping in the module docstring)."""
    per_item: dict[str, list[Any]] = {c: [] for c in ("session_id", "user_id", "ts", "surface", "source_file",
                                                      "reason_start", "reason_end", "variant")}
    items: list[dict[str, Any]] = []
    for shown in lists:
        count = len(shown.items)
        items.extend(shown.items)
        chose = f"{shown.model}@{shown.version}" + (f"+{shown.ranker}" if shown.ranker else "")
        for column, value in (("session_id", shown.request_id), ("user_id", shown.user_id), ("ts", shown.ts),
                              ("surface", shown.surface), ("source_file", chose),
                              ("reason_start", shown.level), ("reason_end", shown.cause),
                              ("variant", shown.variant)):
            per_item[column].extend([value] * count)
    frame = pl.DataFrame({
        **per_item,
        "item_id": [i["item_id"] for i in items],
        "item_kind": [i.get("kind") or "track" for i in items],
        "position": [i["position"] for i in items],
        "value": [i.get("score") for i in items],
        "tag": [i.get("group") for i in items],
        "propensity": [i.get("propensity") for i in items],
    }, schema_overrides={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64, "reason_end": pl.String,
                         "tag": pl.String, "propensity": pl.Float64, "variant": pl.String})
    now = datetime.now(UTC)
    frame = frame.with_columns(pl.lit("impression").alias("type"), pl.lit(1).alias("count"),
                               pl.lit(SOURCE).alias("source"), pl.lit(now).alias("ingested_at"))
    return conform("events", frame).with_columns(row_ids(frame, ["session_id", "position"]))
