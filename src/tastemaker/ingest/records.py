"""Turning parsed JSON records into typed columns, marking what did not parse.

Readers of JSON formats share this: missing required fields and values of the wrong type do
not raise, they set ``_reject`` on that row with a reason the quarantine file keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from tastemaker.ingest.pipeline import Reject


def split_objects(records: Sequence[Any], file: str) -> tuple[list[dict[str, Any]], list[int], list[Reject]]:
    """Keep the JSON objects of ``records``; anything else becomes a :class:`Reject`.

    Returns the objects, their 1-based record numbers, and the rejects.
    """
    objects: list[dict[str, Any]] = []
    lines: list[int] = []
    rejects: list[Reject] = []
    for i, rec in enumerate(records, start=1):
        if isinstance(rec, dict):
            objects.append(rec)
            lines.append(i)
        else:
            rejects.append(Reject(file, i, "record is not a JSON object", repr(rec)[:2000]))
    return objects, lines, rejects


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
