"""Keep a server's in-memory listening in step with the store, whoever wrote to it.

Several server processes (``tastemaker serve --workers 2``) share one store, and so do a running
server and ``tastemaker import``: each holds its own :class:`~tastemaker.engine.state.ListeningState`.
Every request that reads listening first asks :meth:`StoreFollower.catch_up`, which costs one
``stat`` of the manifest when nothing changed. When it did, the follower reads the events segments
it has not read yet and adds the rows it has not applied yet, by ``row_id``: so a row counts once
however it arrives (this process's own ingest goes through the same call), and the segments a
forget rewrites (the same rows minus one listener's) add nothing. Then it reads the tombstones:
a listener forgotten by another process is dropped from memory too. Segments holding only
served lists (impressions) are skipped: a server counts as shown what it logged itself and what
was stored when it started, not what another worker showed since.

A request therefore sees every event acknowledged by any process before it started, at the cost
of reading the new segments once per process (about a millisecond for a 1,000-event batch).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.engine.state import COLUMNS, ListeningState, shown_days
from tastemaker.store.lake import FORGOTTEN, MANIFEST, user_hash
from tastemaker.store.tables import spec

#: recently applied row ids are merged into the sorted base array past this many
MERGE_AT = 262_144


class AppliedIds:
    """A set of 64-bit row ids: a large sorted array plus a small sorted one merged into it now and then."""

    def __init__(self, ids: np.ndarray) -> None:
        self._base = np.unique(np.asarray(ids, dtype=np.int64))
        self._recent = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._base) + len(self._recent)

    def missing(self, ids: np.ndarray) -> np.ndarray:
        """A mask of ``ids`` not in the set."""
        ids = np.asarray(ids, dtype=np.int64)
        return ~(_member(self._base, ids) | _member(self._recent, ids))

    def add(self, ids: np.ndarray) -> None:
        """Add ``ids`` (those already in the set are ignored)."""
        ids = np.asarray(ids, dtype=np.int64)
        self._recent = np.union1d(self._recent, ids[~_member(self._base, ids)])
        if len(self._recent) > MERGE_AT:
            self._base, self._recent = np.union1d(self._base, self._recent), np.empty(0, dtype=np.int64)


def _member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if not len(sorted_ids):
        return np.zeros(len(ids), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[at] == ids


class StoreFollower:
    """Applies to ``state`` what other writers (and this process) stored since it last looked.

    Use :meth:`load` to build a state and its follower from one reading of the manifest.

    >>> state, follower = StoreFollower.load(store)  # doctest: +SKIP
    >>> follower.catch_up()  # doctest: +SKIP
    0
    """

    def __init__(self, store: Any, state: ListeningState, files: set[str], applied: AppliedIds) -> None:
        self.store = store
        self.state = state
        self._files = files
        self._applied = applied
        self._manifest: Path = store.root / MANIFEST
        self._graves: Path = store.root / FORGOTTEN
        self._key = _stat(self._manifest)
        self._graves_key = _stat(self._graves)
        self._buried: set[tuple[str, int]] = set(store.tombstones())
        self._lock = threading.Lock()

    @classmethod
    def followable(cls, store: Any) -> bool:
        """Whether ``store`` keeps a manifest of segments to follow (the embedded store does)."""
        return hasattr(store, "manifest") and hasattr(store, "root")

    @classmethod
    def load(cls, store: Any, half_life_days: float | None = None) -> tuple[ListeningState, StoreFollower]:
        """The listening of every listener in ``store`` now, and a follower that has applied exactly it."""
        files = _event_files(store)
        paths = [store.root / "segments" / f for f in files]
        if paths:
            frame = pl.scan_parquet(paths, missing_columns="insert", schema=spec("events").schema)
            events = frame.filter(pl.col("type") != "impression").select(COLUMNS).collect()
            shown = shown_days(frame.select("user_id", "item_id", "type", "ts"))
            ids = frame.select("row_id").collect()["row_id"].to_numpy()
        else:  # no segments yet: the empty table
            events, ids = pl.DataFrame(schema=spec("events").schema), np.empty(0, dtype=np.int64)
            shown = None
        kwargs = {} if half_life_days is None else {"half_life_days": half_life_days}
        state = ListeningState(events, shown=shown, **kwargs)
        return state, cls(store, state, set(files), AppliedIds(ids))

    def catch_up(self) -> int:
        """Apply what was stored since the last look; returns the listening rows added (0: nothing new)."""
        if _stat(self._manifest) == self._key and _stat(self._graves) == self._graves_key:
            return 0
        with self._lock:
            key, graves = _stat(self._manifest), _stat(self._graves)
            added = 0
            if key != self._key:
                added = self._apply(_event_segments(self.store))
                self._key = key
            if graves != self._graves_key:
                self._bury()
                self._graves_key = graves
            return added

    def _apply(self, segments: list[dict[str, object]]) -> int:
        unseen = [seg for seg in segments if str(seg["file"]) not in self._files]
        self._files.update(str(seg["file"]) for seg in unseen if seg.get("impressions_only"))
        new = [str(seg["file"]) for seg in unseen if not seg.get("impressions_only")]  # served lists: no listening
        if not new:
            return 0
        frame = pl.scan_parquet([self.store.root / "segments" / f for f in new], missing_columns="insert",
                                schema=spec("events").schema)
        rows = frame.select("row_id", *COLUMNS).collect()
        fresh = rows.filter(pl.Series(self._applied.missing(rows["row_id"].to_numpy())))
        self._applied.add(fresh["row_id"].to_numpy())
        listening = fresh.filter(pl.col("type") != "impression").drop("row_id")
        self.state.add(listening)
        self._files.update(new)
        return listening.height

    def _bury(self) -> None:
        """Drop from memory the listeners forgotten since the last look (tombstones hold hashes of ids)."""
        entries = set(self.store.tombstones())
        new = {h for h, _ in entries - self._buried}
        self._buried = entries
        if not new:
            return
        for user_id in self.state.user_ids():
            if user_hash(user_id) in new:
                self.state.forget(user_id)


def _event_segments(store: Any) -> list[dict[str, object]]:
    return list(store.manifest().get("tables", {}).get("events", []))


def _event_files(store: Any) -> list[str]:
    return [str(seg["file"]) for seg in _event_segments(store)]


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
