"""Reading JSON files as far as they go, and turning parsed records into typed columns.

Readers of JSON formats share this. A file that is cut short or broken part-way keeps the records
before the damage (:func:`load_json`); missing required fields and values of the wrong type do
not raise, they set ``_reject`` on that row with a reason the quarantine file keeps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from tastemaker.ingest.pipeline import Reject
from tastemaker.ingest.readers.raw import NOT_UTF8, CutShort, is_utf8, lossy_utf8, read_all

_REPLACED = "\ufffd".encode()
#: JSON strings and brackets: enough to find where each element of an array ends
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},"]', re.DOTALL)
_CLOSE = {b"[": b"]", b"{": b"}"}
#: how many cut points to try, from the last one back, before giving up on a broken document
_TRIES = 4


@dataclass(slots=True)
class JsonFile:
    """A JSON file as far as it could be read.

    ``document`` is None when nothing could be read; ``rejects`` hold the whole file or its unread
    rest (line None); ``problems`` are file-level notes for the summary; ``lossy``: bytes that were
    not UTF-8 were replaced, and :func:`split_objects` rejects the records that held them.
    """

    document: Any = None
    rejects: list[Reject] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lossy: bool = False


def load_json(path: Path) -> JsonFile:
    """Parse a JSON file (gunzipped for ``.gz``), keeping what comes before any damage.

    A gzip stream cut short, or JSON broken part-way, keeps the complete elements of the arrays read
    so far (a Spotify export's records, an MPD slice's playlists) and gives the rest as one reject
    whose reason says where reading stopped, e.g. ``file truncated after record 812``.
    """
    try:
        data, cut = read_all(path)
    except OSError as exc:
        return JsonFile(rejects=[Reject(str(path), None, f"cannot read file: {exc}", "")])
    return parse_json(data, cut, str(path))


def parse_json(data: bytes, cut: CutShort | None, file: str, what: str = "valid JSON") -> JsonFile:
    """:func:`load_json` of content already read: ``cut`` says why it ends early, if it does; a reason
    for JSON that does not parse starts ``file is not {what}``."""
    out = JsonFile(lossy=not is_utf8(data))
    if out.lossy:
        data = lossy_utf8(data)
    if not data.strip() and cut is None:
        return JsonFile(rejects=[Reject(file, None, "file is empty: no JSON in it", "")])
    error: orjson.JSONDecodeError | None = None
    if cut is None:
        try:
            out.document = orjson.loads(data)
            return out
        except orjson.JSONDecodeError as exc:
            error = exc
    limit = len(data) if error is None else len(data.decode("utf-8")[: error.pos].encode("utf-8"))
    out.document = _salvage(data, limit)
    got = f"record {len(out.document)}" if isinstance(out.document, list) else "the last complete record"
    if cut is not None:
        reason = cut.after(got) if out.document is not None else f"cannot read file: {cut}"
    elif out.document:
        reason = f"file is not {what} after {got} ({error}); what comes before was read"
    else:
        reason = f"file is not {what}: {error}"
    near = data[max(0, limit - 200) : limit + 200].decode("utf-8", "replace")
    out.rejects.append(Reject(file, None, reason, near))
    return out


def _salvage(data: bytes, limit: int) -> Any:
    """The document made of ``data[:limit]`` up to its last complete array element, brackets closed."""
    stack: list[bytes] = []
    cuts: list[tuple[int, tuple[bytes, ...]]] = []
    for match in _TOKENS.finditer(data, 0, limit):
        token = match.group()
        if token == b'"':
            break  # a string that does not end
        if token in _CLOSE:
            stack.append(token)
            if token == b"[":
                cuts.append((match.end(), tuple(stack)))
        elif token in (b"]", b"}"):
            if not stack or _CLOSE[stack.pop()] != token:
                break
            if stack and stack[-1] == b"[":
                cuts.append((match.end(), tuple(stack)))
        elif token == b"," and stack and stack[-1] == b"[":
            cuts.append((match.start(), tuple(stack)))
    # Only the outermost array's element ends: a record is kept whole or not at all.
    depth = min((len(open_) for _, open_ in cuts), default=0)
    cuts = [(end, open_) for end, open_ in cuts if len(open_) == depth]
    for end, open_ in reversed(cuts[-_TRIES:]):
        try:
            return orjson.loads(data[:end] + b"".join(_CLOSE[b] for b in reversed(open_)))
        except orjson.JSONDecodeError:
            continue
    return None


def split_objects(
    records: Sequence[Any], file: str, lossy: bool = False
) -> tuple[list[dict[str, Any]], list[int], list[Reject]]:
    """Keep the JSON objects of ``records``; anything else becomes a :class:`Reject`.

    ``lossy`` (the file was not all UTF-8, see :class:`JsonFile`): an object holding U+FFFD is a reject too.
    Returns the objects, their 1-based record numbers, and the rejects.
    """
    objects: list[dict[str, Any]] = []
    lines: list[int] = []
    rejects: list[Reject] = []
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            rejects.append(Reject(file, i, "record is not a JSON object", repr(rec)[:2000]))
        elif lossy and _REPLACED in (text := orjson.dumps(rec)):
            rejects.append(Reject(file, i, f"record is {NOT_UTF8}", text[:2000].decode("utf-8", "replace")))
        else:
            objects.append(rec)
            lines.append(i)
    return objects, lines, rejects


def raw_records(objects: list[dict[str, Any]]) -> pl.Series:
    """``_record``: each object as the JSON text the quarantine file keeps (for records of another format,
    whose typed columns would be all null)."""
    texts = [orjson.dumps(o)[:2000].decode("utf-8", "replace") for o in objects]
    return pl.Series("_record", texts, dtype=pl.String)


def typed_frame(
    objects: list[dict[str, Any]],
    lines: list[int],
    fields: dict[str, pl.DataType],
    required: Sequence[str] = (),
) -> pl.DataFrame:
    """A frame with one typed column per field (renamed by nothing), plus ``_line`` and ``_reject``.

    A required field that is absent or null, or any value that does not convert to its type,
    sets ``_reject`` for that row.
    """
    raw = {name: [o.get(name) for o in objects] for name in fields}
    reasons: list[pl.Expr] = []
    columns: dict[str, pl.Series] = {}
    for name, dtype in fields.items():
        values = pl.Series(name, [None if v is None else str(v) if not isinstance(v, bool) else str(v).lower() for v in raw[name]], dtype=pl.String)
        if dtype == pl.String:
            typed = values
        elif dtype == pl.Boolean:
            typed = values.str.to_lowercase().replace_strict({"true": True, "false": False, "1": True, "0": False}, default=None, return_dtype=pl.Boolean)
        else:
            typed = values.cast(pl.Float64, strict=False).cast(dtype, strict=False) if dtype.is_integer() else values.cast(dtype, strict=False)
        columns[name] = typed
        broken = values.is_not_null() & typed.is_null()
        if broken.any():
            reasons.append(pl.when(pl.Series(broken)).then(pl.lit(f"field {name!r} is not a valid {dtype}")))
        if name in required:
            missing = values.is_null()
            if missing.any():
                reasons.append(pl.when(pl.Series(missing)).then(pl.lit(f"missing field {name!r}")))
    frame = pl.DataFrame(columns).with_columns(pl.Series("_line", lines, dtype=pl.Int64))
    reject = pl.coalesce(reasons) if reasons else pl.lit(None, dtype=pl.String)
    return frame.with_columns(reject.cast(pl.String).alias("_reject"))


def parse_ts(column: pl.Expr, fmt: str | None = None) -> pl.Expr:
    """Parse a UTC timestamp string column to ``Datetime(ms, UTC)``; unparsable values become null."""
    return column.str.to_datetime(fmt, time_zone="UTC", strict=False, time_unit="ms")


def unparsed(raw: str, parsed: str) -> pl.Expr:
    """True where column ``raw`` had a value but ``parsed`` is null."""
    return pl.col(raw).is_not_null() & pl.col(parsed).is_null()


def add_reason(condition: pl.Expr, reason: str) -> pl.Expr:
    """Set ``_reject`` to ``reason`` where ``condition`` holds and no earlier reason is set."""
    return pl.coalesce(pl.col("_reject"), pl.when(condition).then(pl.lit(reason))).alias("_reject")
