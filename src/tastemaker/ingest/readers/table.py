"""Generic tables: CSV/TSV, Parquet, JSON lines or JSON, mapped onto a stored table by column name.

The target table is the file's stem when that names a table (``events.csv``, ``tracks.parquet``,
``audio_features.jsonl``), otherwise ``--table`` (default ``events``). Columns are taken by
name; ``--map item_id=song`` takes ``item_id`` from the source column ``song``. Source columns
no table knows are ignored. Large files stream in blocks, so memory stays bounded. A ``.json``
file is an array of records, or an object holding one array of them (``{"events": [...]}``), or
one record; it is read whole.

An events file without a ``type`` column is a listening log: every row is a ``play``;
``item_kind`` defaults to ``track``.

Value rules: timestamps are ISO-8601 (``Z`` or offset) or Unix epoch seconds/milliseconds;
booleans are true/false/1/0/yes/no; list columns (``genres``) are ``|``-separated in text
formats. A value that does not convert rejects its row with the column named in the reason.

When a file cannot be read as asked, every record is still counted: a file without the table's
required columns (``user_id`` and ``item_id`` for events, the key for the others) has each row
quarantined with the columns missing, the columns found and the ``--map`` that fixes it; a line
that is not UTF-8 is quarantined (re-save the file as UTF-8); a gzip stream cut short keeps the
lines before the cut (see ``docs/ingest.md``, *When an import goes wrong*).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tastemaker.errors import ImportFormatError
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.raw import NOT_UTF8, CutShort, is_utf8, line_blocks, lossy_utf8
from tastemaker.ingest.readers.sniff import hint
from tastemaker.ingest.records import load_json, split_objects
from tastemaker.store import TABLES, spec

PATTERNS: tuple[str, ...] = ("*.csv", "*.tsv", "*.parquet", "*.jsonl", "*.ndjson", "*.json")
BLOCK_BYTES = 32 << 20
PARQUET_BATCH_ROWS = 1_000_000
_TRUE = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "t": True, "f": False}


@dataclass(slots=True)
class _Block:
    """Source rows of one block: String columns (typed for Parquet), their line or record numbers,
    reasons set while reading (text that is not UTF-8), and the records that did not parse at all."""

    frame: pl.DataFrame
    lines: pl.Series
    reasons: pl.Series | None = None
    rejects: list[Reject] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def target_table(path: Path, options: ReadOptions) -> str:
    """The table a file loads into: its stem when that names a table, else ``options.table``."""
    stem = path.name.removesuffix(".gz").split(".")[0]
    return stem if stem in TABLES else spec(options.table).name


def read_table(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read a CSV/TSV/Parquet/JSON lines/JSON file in blocks of typed rows for its target table.

    Raises :class:`ImportFormatError` for a file whose extension is none of these, ValueError for a
    ``--map`` naming a column the table does not have.
    """
    table = target_table(path, options)
    columns = spec(table).schema
    unknown = [c for c in options.mapping if c not in columns]
    if unknown:
        raise ValueError(f"--map names columns {unknown} that table {table!r} does not have: {list(columns)}")
    suffix = path.name.removesuffix(".gz").rsplit(".", 1)[-1].lower()
    blocks = _READERS.get(suffix)
    if blocks is None:
        kinds = ", ".join(f".{s}" for s in _READERS)
        raise ImportFormatError(f"{path}: the table format reads {kinds} files (optionally .gz), not .{suffix}")
    if suffix == "parquet" and path.name.endswith(".gz"):
        reason = "cannot read file: Parquet compresses itself; gunzip the file and import the .parquet"
        yield ReadBatch(rejects=[Reject(str(path), None, reason, "")])
        return
    line = 1
    try:
        for block in blocks(path):
            yield _batch(block, table, options, str(path))
            line = int(block.lines.max() or line) + 1 if len(block.lines) else line
    except CutShort as cut:
        where = f"line {cut.line - 1}" if cut.line and cut.line > 1 else None
        reason = cut.after(where) if where else f"cannot read file: {cut}"
        tail = cut.tail[:2000].decode("utf-8", "replace")
        rest = Reject(str(path), cut.line if where else None, reason, tail)
        yield ReadBatch(rejects=[rest], problems=[reason])
    except (pa.ArrowException, pl.exceptions.PolarsError, OSError, EOFError) as exc:
        reason = f"cannot read the rest of the file from line {line}: {exc}"
        yield ReadBatch(rejects=[Reject(str(path), line, reason, "")], problems=[reason])


