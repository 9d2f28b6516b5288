"""The embedded default store: immutable Parquet segments listed by one atomically replaced manifest.

Why this design (measurements in docs/store.md):
- an append writes new segment files, fsyncs them, then swaps in a new ``manifest.json`` with
  ``rename`` — a reader sees either the old or the new set of segments, never a half-written one,
  and an append that returned is on disk (durable on acknowledge);
- readers take no lock, so a training job can read while an import or the server appends;
- writers serialise on an ``flock`` so de-duplication by ``row_id`` is exact across processes;
- segments are plain Parquet, so DuckDB, Polars or Spark read the store without tastemaker;
- forgetting a listener (:meth:`LakeStore.forget_user`) and compaction (:meth:`LakeStore.compact`,
  many small segments merged into a few) are the operations that replace segments, under the same
  lock and commit point.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow.parquet as pq
import xxhash

from tastemaker.errors import StoreError
from tastemaker.store.tables import TABLES, conform, spec

MANIFEST = "manifest.json"
#: one line per forgotten listener: the hash of their id and the store version that forgot them
FORGOTTEN = "forgotten.jsonl"
#: a segment with fewer rows than this is merged by :meth:`LakeStore.compact`
SMALL_ROWS = 50_000
#: most rows of a segment compaction writes
TARGET_ROWS = 1_000_000
#: a log's merged segments (``SMALL_ROWS`` up to half of ``TARGET_ROWS``) are merged again once there are this
#: many of one kind: without it every merge of a server's impressions left one more file for good (the hour's
#: soak ended with 115 and counting)
MEDIUM_FANOUT = 8
#: the columns that name a listener, per table: what :meth:`LakeStore.forget_user` removes rows by
USER_COLUMNS: dict[str, tuple[str, ...]] = {"events": ("user_id",), "users": ("user_id",),
                                            "edges": ("src", "dst")}


@dataclass(frozen=True, slots=True)
class AppendResult:
    """How many rows an append wrote, how many it dropped as already stored, and how many it refused
    because they name a forgotten listener (kept nowhere)."""

    accepted: int
    duplicates: int
    forgotten: int = 0


@dataclass(frozen=True, slots=True)
class CompactResult:
    """What :meth:`LakeStore.compact` did: the table's segments before and after, and the rows moved."""

    table: str
    before: int
    after: int
    rows_merged: int


@dataclass(frozen=True, slots=True)
class ForgetResult:
    """What :meth:`LakeStore.forget_user` removed: rows per table, quarantined records, and the
    store version after the forget (unchanged when nothing was stored)."""

    rows: dict[str, int]
    quarantined: int
    version: int


