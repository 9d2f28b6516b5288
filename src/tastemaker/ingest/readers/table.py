"""Generic tables: CSV/TSV, Parquet or JSON lines, mapped onto a stored table by column name.

The target table is the file's stem when that names a table (``events.csv``, ``tracks.parquet``,
``audio_features.jsonl``), otherwise ``--table`` (default ``events``). Columns are taken by
name; ``--map item_id=song`` takes ``item_id`` from the source column ``song``. Source columns
no table knows are ignored. Large files stream in blocks, so memory stays bounded.

An events file without a ``type`` column is a listening log: every row is a ``play``;
``item_kind`` defaults to ``track``.

Value rules: timestamps are ISO-8601 (``Z`` or offset) or Unix epoch seconds/milliseconds;
booleans are true/false/1/0/yes/no; list columns (``genres``) are ``|``-separated in text
formats. A value that does not convert rejects its row with the column named in the reason.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject, open_text
from tastemaker.store import TABLES, spec

PATTERNS: tuple[str, ...] = ("*.csv", "*.tsv", "*.parquet", "*.jsonl", "*.ndjson")
BLOCK_BYTES = 32 << 20
PARQUET_BATCH_ROWS = 1_000_000
_TRUE = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "t": True, "f": False}


def target_table(path: Path, options: ReadOptions) -> str:
    """The table a file loads into: its stem when that names a table, else ``options.table``."""
    stem = path.name.removesuffix(".gz").split(".")[0]
    return stem if stem in TABLES else spec(options.table).name


def read_table(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read a CSV/TSV/Parquet/JSONL file in blocks of typed rows for its target table."""
    table = target_table(path, options)
    suffix = path.name.removesuffix(".gz").rsplit(".", 1)[-1].lower()
    readers = {"csv": _csv_blocks, "tsv": _csv_blocks, "parquet": _parquet_blocks, "jsonl": _jsonl_blocks,
               "ndjson": _jsonl_blocks}
    line = 1
    try:
        for block, rejects in readers[suffix](path):
            lines = block["_line"] if "_line" in block.columns else pl.int_range(line, line + block.height, eager=True)
            frame = coerce(_rename(block.drop("_line", strict=False), table, options), table, options)
            frame = frame.with_columns(lines.cast(pl.Int64).alias("_line"))
            line = int(frame["_line"].max() or line) + 1
            yield ReadBatch(primary={table: frame}, rejects=rejects)
    except (pa.ArrowInvalid, pl.exceptions.PolarsError, OSError, EOFError) as exc:
        yield ReadBatch(rejects=[Reject(str(path), line, f"cannot read the rest of the file from here: {exc}", "")])


def _csv_blocks(path: Path) -> Iterator[tuple[pl.DataFrame, list[Reject]]]:
    """Parse a delimited file in blocks of whole lines we read ourselves.

    pyarrow's own streaming reader reads far ahead of the parser (1.8 GB resident on a 1.8 GB
    file, measured); reading the blocks here keeps memory at one block while pyarrow still
    parses each block on every core.
    """
    delimiter = "\t" if path.name.removesuffix(".gz").endswith(".tsv") else ","
    names = _csv_header(path, delimiter)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        fh.readline()
        first_line = 2
        while chunk := fh.read(BLOCK_BYTES):
            chunk += fh.readline()
            frame, rejects, n_lines = _parse_block(chunk, names, delimiter, first_line, str(path))
            first_line += n_lines
            yield frame, rejects


def _parse_block(
    chunk: bytes, names: list[str], delimiter: str, first_line: int, file: str
) -> tuple[pl.DataFrame, list[Reject], int]:
    invalid: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row.text or "")
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(chunk),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=True),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True),
    )
    raw = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if len(chunk) and raw[-1] != 10:
        ends = np.append(ends, len(chunk))
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    lengths = ends - starts - (raw[np.maximum(ends - 1, 0)] == 13)
    numbers = first_line + np.arange(len(starts))
    keep = lengths > 0
    rejects, cursor = [], 0
    for text in invalid:  # rare: find each bad line to report its number
        at = chunk.find(text.encode(), cursor)
        index = int(np.searchsorted(starts, at, side="right") - 1) if at >= 0 else -1
        cursor = max(cursor, at + 1)
        if index >= 0:
            keep[index] = False
        reason = f"expected {len(names)} fields, got {_fields(text, delimiter)}"
        rejects.append(Reject(file, int(numbers[index]) if index >= 0 else None, reason, text[:2000]))
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    lines = numbers[keep]
    if len(lines) != frame.height:  # a quoted line break moved rows; fall back to row order
        lines = first_line + np.arange(frame.height)
    return frame.with_columns(pl.Series("_line", lines, dtype=pl.Int64)), rejects, len(starts)


def _csv_header(path: Path, delimiter: str) -> list[str]:
    with open_text(path) as fh:
        first = fh.readline().rstrip("\r\n")
    return [c.strip().strip('"') for c in first.split(delimiter)]


def _fields(text: str, delimiter: str) -> int:
    return len(next(csv.reader([text], delimiter=delimiter), []))


def _parquet_blocks(path: Path) -> Iterator[tuple[pl.DataFrame, list[Reject]]]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
        yield pl.from_arrow(pa.Table.from_batches([batch])), []  # type: ignore[misc]