def _batch(block: _Block, table: str, options: ReadOptions, file: str) -> ReadBatch:
    """The typed rows of a block; all of them rejected, with how to fix it, when required columns are missing."""
    lines = block.lines.cast(pl.Int64).alias("_line")
    missing = _missing_columns(block.frame.columns, table, options)
    if missing:
        records = block.frame.select(pl.struct(pl.all()).struct.json_encode().alias("_record"))
        frame = records.with_columns(lines, pl.lit(missing).alias("_reject"))
        return ReadBatch(primary={table: frame}, rejects=block.rejects, problems=[missing, *block.problems])
    frame = coerce(_rename(block.frame, table, options), table, options).with_columns(lines)
    if block.reasons is not None:
        frame = frame.with_columns(pl.coalesce(block.reasons, pl.col("_reject")).alias("_reject"))
    return ReadBatch(primary={table: frame}, rejects=block.rejects, problems=block.problems)


def required_columns(table: str, options: ReadOptions) -> list[str]:
    """The columns a file for ``table`` must have: an event's user (unless ``--user``) and item, an edge's ends,
    an entity's key."""
    if table == "events":
        return ["item_id"] if options.user is not None else ["user_id", "item_id"]
    key = spec(table).key
    return [key] if key else ["src", "dst"]


def _missing_columns(found: list[str], table: str, options: ReadOptions) -> str | None:
    """Why a file with columns ``found`` cannot fill ``table`` (which columns to add or map), or None."""
    if not found:
        return None
    missing = [c for c in required_columns(table, options) if options.mapping.get(c, c) not in found]
    if not missing:
        return None
    shown = ", ".join(found[:30]) + (f" and {len(found) - 30} more" if len(found) > 30 else "")
    maps = " ".join(f"--map {c}=COLUMN" for c in missing)
    needs = f"the {table} table needs column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    fix = f"rename them in the file, or name the file's columns with {maps}"
    return f"{needs}, which the file lacks (columns found: {shown}): {fix}" + hint("table", found)


# ---------------------------------------------------------------------- CSV / TSV
def _csv_blocks(path: Path) -> Iterator[_Block]:
    """Parse a delimited file in blocks of whole lines we read ourselves.

    pyarrow's own streaming reader reads far ahead of the parser (1.8 GB resident on a 1.8 GB
    file, measured); reading the blocks here keeps memory at one block while pyarrow still
    parses each block on every core.
    """
    delimiter = "\t" if path.name.removesuffix(".gz").endswith(".tsv") else ","
    blocks = line_blocks(path, BLOCK_BYTES)
    line = 1
    try:
        first = next(blocks, b"")
        header, _, rest = first.partition(b"\n")
        names = _csv_header(header, delimiter)
        if not names:
            return
        line = 2
        for chunk in chain([rest] if rest else [], blocks):
            block = _parse_block(chunk, names, delimiter, line, str(path))
            line += chunk.count(b"\n")
            yield block
    except CutShort as cut:
        cut.line = line
        raise


def _parse_block(chunk: bytes, names: list[str], delimiter: str, first_line: int, file: str) -> _Block:
    invalid: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row.text or "")
        return "skip"

    lossy = not is_utf8(chunk)
    if lossy:  # parse what is there; the rows that held bytes that are not UTF-8 are rejected below
        chunk = lossy_utf8(chunk)
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
        if lossy and "\ufffd" in text:
            reason = f"line is {NOT_UTF8}"
        rejects.append(Reject(file, int(numbers[index]) if index >= 0 else None, reason, text[:2000]))
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    lines = numbers[keep]
    if len(lines) != frame.height:  # a quoted line break moved rows; fall back to row order
        lines = first_line + np.arange(frame.height)
    block = _Block(frame, pl.Series("_line", lines, dtype=pl.Int64), rejects=rejects)
    if lossy:
        bad = frame.select(pl.any_horizontal(pl.all().str.contains("\ufffd", literal=True).fill_null(False)))
        block.reasons = pl.select(pl.when(bad.to_series()).then(pl.lit(f"line is {NOT_UTF8}"))).to_series()
    return block