class LakeStore:
    """Parquet-segment store rooted at a directory. Open it with :func:`tastemaker.store.open_store`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"parquet://{root}"
        self._ids: dict[str, np.ndarray] = {}  # segment file -> sorted row ids (segments never change)
        self._tombstones: tuple[tuple[int, int], tuple[dict[str, int], frozenset[str]]] | None = None
        # listening is personal data: the store's folders are its owner's only, and so is every file in them
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / "segments").mkdir(mode=0o700, exist_ok=True)
        (root / "quarantine").mkdir(mode=0o700, exist_ok=True)

    # ------------------------------------------------------------------ manifest
    def manifest(self) -> dict[str, object]:
        """The current manifest: ``{"version": int, "tables": {name: [{"file", "rows"}]}}``."""
        path = self.root / MANIFEST
        try:
            data: dict[str, object] = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return {"version": 0, "tables": {}}
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"{path} is not valid JSON ({exc}); restore it from a backup") from exc
        return data

    def segments(self, table: str) -> list[Path]:
        """The segment files that make up ``table`` right now (a consistent snapshot)."""
        spec(table)
        tables = self.manifest()["tables"]
        assert isinstance(tables, dict)
        return [self.root / "segments" / s["file"] for s in tables.get(table, [])]

    def _write_manifest(self, manifest: dict[str, object]) -> None:
        tmp = self.root / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
        _write_durable(tmp, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.root / MANIFEST)
        _fsync_dir(self.root)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._drop_orphans()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _drop_orphans(self) -> None:
        """Remove segments and temp files an interrupted writer left behind (we hold the lock)."""
        listed = {s["file"] for segs in self.manifest()["tables"].values() for s in segs}  # type: ignore[union-attr]
        for path in (self.root / "segments").iterdir():
            if path.name not in listed:
                path.unlink(missing_ok=True)
        for path in self.root.glob(f".{MANIFEST}.*.tmp"):
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ writing
    def append(self, frames: Mapping[str, pl.DataFrame]) -> dict[str, AppendResult]:
        """Append rows to several tables in one atomic, durable commit.

        Rows whose ``row_id`` is already stored (or repeats within the batch) are dropped and
        counted as duplicates. When this returns, the accepted rows survive a crash.

        >>> store.append({"events": events_frame})["events"].accepted  # doctest: +SKIP
        """
        results: dict[str, AppendResult] = {}
        with self._write_lock():
            manifest = self.manifest()
            tables = dict(manifest["tables"])  # type: ignore[arg-type]
            for name, frame in frames.items():
                frame = conform(name, frame)
                refused = self._of_forgotten(name, frame)
                if refused is not None:
                    frame = frame.filter(~refused)
                new = self._new_rows(name, frame, tables.get(name, []))
                results[name] = AppendResult(new.height, frame.height - new.height,
                                             0 if refused is None else int(refused.sum()))
                if new.height:
                    tables[name] = [*tables.get(name, []), self._write_segment(name, new)]
            if any(r.accepted for r in results.values()):
                self._write_manifest({"version": int(manifest["version"]) + 1, "tables": tables})  # type: ignore[call-overload]
        return results

    def _of_forgotten(self, name: str, frame: pl.DataFrame) -> pl.Series | None:
        """Which rows of ``frame`` name a listener who is forgotten now (None: none do)."""
        columns = [c for c in USER_COLUMNS.get(name, ()) if c in frame.columns]
        if not columns or not frame.height:
            return None
        refused = self.refused({u for c in columns for u in frame[c].drop_nulls().unique().to_list()})
        if not refused:
            return None
        mask = pl.any_horizontal([pl.col(c).is_in(sorted(refused)).fill_null(False) for c in columns])
        return frame.select(mask.alias("refused"))["refused"]

    def refused(self, user_ids: Iterable[str]) -> set[str]:
        """The ids among ``user_ids`` that are forgotten now (a tombstone not lifted by :meth:`unforget`):
        every write naming them is refused."""
        active = self._tombstone_state()[1]
        if not active:
            return set()
        return {u for u in user_ids if isinstance(u, str) and user_hash(u) in active}

    def _new_rows(self, name: str, frame: pl.DataFrame, segments: list[dict[str, object]]) -> pl.DataFrame:
        if frame["row_id"].null_count():
            raise ValueError(f"table {name!r}: every row needs a row_id; compute it before append()")
        ids = frame["row_id"].to_numpy()
        order = np.argsort(ids, kind="stable")
        ranked = ids[order]
        fresh = np.ones(len(ids), dtype=bool)
        fresh[order[1:]] = ranked[1:] != ranked[:-1]  # a repeat within the batch keeps its first row
        listed = {str(seg["file"]) for seg in segments}
        for gone in [f for f in self._ids if f.startswith(f"{name}-") and f not in listed]:
            del self._ids[gone]  # merged or rewritten by another process: no longer read
        for seg in segments:  # sorted queries against sorted segments: cache-friendly lookups
            stored = self._segment_ids(str(seg["file"]))
            pos = np.minimum(np.searchsorted(stored, ranked), len(stored) - 1)
            fresh[order[stored[pos] == ranked]] = False
        return frame if fresh.all() else frame.filter(pl.Series(fresh))

    def _segment_ids(self, file: str) -> np.ndarray:
        ids = self._ids.get(file)
        if ids is None:
            col = pq.read_table(self.root / "segments" / file, columns=["row_id"]).column(0)
            ids = np.sort(col.to_numpy())
            self._ids[file] = ids
        return ids

    def _write_segment(self, name: str, frame: pl.DataFrame) -> dict[str, object]:
        file = f"{name}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        path = self.root / "segments" / file
        tmp = path.with_suffix(".tmp")
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.chmod(tmp, 0o600)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        self._ids[file] = np.sort(frame["row_id"].to_numpy())
        entry: dict[str, object] = {"file": file, "rows": frame.height}
        if name == "events" and frame.height and (frame["type"] == "impression").all():
            entry["impressions_only"] = True  # readers of listening can skip the file unread
        return entry

    def write_quarantine(self, name: str, rows: pl.DataFrame) -> Path:
        """Write rejected records (with their reasons) durably as JSON lines; returns the file."""
        path = self.root / "quarantine" / f"{name}.jsonl"
        payload = b"".join(orjson.dumps(r) + b"\n" for r in rows.iter_rows(named=True))
        with self._quarantine_lock(), open(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        return path

    @contextmanager
    def _quarantine_lock(self) -> Iterator[None]:
        # its own lock: an append must not land in a file that forget_user is replacing
        with open(self.root / ".quarantine.lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ compaction
    def compact(self, table: str = "events", small_rows: int = SMALL_ROWS,
                target_rows: int = TARGET_ROWS) -> CompactResult:
        """Merge ``table``'s segments of fewer than ``small_rows`` rows into segments of up to ``target_rows``
        (and, for a log, :data:`MEDIUM_FANOUT` or more segments of one kind under half ``target_rows`` as well).

        Every ingest request and every impression flush adds a segment; without this, every scan (a
        server's start, a forget, a training job) opens them all. The same rows, ``row_id`` and all,
        move into fewer files, so de-duplication and followers (who skip rows they applied) see no
        change. Crash-safe like an append: the merged segments are written and ``fsync``-ed, then the
        manifest listing them instead of the small ones is swapped in (the commit point), then the
        small ones are deleted. Killed before the swap, the merged files are orphans the next writer
        deletes; after it, the small ones are. A log (``events``) merges its listening segments and
        its impression-only segments apart (readers of listening skip the latter unread); an entity
        table merges only neighbouring segments, so the latest value still wins.
        """
        if small_rows < 1 or target_rows < 1:
            raise ValueError(f"small_rows and target_rows must be at least 1, got {small_rows}, {target_rows}")
        log_table = spec(table).key is None
        doomed: list[Path] = []
        with self._write_lock():
            manifest = self.manifest()
            tables = dict(manifest["tables"])  # type: ignore[arg-type]
            segments: list[dict[str, object]] = list(tables.get(table, []))
            runs = _runs(segments, small_rows, target_rows, by_flag=log_table)
            if not runs:
                return CompactResult(table, len(segments), len(segments), 0)
            names = self.root / "segments"
            replaced: dict[int, dict[str, object]] = {}
            dropped: set[int] = set()
            merged_rows = 0
            for run in runs:
                files = [names / str(segments[i]["file"]) for i in run]
                frame = pl.scan_parquet(files, missing_columns="insert", schema=spec(table).schema).collect()
                replaced[run[0]] = self._write_segment(table, frame)
                dropped.update(run[1:])
                doomed.extend(files)
                merged_rows += frame.height
            kept = [replaced.get(i, seg) for i, seg in enumerate(segments) if i not in dropped]
            tables[table] = kept
            self._write_manifest({"version": int(manifest["version"]) + 1, "tables": tables})  # type: ignore[call-overload]
            for path in doomed:
                path.unlink(missing_ok=True)
                self._ids.pop(path.name, None)
            _fsync_dir(names)
        return CompactResult(table, len(segments), len(kept), merged_rows)

    def small_segments(self, table: str = "events", small_rows: int = SMALL_ROWS) -> int:
        """How many of ``table``'s segments hold fewer than ``small_rows`` rows (from the manifest)."""
        tables = self.manifest()["tables"]
        assert isinstance(tables, dict)
        return sum(1 for s in tables.get(table, []) if int(s["rows"]) < small_rows)

    # ------------------------------------------------------------------ forgetting
    def forget_user(self, user_id: str) -> ForgetResult:
        """Remove every row naming ``user_id`` (events, users, edges) and their quarantined records.

        Under the writer lock, each segment holding such rows is rewritten without them (temp
        file, ``fsync``, ``rename``) in its place in the manifest, so entity tables keep their
        order; then the manifest is replaced (the commit point), the old segments are deleted
        and the folder is ``fsync``-ed. A tombstone (a hash of the id and the new store version,
        see :meth:`forgotten_at`) is appended, so a model trained before can be told apart from
        one trained after. When this returns, none of the listener's rows is on disk.

        >>> store.forget_user("u1").rows["events"]  # doctest: +SKIP
        120
        """
        if not isinstance(user_id, str) or not user_id:
            raise ValueError(f"user_id must be a non-empty string, got {user_id!r}")
        doomed: list[Path] = []
        with self._write_lock():
            manifest = self.manifest()
            tables = dict(manifest["tables"])  # type: ignore[arg-type]
            removed: dict[str, int] = {}
            for name, columns in USER_COLUMNS.items():
                segments, removed[name] = self._without_user(name, columns, user_id, tables.get(name, []),
                                                             doomed)
                if removed[name]:
                    tables[name] = segments
            version = int(manifest["version"]) + 1  # type: ignore[call-overload]
            if any(removed.values()):
                self._write_manifest({"version": version, "tables": tables})
            else:
                version -= 1
            for path in doomed:  # no longer listed: delete now rather than at the next writer's cleanup
                path.unlink(missing_ok=True)
                self._ids.pop(path.name, None)
            _fsync_dir(self.root / "segments")
            quarantined = self._forget_quarantined(user_id)
            entry = {"user": user_hash(user_id), "version": version, "at": time.time()}
            with open(os.open(self.root / FORGOTTEN, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as fh:
                fh.write(orjson.dumps(entry) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        return ForgetResult(removed, quarantined, version)

    def _without_user(self, name: str, columns: tuple[str, ...], user_id: str,
                      segments: list[dict[str, object]], doomed: list[Path]) -> tuple[list[dict[str, object]], int]:
        """``segments`` of ``name`` without the rows naming ``user_id`` (rewritten ones replaced in place);
        the replaced files are added to ``doomed``. Returns the segments and the rows removed."""
        if not segments:
            return segments, 0
        names = self.root / "segments"
        naming = pl.any_horizontal([pl.col(c).eq(user_id).fill_null(False) for c in columns])
        hits = (pl.scan_parquet([names / str(s["file"]) for s in segments], include_file_paths="_file",
                                missing_columns="insert", schema=spec(name).schema)
                .filter(naming).group_by("_file").len().collect())
        touched = {Path(f).name: int(n) for f, n in hits.iter_rows()}
        kept: list[dict[str, object]] = []
        for seg in segments:
            file = str(seg["file"])
            if file not in touched:
                kept.append(seg)
                continue
            rest = pl.read_parquet(names / file).filter(~naming)
            if rest.height:
                kept.append(self._write_segment(name, rest))
            doomed.append(names / file)
        return kept, sum(touched.values())

    def _forget_quarantined(self, user_id: str) -> int:
        """Drop the quarantined records any field of which is ``user_id``; each file replaced atomically."""
        needle = user_id.encode()
        plain = orjson.dumps(user_id)[1:-1] == needle  # no character JSON escapes: a byte search can rule out
        removed = 0
        with self._quarantine_lock():
            for tmp in (self.root / "quarantine").glob(".*.tmp"):  # left by a forget that was interrupted
                tmp.unlink(missing_ok=True)
            for path in sorted((self.root / "quarantine").glob("*.jsonl")):
                data = path.read_bytes()
                if plain and needle not in data:
                    continue
                lines = data.splitlines(keepends=True)
                kept = [line for line in lines if not _names_user(line, user_id)]
                if len(kept) == len(lines):
                    continue
                removed += len(lines) - len(kept)
                tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
                _write_durable(tmp, b"".join(kept))
                os.replace(tmp, path)
            _fsync_dir(self.root / "quarantine")
        return removed

    def unforget(self, user_id: str) -> bool:
        """Lift ``user_id``'s tombstone so their events are accepted again (a listener who came back and
        asked for it); returns whether one was lifted. What was forgotten stays forgotten, and
        :meth:`forgotten_at` still tells models trained before the forget apart."""
        if not isinstance(user_id, str) or not user_id:
            raise ValueError(f"user_id must be a non-empty string, got {user_id!r}")
        with self._write_lock():
            if not self.refused([user_id]):
                return False
            entry = {"user": user_hash(user_id), "version": self.version(), "at": time.time(), "unforgotten": True}
            with open(os.open(self.root / FORGOTTEN, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as fh:
                fh.write(orjson.dumps(entry) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        return True

    def forgotten_at(self, user_id: str) -> int | None:
        """The store version at which ``user_id`` was last forgotten, or None if never (an
        :meth:`unforget` does not change it: models trained before the forget still held them).

        Tombstones hold a hash of the id, not the id; the file is re-read only when it changes.
        """
        return self._tombstone_state()[0].get(user_hash(user_id))

    def _tombstone_state(self) -> tuple[dict[str, int], frozenset[str]]:
        """``(hash -> version of the last forget, hashes forgotten now)``, re-read when the file changes."""
        path = self.root / FORGOTTEN
        try:
            stat = path.stat()
        except FileNotFoundError:
            return {}, frozenset()
        key = (stat.st_mtime_ns, stat.st_size)
        if self._tombstones is None or self._tombstones[0] != key:
            last: dict[str, int] = {}
            active: set[str] = set()
            for user, version, lifted in _tombstone_lines(path.read_bytes()):
                if lifted:
                    active.discard(user)
                else:
                    last[user] = version
                    active.add(user)
            self._tombstones = (key, (last, frozenset(active)))
        return self._tombstones[1]

    def tombstones(self) -> list[tuple[str, int]]:
        """Every tombstone as ``(hash of the id, store version that forgot them)``."""
        try:
            return list(_tombstones((self.root / FORGOTTEN).read_bytes()))
        except FileNotFoundError:
            return []

    # ------------------------------------------------------------------ reading
    def scan(self, table: str) -> pl.LazyFrame:
        """All stored rows of ``table`` (for entity tables: every version; see :meth:`entities`)."""
        files = self.segments(table)
        if not files:
            return conform(table, pl.DataFrame()).lazy()
        # a column added to a table later (events' ``propensity``) reads as null from older segments
        return pl.scan_parquet(files, missing_columns="insert", schema=spec(table).schema)

    def events(self) -> pl.LazyFrame:
        """The event log as a lazy frame."""
        return self.scan("events")

    def entities(self, table: str) -> pl.DataFrame:
        """Entity table ``table`` with one row per key: the latest non-null value of each column."""
        key = spec(table).key
        if key is None:
            raise ValueError(f"table {table!r} is a log, not an entity table; use scan({table!r})")
        rows = self.scan(table).with_row_index("_seq")
        cols = [c for c in spec(table).schema if c not in ("row_id", key)]
        return (
            rows.sort("_seq")
            .group_by(key, maintain_order=True)
            .agg([pl.col(c).drop_nulls().last() for c in cols])
            .collect()
        )

    def count(self, table: str) -> int:
        """Number of stored rows in ``table`` (from the manifest, no data read)."""
        tables = self.manifest()["tables"]
        assert isinstance(tables, dict)
        return sum(int(s["rows"]) for s in tables.get(table, []))

    def version(self) -> int:
        """The manifest version: it names the snapshot a training job read."""
        return int(self.manifest()["version"])  # type: ignore[call-overload]

    def table_names(self) -> list[str]:
        """Every table the store knows."""
        return list(TABLES)


def _runs(segments: list[dict[str, object]], small_rows: int, target_rows: int,
          by_flag: bool) -> list[list[int]]:
    """Positions of the segments to merge, one list per merged segment (each of two or more): small
    segments, up to ``target_rows`` rows each; ``by_flag``: any small ones with the same
    ``impressions_only`` flag (a log), else only neighbours (an entity table)."""
    runs: list[list[int]] = []
    open_runs: dict[object, tuple[list[int], int]] = {}
    for i, seg in enumerate(segments):
        rows = int(seg["rows"])  # type: ignore[call-overload]
        key = bool(seg.get("impressions_only")) if by_flag else None
        if rows >= small_rows:
            if not by_flag and key in open_runs:  # a big segment ends a run of neighbours
                runs.append(open_runs.pop(key)[0])
            continue
        run, total = open_runs.get(key, ([], 0))
        if run and total + rows > target_rows:
            runs.append(run)
            run, total = [], 0
        open_runs[key] = ([*run, i], total + rows)
    runs.extend(run for run, _ in open_runs.values())
    if by_flag:  # merged segments are merged again once there are MEDIUM_FANOUT of one kind (size tiers)
        for flag in (False, True):
            medium = [i for i, seg in enumerate(segments) if bool(seg.get("impressions_only")) == flag
                      and small_rows <= int(seg["rows"]) < target_rows // 2]  # type: ignore[call-overload]
            if len(medium) < MEDIUM_FANOUT:
                continue
            run, total = [], 0
            for i in medium:
                rows = int(segments[i]["rows"])  # type: ignore[call-overload]
                if run and total + rows > target_rows:
                    runs.append(run)
                    run, total = [], 0
                run, total = [*run, i], total + rows
            runs.append(run)
    return [r for r in runs if len(r) > 1]


def forgotten_hashes(url: str) -> set[str]:
    """The hashes of every listener ever forgotten in the store at ``url`` (read only: nothing is created;
    empty when it is not a local store or has no tombstones)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme != "parquet":
        return set()
    try:
        data = (Path(rest if sep else url).expanduser() / FORGOTTEN).read_bytes()
    except OSError:
        return set()
    return {user for user, _ in _tombstones(data)}


def user_hash(user_id: str) -> str:
    """What a tombstone holds instead of the listener's id."""
    return xxhash.xxh3_64_hexdigest(user_id.encode())



def _tombstones(data: bytes) -> Iterator[tuple[str, int]]:
    """``(hash, version)`` of each forget's tombstone line (lifts left out)."""
    for user, version, lifted in _tombstone_lines(data):
        if not lifted:
            yield user, version


def _tombstone_lines(data: bytes) -> Iterator[tuple[str, int, bool]]:
    """``(hash, version, lifted)`` of each line: a forget, or an :meth:`LakeStore.unforget`; a torn last
    line (a forget killed mid-write, so never acknowledged) is skipped."""
    for line in data.splitlines():
        try:
            entry = orjson.loads(line)
            yield str(entry["user"]), int(entry["version"]), bool(entry.get("unforgotten", False))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            continue


def _names_user(line: bytes, user_id: str) -> bool:
    """Whether a quarantine line's record has a field whose value is ``user_id``."""
    try:
        row = orjson.loads(line)
        record = orjson.loads(row["record"]) if isinstance(row.get("record"), str) else row.get("record")
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return orjson.dumps(user_id) in line  # not JSON as written: match the id as a JSON string
    if isinstance(record, dict):
        return user_id in record.values()
    return bool(record == user_id)


def _write_durable(path: Path, data: bytes) -> None:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
