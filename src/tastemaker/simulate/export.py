"""Writing a world to files: the catalog, the listeners and the event history, as Parquet or CSV.

Events are streamed day by day (Parquet row groups of about :data:`ROW_GROUP` rows, or appended
CSV), so a 10-million-event history never sits in memory at once. Each file is written under a
temporary name and renamed when complete. CSV files write timestamps as ISO-8601 with ``Z`` and
list columns (``genres``, ``onboarding_artists``) joined with ``|``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tastemaker.simulate.events import EVENT_SCHEMA
from tastemaker.simulate.tables import artists_table, audio_features_table, tracks_table, users_table
from tastemaker.simulate.world import World

Format = Literal["parquet", "csv"]
FORMATS: tuple[str, ...] = ("parquet", "csv")
ROW_GROUP = 500_000
CSV_TIME = "%Y-%m-%dT%H:%M:%S%.3fZ"
LIST_SEPARATOR = "|"


@dataclass(slots=True)
class WorldSummary:
    """What :func:`write_world` wrote: counts, seconds, and each file with its size in bytes."""

    out: str
    format: str
    seed: int
    users: int
    tracks: int
    artists: int
    albums: int
    events: int = 0
    plays: int = 0
    seconds: float = 0.0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return asdict(self)


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only when the block succeeds."""
    tmp = path.with_name(path.name + ".partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _csv_frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.DataFrame(table)
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    return frame.with_columns(pl.col(c).list.join(LIST_SEPARATOR) for c in lists)


def _write_csv(frame: pl.DataFrame, sink: IO[bytes], header: bool) -> None:
    frame.write_csv(sink, include_header=header, datetime_format=CSV_TIME, date_format="%Y-%m-%d")


def write_table(table: pa.Table, path: Path, fmt: Format) -> None:
    """Write one whole table to ``path`` as Parquet (zstd) or CSV."""
    with _atomic(path) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            with open(tmp, "wb") as sink:
                _write_csv(_csv_frame(table), sink, header=True)


class EventSink:
    """Appends event tables to one Parquet or CSV file; use as a context manager.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d, EventSink(Path(d) / "events.csv", "csv") as sink:
        ...     sink.write(EVENT_SCHEMA.empty_table())
    """

    def __init__(self, path: Path, fmt: Format, row_group: int = ROW_GROUP) -> None:
        self.path, self.fmt, self.row_group = path, fmt, row_group
        self.rows = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0

    def __enter__(self) -> EventSink:
        self._stack = ExitStack()
        tmp = self._stack.enter_context(_atomic(self.path))
        parquet = self.fmt == "parquet"
        self._parquet = pq.ParquetWriter(tmp, EVENT_SCHEMA, compression="zstd") if parquet else None
        self._csv = open(tmp, "wb") if self.fmt == "csv" else None
        if self._csv is not None:
            _write_csv(_csv_frame(EVENT_SCHEMA.empty_table()), self._csv, header=True)
        return self

    def write(self, table: pa.Table) -> None:
        """Buffer ``table`` and flush full row groups."""
        self._buffer.append(table)
        self._buffered += table.num_rows
        self.rows += table.num_rows
        if self._buffered >= self.row_group:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        table = pa.concat_tables(self._buffer)
        if self._parquet is not None:
            self._parquet.write_table(table, row_group_size=max(table.num_rows, 1))
        elif self._csv is not None:
            _write_csv(_csv_frame(table), self._csv, header=False)
        self._buffer, self._buffered = [], 0

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self._flush()
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()
        self._stack.__exit__(*exc)  # renames the file into place only when nothing failed


def write_world(
    world: World,
    out_dir: Path | str,
    fmt: Format = "parquet",
    *,
    on_day: Callable[[int, int], None] | None = None,
) -> WorldSummary:
    """Write ``world``'s catalog, listeners and organic history into ``out_dir``.

    Files: ``tracks``, ``artists``, ``users``, ``audio_features``, ``events`` (``.parquet`` or
    ``.csv``) and ``world.json`` (the config, from which :class:`World` rebuilds the same world).
    Generating the history resets the world and leaves it at day ``config.days``.

    Args:
        world: the world to write.
        out_dir: the folder (created when missing; existing files of these names are replaced).
        fmt: ``"parquet"`` or ``"csv"``.
        on_day: progress callback ``on_day(days_done, days_total)``.

    Returns:
        a :class:`WorldSummary`.

    Example:
        >>> import tempfile
        >>> from tastemaker.simulate.world import WorldConfig
        >>> with tempfile.TemporaryDirectory() as d:
        ...     s = write_world(World(WorldConfig(n_users=20, n_tracks=100, days=2)), d, "csv")
        >>> sorted(s.files)
        ['artists', 'audio_features', 'events', 'tracks', 'users', 'world']
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    began, out, cfg = time.perf_counter(), Path(out_dir), world.config
    out.mkdir(parents=True, exist_ok=True)
    cat = world.catalog
    summary = WorldSummary(str(out), fmt, cfg.seed, world.listeners.n, cat.n_tracks, len(cat.artist_ids),
                           len(cat.album_ids))
    tables = {
        "tracks": tracks_table(cat, cfg.start),
        "artists": artists_table(cat),
        "users": users_table(world.listeners, cat, cfg.start),
        "audio_features": audio_features_table(cat),
    }
    paths = {name: out / f"{name}.{fmt}" for name in (*tables, "events")}
    for name, table in tables.items():
        write_table(table, paths[name], fmt)
    with EventSink(paths["events"], fmt) as sink:
        for table in world.generate_events(on_day):
            sink.write(table)
            summary.plays += int(pc.sum(pc.equal(table["type"], "play")).as_py() or 0)
    summary.events = sink.rows
    paths["world"] = out / "world.json"
    paths["world"].write_bytes(orjson.dumps(cfg.to_dict(), option=orjson.OPT_INDENT_2))
    summary.files = {name: {"path": str(p), "bytes": p.stat().st_size} for name, p in paths.items()}
    summary.seconds = round(time.perf_counter() - began, 3)
    return summary
