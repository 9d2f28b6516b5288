"""What a running server holds: the store, the metrics, the impression log, every listener's
listening (:class:`~tastemaker.engine.state.ListeningState`, which outlives hot-swaps), and the
current snapshot.

The snapshot (:class:`~tastemaker.engine.snapshot.Snapshot`: catalog, models, precomputed lists
and the service over them) is immutable and replaced whole: a reload builds a new one off to the
side, then assigns one attribute. A request takes the snapshot once (``rt.snapshot``) and answers
from it, so it sees the old set or the new one, never half of each, and a swap never waits for
requests nor they for it.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Request

from tastemaker.engine.models import Slot
from tastemaker.engine.snapshot import Snapshot
from tastemaker.serving.impressions import ImpressionLog
from tastemaker.serving.metrics import Metrics


class Runtime:
    """Built once at startup (see :func:`tastemaker.serving.app.create_app`), shared by every request."""

    def __init__(self, store: Any, metrics: Metrics, impressions: ImpressionLog, snapshot: Snapshot) -> None:
        self.store = store
        #: the listening every snapshot's service reads (the same object across swaps)
        self.listening = snapshot.recommendations.state
        #: what keeps it in step with writes by other processes (None: a store without a manifest)
        self.follower = snapshot.recommendations.follower
        self.metrics = metrics
        self.impressions = impressions
        self.snapshot = snapshot
        #: held while a new snapshot is built and swapped in, so two reloads never race
        self.swap_lock = threading.Lock()
        self._publish(snapshot, 1.0)

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Make ``snapshot`` the one requests answer from (one assignment); returns the old one."""
        old, self.snapshot = self.snapshot, snapshot
        self._publish(old, 0.0)
        self._publish(snapshot, 1.0)
        return old

    def _publish(self, snapshot: Snapshot, loaded: float) -> None:
        """Set the ``tastemaker_model_loaded`` gauge of ``snapshot``'s models."""
        slots: tuple[Slot, ...] = (snapshot.models.personal, snapshot.models.fallback)
        for slot in slots:
            gauge = self.metrics.model_info.labels(slot.role, slot.name, slot.version or "")
            gauge.set(loaded if slot.loaded else 0.0)


async def runtime(request: Request) -> Runtime:
    """The runtime of the app answering ``request`` (a FastAPI dependency; async: a plain function
    would be called through the thread pool on every request)."""
    state: Runtime = request.app.state.runtime
    return state