def _csv_header(line: bytes, delimiter: str) -> list[str]:
    """The column names of a header line; a name given twice is kept once (later ones are renamed away)."""
    text = line.decode("utf-8", "replace").removeprefix("\ufeff").rstrip("\r")
    names: list[str] = []
    for name in (c.strip() for c in _split(text, delimiter)):
        names.append(name if name not in names else f"{name} (again {len(names) + 1})")
    return names


def _fields(text: str, delimiter: str) -> int:
    return len(_split(text, delimiter))


def _split(text: str, delimiter: str) -> list[str]:
    """The fields of one line, quotes understood; split plainly where the csv module refuses (a stray CR)."""
    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        return text.split(delimiter)


# ---------------------------------------------------------------------- Parquet
def _parquet_blocks(path: Path) -> Iterator[_Block]:
    line = 1
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
        frame = pl.from_arrow(pa.Table.from_batches([batch]))
        assert isinstance(frame, pl.DataFrame)
        yield _Block(frame, pl.int_range(line, line + frame.height, eager=True))
        line += frame.height


# ---------------------------------------------------------------------- JSON lines / JSON
def _jsonl_blocks(path: Path) -> Iterator[_Block]:
    """One block per block of lines: the objects of its lines; a line that is not one is a reject."""
    file, line = str(path), 1
    try:
        for chunk in line_blocks(path, BLOCK_BYTES):
            objects: list[dict[str, Any]] = []
            lines: list[int] = []
            rejects: list[Reject] = []
            for number, text in enumerate(chunk.split(b"\n"), start=line):
                if not text.strip():
                    continue
                try:
                    obj = orjson.loads(text)
                except orjson.JSONDecodeError as exc:
                    reason = f"line is {NOT_UTF8}" if not is_utf8(text) else f"line is not valid JSON: {exc}"
                    rejects.append(Reject(file, number, reason, text[:2000].decode("utf-8", "replace")))
                    continue
                if not isinstance(obj, dict):
                    rejects.append(Reject(file, number, "line is not a JSON object", text[:2000].decode()))
                    continue
                objects.append(obj)
                lines.append(number)
            line += chunk.count(b"\n")
            yield _Block(_objects_frame(objects), pl.Series(lines, dtype=pl.Int64), rejects=rejects)
    except CutShort as cut:
        cut.line = line
        raise


def _json_blocks(path: Path) -> Iterator[_Block]:
    """The records of a JSON file as one block (see the module docstring for the shapes read)."""
    loaded = load_json(path)
    records, why = _json_records(loaded.document)
    rejects = list(loaded.rejects)
    if why is not None:
        rejects.append(Reject(str(path), None, why, str(loaded.document)[:2000]))
        records = []
    objects, lines, bad = split_objects(records, str(path), loaded.lossy)
    yield _Block(_objects_frame(objects), pl.Series(lines, dtype=pl.Int64), rejects=bad + rejects,
                 problems=loaded.problems)


def _json_records(document: Any) -> tuple[list[Any], str | None]:
    """The records of a parsed JSON document, or why it holds none."""
    if document is None or isinstance(document, list):
        return document or [], None
    if not isinstance(document, dict):
        return [], "file is not a JSON array or object of records"
    arrays = [k for k, v in document.items() if isinstance(v, list) and any(isinstance(x, dict) for x in v)]
    if len(arrays) > 1:
        return [], f"file is a JSON object with several arrays of records ({', '.join(arrays)}): give it one"
    return (document[arrays[0]], None) if arrays else ([document], None)


def _objects_frame(objects: list[dict[str, Any]]) -> pl.DataFrame:
    """String columns from JSON objects: strings as they are, other values as JSON text."""
    names = list(dict.fromkeys(k for o in objects for k in o))
    def text(value: Any) -> str | None:
        return value if value is None or isinstance(value, str) else orjson.dumps(value).decode()

    rows = [{k: text(v) for k, v in o.items()} for o in objects]
    return pl.DataFrame({n: [o.get(n) for o in rows] for n in names}, schema={n: pl.String for n in names})


_READERS: dict[str, Callable[[Path], Iterator[_Block]]] = {
    "csv": _csv_blocks, "tsv": _csv_blocks, "parquet": _parquet_blocks, "jsonl": _jsonl_blocks,
    "ndjson": _jsonl_blocks, "json": _json_blocks,
}  # fmt: skip


def _rename(frame: pl.DataFrame, table: str, options: ReadOptions) -> pl.DataFrame:
    columns = spec(table).schema
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
