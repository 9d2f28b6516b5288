"""Hot-swap: a newly trained (or rolled back) model version is served without a restart or a dropped request.

Every ``interval`` seconds the server reads the registry's ``LATEST`` of both roles (two small
files) and the batch file's modification time; ``POST /v1/admin/models/reload`` does the same
check at once. When something changed, a new :class:`~tastemaker.engine.snapshot.Snapshot` is
built off to the side in a worker thread — catalog re-read, models loaded, item space and radio
derived — while requests go on answering from the old one; then one assignment swaps it in.
A version that fails to load is not swapped in: the old model keeps answering, ``/readyz``
shows the error, and it is not tried again until ``LATEST`` changes (or a forced reload).
``tastemaker train als`` and ``tastemaker models rollback als v0001`` both just move ``LATEST``
(atomically, after the version's files are complete), so both are picked up the same way.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from tastemaker.engine.precomputed import Precomputed
from tastemaker.engine.snapshot import Key, Snapshot, Sources
from tastemaker.serving import heap
from tastemaker.serving.runtime import Runtime

log = logging.getLogger("tastemaker.serving")


@dataclass(frozen=True, slots=True)
class Reloaded:
    """What a check did: ``changed`` (a new snapshot answers), and the versions before and after."""

    changed: bool
    before: dict[str, str | None]
    after: dict[str, str | None]
    errors: dict[str, str | None]


class Reloader:
    """Checks what the registry and batch file name and swaps in a new snapshot when it changed.

    >>> Reloader(rt, store, sources).check().changed  # doctest: +SKIP
    False
    """

    def __init__(self, runtime: Runtime, store: Any, sources: Sources, seen: Key | None = None) -> None:
        """``seen``: the key the runtime's snapshot was built from (default: the key now)."""
        self.runtime = runtime
        self.store = store
        self.sources = sources
        self._seen = seen if seen is not None else sources.key()

    def check(self, force: bool = False) -> Reloaded:
        """Reload what changed since the last check (everything with ``force``); runs in a worker thread."""
        rt = self.runtime
        with rt.swap_lock:
            key, current = self.sources.key(), rt.snapshot
            if key == self._seen and not force:
                return Reloaded(False, _versions(current), _versions(current), _errors(current))
            if force or key[:2] != self._seen[:2] or key[3] != self._seen[3]:
                fresh = self.sources.build(self.store, rt.listening, keep=current, follower=rt.follower)
            else:  # only the batch file changed: keep the loaded models and catalog
                fresh = Snapshot.of(self.store, rt.listening, current.catalog, current.models,
                                    Precomputed.load(self.sources.precomputed, current.precomputed), rt.follower,
                                    self.sources.explore, self.sources.experiment)
            self._seen = key
            rt.swap(fresh)
            before = _versions(current)
            del current  # nothing here may hold the old set while it is collected, or it is frozen for good
            heap.settle(unfreeze=True)  # the old set collected, the new one frozen, the memory given back
        roles = ((key[0], fresh.models.personal), (key[1], fresh.models.fallback))
        kept = any(wanted is not None and wanted != slot.version for wanted, slot in roles)
        rt.metrics.reloads.labels("kept" if kept else "swapped").inc()
        log.info("serving %s", _versions(fresh))
        return Reloaded(True, before, _versions(fresh), _errors(fresh))

    async def watch(self, interval: float) -> None:
        """Check every ``interval`` seconds until cancelled (the app's lifespan runs this as a task)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # a check that fails (a disk error) must not stop the next ones
                log.exception("model reload check failed")


async def reloader(request: Request) -> Reloader:
    """The reloader of the app answering ``request`` (a FastAPI dependency)."""
    state: Reloader = request.app.state.reloader
    return state


def _versions(snapshot: Snapshot) -> dict[str, str | None]:
    models = snapshot.models
    return {"personal": models.personal.version, "fallback": models.fallback.version,
            "precomputed": snapshot.precomputed.version}


def _errors(snapshot: Snapshot) -> dict[str, str | None]:
    models = snapshot.models
    return {"personal": models.personal.error, "fallback": models.fallback.error,
            "precomputed": snapshot.precomputed.error}
