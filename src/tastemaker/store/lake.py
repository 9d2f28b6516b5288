"""The embedded default store: immutable Parquet segments listed by one atomically replaced manifest.

Why this design (measurements in docs/store.md):
- an append writes new segment files, fsyncs them, then swaps in a new ``manifest.json`` with
  ``rename`` — a reader sees either the old or the new set of segments, never a half-written one,
  and an append that returned is on disk (durable on acknowledge);
- readers take no lock, so a training job can read while an import or the server appends;
- writers serialise on an ``flock`` so de-duplication by ``row_id`` is exact across processes;
- segments are plain Parquet, so DuckDB, Polars or Spark read the store without tastemaker.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow.parquet as pq

from tastemaker.errors import StoreError
from tastemaker.store.tables import TABLES, conform, spec

MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class AppendResult:
    """How many rows an append wrote, and how many it dropped as already stored."""

    accepted: int
    duplicates: int


class LakeStore:
    """Parquet-segment store rooted at a directory. Open it with :func:`tastemaker.store.open_store`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"parquet://{root}"
        self._ids: dict[str, np.ndarray] = {}  # segment file -> sorted row ids (segments never change)
        root.mkdir(parents=True, exist_ok=True)
        (root / "segments").mkdir(exist_ok=True)
        (root / "quarantine").mkdir(exist_ok=True)

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
                new = self._new_rows(name, frame, tables.get(name, []))
                results[name] = AppendResult(new.height, frame.height - new.height)
                if new.height:
                    tables[name] = [*tables.get(name, []), self._write_segment(name, new)]
            if any(r.accepted for r in results.values()):
                self._write_manifest({"version": int(manifest["version"]) + 1, "tables": tables})  # type: ignore[call-overload]
        return results

    def _new_rows(self, name: str, frame: pl.DataFrame, segments: list[dict[str, object]]) -> pl.DataFrame:
        if frame["row_id"].null_count():
            raise ValueError(f"table {name!r}: every row needs a row_id; compute it before append()")
        ids = frame["row_id"].to_numpy()
        order = np.argsort(ids, kind="stable")
        ranked = ids[order]
        fresh = np.ones(len(ids), dtype=bool)
        fresh[order[1:]] = ranked[1:] != ranked[:-1]  # a repeat within the batch keeps its first row
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
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        self._ids[file] = np.sort(frame["row_id"].to_numpy())
        return {"file": file, "rows": frame.height}

    def write_quarantine(self, name: str, rows: pl.DataFrame) -> Path:
        """Write rejected records (with their reasons) durably as JSON lines; returns the file."""
        path = self.root / "quarantine" / f"{name}.jsonl"
        payload = b"".join(orjson.dumps(r) + b"\n" for r in rows.iter_rows(named=True))
        with open(path, "ab") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        return path

    # ------------------------------------------------------------------ reading
    def scan(self, table: str) -> pl.LazyFrame:
        """All stored rows of ``table`` (for entity tables: every version; see :meth:`entities`)."""
        files = self.segments(table)
        if not files:
            return conform(table, pl.DataFrame()).lazy()
        return pl.scan_parquet(files)

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


def _write_durable(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
