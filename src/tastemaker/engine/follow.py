"""Keep a server's in-memory listening in step with the store, whoever wrote to it.

Several server processes (``tastemaker serve --workers 2``) share one store, and so do a running
server and ``tastemaker import``: each holds its own :class:`~tastemaker.engine.state.ListeningState`.
A background loop (:meth:`StoreFollower.run`, started with the server) looks at the manifest every
0.1 s (one ``stat`` when nothing changed) and reads the events segments it has not read yet in
steps of at most :data:`STEP_ROWS` rows, each in a worker thread, adding the rows it has not
applied yet, by ``row_id``: so a row counts once however it arrives, and the segments a forget
or a compaction rewrites (the same rows, minus one listener's or merged) add nothing. Then it
reads the tombstones: a listener forgotten by another process is dropped from memory too.
Segments holding only served lists (impressions) are skipped: a server counts as shown what it
logged itself and what was stored when it started, not what another worker showed since.

A request that reads listening applies what is new itself only when all of it fits in
:data:`REQUEST_ROWS` rows (another worker's ingest batch: seen at once); a bigger write (an
outside import of a million events) is left to the loop; a request waits at most
:data:`REQUEST_WAIT_S` for a step the loop is applying (usually that very write). This
process's own ingest adds its rows directly (:meth:`StoreFollower.apply_own`) without reading
the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.engine.state import COLUMNS, ListeningState, shown_days
from tastemaker.store.lake import FORGOTTEN, MANIFEST, user_hash
from tastemaker.store.tables import spec

#: recently applied row ids are merged into the sorted base array past this many
MERGE_AT = 262_144
#: the background loop's look at the store, seconds
FOLLOW_S = 0.1
#: most rows one background step reads (a bigger import is absorbed in several steps, a big segment in slices)
STEP_ROWS = 5_000
#: most rows a request applies itself before answering (more: the background loop does it)
REQUEST_ROWS = 20_000
#: longest a request waits for the background loop's step in progress before answering from what is held
REQUEST_WAIT_S = 0.25
#: listeners held apart from the state's base past which the loop folds them in (memory: each holds the
#: frames of the batch that changed them last; a fold of the soak world's 330,000 rows took ~0.1 s, by hand)
CONSOLIDATE_AT = 256
#: listeners with shown days held apart past which the loop folds those in (each impression flush adds some)
SHOWN_CONSOLIDATE_AT = 300

log = logging.getLogger("tastemaker.engine")


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
            # both sorted, none of the recent in the base: one insertion pass, not a sort of millions of ids
            # (4.3M ids + 262k: 5.4 s for np.union1d, 23 ms this way, measured by hand)
            self._base = np.insert(self._base, np.searchsorted(self._base, self._recent), self._recent)
            self._recent = np.empty(0, dtype=np.int64)


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
        self._offsets: dict[str, int] = {}  # segments read in part: the next row to read
        self._lock = threading.Lock()
        #: the background loop is absorbing more than one step's rows (an import): a request does not wait for it
        self._absorbing = False

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
            shown = shown_days(frame.select("user_id", "item_id", "type", "ts", "surface"))
            ids = frame.select("row_id").collect()["row_id"].to_numpy()
        else:  # no segments yet: the empty table
            events, ids = pl.DataFrame(schema=spec("events").schema), np.empty(0, dtype=np.int64)
            shown = None
        kwargs = {} if half_life_days is None else {"half_life_days": half_life_days}
        state = ListeningState(events, shown=shown, **kwargs)
        return state, cls(store, state, set(files), AppliedIds(ids))

    def catch_up(self, budget: int | None = None, whole: bool = False) -> int:
        """Apply what was stored since the last look; returns the listening rows added (0: nothing new).

        ``budget``: read at most this many rows in this call (a big segment is read in slices; the rest
        at the next call); ``whole``: a request's call, which applies nothing unless everything new fits
        in the budget (a small write by another worker is seen at once; a big import is left to the background
        loop, :meth:`run`); when the loop is applying a step that is all there is to apply (usually that small
        write), the request waits for it at most :data:`REQUEST_WAIT_S`; while the loop absorbs more than a
        step's rows (an import), a request never waits and answers from what is held.
        Without a budget everything new is applied.
        """
        if _stat(self._manifest) == self._key and _stat(self._graves) == self._graves_key:
            return 0
        # a request waits for the loop's step only when that step is all there is (usually another worker's
        # small write); while an import is absorbed, step after step, it answers from what is held at once
        if not self._lock.acquire(timeout=(0 if self._absorbing else REQUEST_WAIT_S) if whole else -1):
            return 0
        try:
            key, graves = _stat(self._manifest), _stat(self._graves)
            added = 0
            if key != self._key:
                parts, done = self._parts(budget, whole)
                if not whole:
                    self._absorbing = not done
                added = self._apply(parts) if parts else 0
                if done:
                    self._key = key
            if graves != self._graves_key:
                self._bury()
                self._graves_key = graves
            return added
        finally:
            self._lock.release()

    def _parts(self, budget: int | None, whole: bool) -> tuple[list[tuple[dict[str, object], int, int]], bool]:
        """The ``(segment, first row, rows)`` slices to read now within ``budget``, and whether they are all
        that is new (``whole``: nothing unless they are)."""
        unseen = [seg for seg in _event_segments(self.store) if str(seg["file"]) not in self._files]
        left = [(seg, self._offsets.get(str(seg["file"]), 0)) for seg in unseen]
        total = sum(int(seg.get("rows", 0)) - at for seg, at in left if not seg.get("impressions_only"))
        if budget is None or total <= budget:
            return [(seg, at, int(seg.get("rows", 0)) - at) for seg, at in left], True
        if whole:
            return [], False
        parts, room = [], budget
        for seg, at in left:
            rows = int(seg.get("rows", 0)) - at
            if seg.get("impressions_only"):  # nothing to read: only marked as seen
                parts.append((seg, at, rows))
                continue
            if room <= 0:
                break
            parts.append((seg, at, min(rows, room)))
            room -= rows
        return parts, False

    @property
    def behind(self) -> bool:
        """Whether the store holds writes this follower has not applied yet."""
        return _stat(self._manifest) != self._key or _stat(self._graves) != self._graves_key

    def apply_own(self, rows: pl.DataFrame) -> int:
        """Add rows this process just stored (with ``row_id``; duplicates and rows applied already are left
        out), without reading the store: an ingest request never waits on anyone else's import."""
        if rows.is_empty():
            return 0
        with self._lock:
            fresh = rows.filter(pl.Series(self._applied.missing(rows["row_id"].to_numpy())))
            self._applied.add(fresh["row_id"].to_numpy())
            listening = fresh.filter(pl.col("type") != "impression")
            self.state.add(listening.select(c for c in COLUMNS if c in listening.columns))
            return listening.height

    async def run(self, interval_s: float = FOLLOW_S, budget: int = STEP_ROWS) -> None:
        """Follow the store in the background until cancelled: every ``interval_s`` seconds, apply what is
        new in steps of at most ``budget`` rows, each in a worker thread and each followed by a pause
        twice as long as it took, so requests keep two thirds of the process while a big outside import is
        absorbed; once caught up, fold what piled up into the state's base (:meth:`ListeningState.consolidate`)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                while self.behind:
                    started = time.perf_counter()
                    added = await asyncio.to_thread(self.catch_up, budget)
                    if not added and self.behind_segments() == 0:
                        break
                    await asyncio.sleep(2 * (time.perf_counter() - started))  # two thirds of the time for requests
                listening, shown = self.state.pending()
                if listening >= CONSOLIDATE_AT:
                    await asyncio.to_thread(self.state.consolidate)
                elif shown >= SHOWN_CONSOLIDATE_AT:  # a flush of shown lists every two seconds: fold them often
                    await asyncio.to_thread(self.state.consolidate, False)
            except Exception as exc:  # a bad segment must not end following: logged, retried next time
                log.warning("following the store failed, retrying: %s", exc)

    def behind_segments(self) -> int:
        """How many event segments are listed and not applied yet."""
        return sum(1 for seg in _event_segments(self.store) if str(seg["file"]) not in self._files)

    def _apply(self, parts: list[tuple[dict[str, object], int, int]]) -> int:
        """Read the segment slices ``parts`` and add the rows not applied yet; a segment read to its end is
        done (its file is not read again)."""
        frames = []
        for seg, start, rows in parts:
            file = str(seg["file"])
            if not seg.get("impressions_only"):  # served lists: no listening
                scan = pl.scan_parquet(self.store.root / "segments" / file, missing_columns="insert",
                                       schema=spec("events").schema)
                frames.append(scan.slice(start, rows).select("row_id", *COLUMNS))
            if start + rows >= int(seg.get("rows", 0)):
                self._files.add(file)
                self._offsets.pop(file, None)
            else:
                self._offsets[file] = start + rows
        if not frames:
            return 0
        rows_read = pl.concat(pl.collect_all(frames))
        fresh = rows_read.filter(pl.Series(self._applied.missing(rows_read["row_id"].to_numpy())))
        self._applied.add(fresh["row_id"].to_numpy())
        listening = fresh.filter(pl.col("type") != "impression").drop("row_id")
        self.state.add(listening)
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