def _jsonl_blocks(path: Path) -> Iterator[tuple[pl.DataFrame, list[Reject]]]:
    objects: list[dict[str, object]] = []
    rejects: list[Reject] = []
    with open_text(path) as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                rejects.append(Reject(str(path), number, f"line is not valid JSON: {exc}", text[:2000]))
                continue
            if not isinstance(obj, dict):
                rejects.append(Reject(str(path), number, "line is not a JSON object", text[:2000]))
                continue
            objects.append({k: None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
                            for k, v in obj.items()})
    names = sorted({k for o in objects for k in o})
    frame = pl.DataFrame({n: [o.get(n) for o in objects] for n in names}, schema={n: pl.String for n in names})
    yield frame, rejects


def _rename(frame: pl.DataFrame, table: str, options: ReadOptions) -> pl.DataFrame:
    columns = spec(table).schema
    unknown = [c for c in options.mapping if c not in columns]
    if unknown:
        raise ValueError(f"--map names columns {unknown} that table {table!r} does not have: {list(columns)}")
    picked = {target: source for target, source in options.mapping.items() if source in frame.columns}
    for col in columns:
        if col not in picked and col in frame.columns and col not in options.mapping.values():
            picked[col] = col
    picked.pop("row_id", None)
    return frame.select([pl.col(source).alias(target) for target, source in picked.items()])


def coerce(frame: pl.DataFrame, table: str, options: ReadOptions) -> pl.DataFrame:
    """Cast each column to the table's type; a value that does not convert sets ``_reject``."""
    schema = spec(table).schema
    typed = pl.DataFrame([_cast(frame[c], schema[c]).alias(c) for c in frame.columns])
    if table == "events" and "type" not in frame.columns:
        typed = typed.with_columns(pl.lit("play").alias("type"))  # a bare listening log: every row is a play
    if options.user is not None and "user_id" in schema and "user_id" not in frame.columns:
        typed = typed.with_columns(pl.lit(options.user).alias("user_id"))
    elif options.user_prefix and "user_id" in typed.columns:
        typed = typed.with_columns((pl.lit(options.user_prefix) + pl.col("user_id")).alias("user_id"))
    problems = [
        pl.when(frame[c].is_not_null() & typed[c].is_null()).then(pl.lit(f"column {c!r} is not a valid {schema[c]}"))
        for c in frame.columns
        if frame.schema[c] != schema[c]
    ]
    reason = pl.coalesce(problems) if problems else pl.lit(None, dtype=pl.String)
    return typed.with_columns(reason.cast(pl.String).alias("_reject"))


def _cast(col: pl.Series, target: pl.DataType) -> pl.Series:
    source = col.dtype
    if source == target:
        return col
    if source == pl.String:
        text = col.str.strip_chars().replace("", None)
        if isinstance(target, pl.Datetime):
            return parse_time(text)
        if target == pl.Boolean:
            return text.str.to_lowercase().replace_strict(_TRUE, default=None, return_dtype=pl.Boolean)
        if target == pl.Date:
            return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        if isinstance(target, pl.List):
            return text.str.split("|")
        if target.is_integer():
            return text.cast(pl.Float64, strict=False).cast(target, strict=False)
        return text.cast(target, strict=False)
    if isinstance(target, pl.Datetime) and isinstance(source, pl.Datetime):
        aware = col if source.time_zone else col.dt.replace_time_zone("UTC")
        return aware.dt.convert_time_zone("UTC").cast(target)
    if isinstance(target, pl.Datetime) and source.is_numeric():
        return _from_epoch(col.cast(pl.Float64))
    return col.cast(target, strict=False)


#: Text timestamp layouts tried in order, each only on the values still unparsed.
TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")


def parse_time(text: pl.Series) -> pl.Series:
    """Parse ISO-8601 text (``Z``, an offset, or none = UTC) or Unix epoch s/ms to ``Datetime(ms, UTC)``."""
    out = pl.Series(text.name, [None] * len(text), dtype=pl.Datetime("ms", "UTC"))
    for fmt in ("epoch", *TIME_FORMATS):
        todo = out.is_null() & text.is_not_null()
        if not todo.any():
            break
        if fmt == "epoch":
            parsed = _from_epoch(text.cast(pl.Float64, strict=False))
        elif fmt.endswith("%z"):
            parsed = text.str.to_datetime(fmt, time_unit="ms", strict=False).dt.convert_time_zone("UTC")
        else:
            parsed = text.str.to_datetime(fmt, time_zone="UTC", time_unit="ms", strict=False)
        out = out.fill_null(parsed)
    return out


#: epoch milliseconds of 0001-01-01 and 9999-12-31T23:59:59.999: beyond them a time has no ISO-8601 form
EPOCH_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)


def _from_epoch(seconds_or_ms: pl.Series) -> pl.Series:
    ms = pl.select(pl.when(seconds_or_ms.abs() > 1e11).then(seconds_or_ms).otherwise(seconds_or_ms * 1000)).to_series()
    ms = ms.round().cast(pl.Int64, strict=False)  # out of Int64 range: null, reported as not a valid time
    ms = pl.select(pl.when(ms.is_between(*EPOCH_MS_RANGE)).then(ms)).to_series()
    return pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC")
