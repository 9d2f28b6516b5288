"""Events posted by clients (``POST /v1/events``, the simulator), stored through the importer's validation.

A batch is treated like one imported file: each record is typed by the table importer's
``coerce`` (the same timestamp, number and boolean rules as ``tastemaker import table``), checked
and given its stable id by the import pipeline, so re-sending a batch stores nothing twice and a
record that an import would quarantine is quarantined here, with the same reason. The HTTP edge
adds only what a file does not need: ``ts`` is required (a server-side default would change the
event's id on a re-send), values must be JSON scalars, and the fields the server owns (``row_id``,
``source``, ``source_file``, ``ingested_at``) are its own. When :func:`ingest_events` returns,
accepted rows and quarantined records are on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl

from tastemaker.ingest.pipeline import ReadOptions, prepare
from tastemaker.ingest.readers.table import coerce
from tastemaker.ingest.records import add_reason, split_objects
from tastemaker.store import spec

SOURCE = "http"
#: columns of the events table the server fills; a client's values for them are ignored
SERVER_FIELDS = ("row_id", "source", "source_file", "ingested_at")
CLIENT_FIELDS = tuple(c for c in spec("events").schema if c not in SERVER_FIELDS)


@dataclass(slots=True)
class IngestResult:
    """What became of a batch: ``received == accepted + duplicates + quarantined + forgotten``
    (``forgotten``: events of a forgotten listener, refused and kept nowhere).

    ``rejected`` holds ``(index, reason)`` of each quarantined record (0-based position in the batch);
    ``rows`` the valid rows offered to the store (those not counted as duplicates are stored).
    """

    received: int
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    forgotten: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)


def ingest_events(store: Any, records: list[Any], request_id: str,
                  now: datetime | None = None) -> IngestResult:
    """Validate, id and durably store ``records`` (parsed JSON values) as events of ``store``.

    >>> ingest_events(store, [{"user_id": "u1", "ts": "2024-05-01T10:00:00Z", "type": "play",
    ...                        "item_id": "t1", "ms_played": 200000}], "req-1").accepted  # doctest: +SKIP
    1
    """
    now = now or datetime.now(UTC)
    source_file = f"{SOURCE}:{request_id}"
    objects, lines, rejects = split_objects(records, source_file)
    typed = _typed(objects, lines)
    good, bad = prepare("events", typed, SOURCE, source_file, now)
    if rejects:
        unparsed = pl.DataFrame([(r.file, r.line, r.reason, r.record) for r in rejects], schema=bad.schema,
                                orient="row")
        bad = pl.concat([bad, unparsed]).sort("line")
    rejected = [(int(line) - 1, str(why)) for line, why in bad.select("line", "reason").rows()]
    result = IngestResult(received=len(records), quarantined=bad.height, rejected=rejected)
    if bad.height:  # keep each record as sent: the typed row has lost the values that did not convert
        sent = [orjson.dumps(records[i]).decode()[:2000] for i, _ in rejected]
        raw = pl.Series("record", sent, dtype=pl.String)
        kept = bad.with_columns(raw, pl.lit(SOURCE).alias("source"))
        store.write_quarantine(f"{SOURCE}-{now:%Y%m%d}", kept)
    if good.height:
        stored = store.append({"events": good})["events"]
        result.accepted, result.duplicates, result.forgotten = stored.accepted, stored.duplicates, stored.forgotten
        # what was offered minus a forgotten listener's events, which the store refused
        gone = store.refused(good["user_id"].unique().to_list()) if stored.forgotten else set()
        result.rows = good.filter(~pl.col("user_id").is_in(sorted(gone))) if gone else good
    return result


def _typed(objects: list[dict[str, Any]], lines: list[int]) -> pl.DataFrame:
    """The records as events-table columns typed by the importer, with ``_line`` and ``_reject``."""
    text = {name: [_text(o.get(name)) for o in objects] for name in CLIENT_FIELDS}
    frame = coerce(pl.DataFrame(text, schema={n: pl.String for n in CLIENT_FIELDS}), "events", ReadOptions())
    nested = pl.Series([_nested(o) for o in objects], dtype=pl.String)
    return frame.with_columns(
        pl.coalesce(pl.lit(nested), pl.col("_reject")).alias("_reject"),
    ).with_columns(
        add_reason(pl.col("ts").is_null(), "missing field 'ts' (ISO-8601 or Unix epoch s/ms)"),
        pl.Series("_line", lines, dtype=pl.Int64),
    )


def _text(value: Any) -> str | None:
    """A JSON scalar as the text the table importer reads (its JSON-lines reader does the same)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _nested(record: dict[str, Any]) -> str | None:
    """The reason a record with an object or array as a field value is refused, else ``None``."""
    for name in CLIENT_FIELDS:
        if isinstance(record.get(name), dict | list):
            return f"field {name!r} must be a string, number, boolean or null"
    return None
