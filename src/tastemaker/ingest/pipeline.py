"""The import pipeline every format shares: find files, read, validate, quarantine, id, commit.

A reader turns one file into :class:`ReadBatch` es. Everything after that is here, once:
rows that fail validation go to the quarantine file with their reason; the rest get stable
ids and are appended in atomic commits, so ``read = accepted + duplicates + quarantined + forgotten``
(records of a forgotten listener are refused by the store and kept nowhere).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.domain import EVENT_TYPES, ITEM_KINDS, MAX_USER_ID, USER_ID_PATTERN
from tastemaker.errors import ImportFormatError
from tastemaker.ingest.identity import EVENT_IDENTITY, row_ids
from tastemaker.ingest.kinds import refresh_kinds
from tastemaker.ingest.readers.raw import NOT_UTF8, SOME_NOT_UTF8
from tastemaker.store import Store, conform, spec

#: Events before this instant are rejected as clock garbage (epoch zero, 1900 defaults).
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
MAX_MS_PLAYED = 24 * 3600 * 1000
#: Float values at or beyond this are refused: a row's id hashes a float as an integer of millionths.
MAX_FLOAT = 9e12
#: reader columns that are not data: ``_line`` (record number), ``_reject`` (reason), ``_record``
#: (the raw record for the quarantine file, when the row's columns cannot show it)
META = ("_file", "_line", "_reject", "_record")


@dataclass(slots=True)
class Reject:
    """A record that could not even be parsed into a row."""

    file: str
    line: int | None
    reason: str
    record: str


@dataclass(slots=True)
class ReadBatch:
    """What a reader got from (part of) a file.

    ``primary`` rows are the records read — each is counted, and is accepted, a duplicate or
    quarantined. They may carry ``_line`` (1-based record number) and ``_reject`` (a reason,
    set by the reader when a field did not parse). ``derived`` rows (e.g. the tracks named by
    play events) are stored too but not counted. ``problems``: what went wrong with the file as a
    whole (a format mismatch, a truncated gzip, text that is not UTF-8), for the summary; a reject
    with no line is such a problem too.
    """

    primary: dict[str, pl.DataFrame] = field(default_factory=dict)
    derived: dict[str, pl.DataFrame] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """Options a reader may use: the user of an export without user ids, a column mapping."""

    user: str | None = None
    user_prefix: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    table: str = "events"


Reader = Callable[[Path, ReadOptions], Iterator[ReadBatch]]


@dataclass(frozen=True, slots=True)
class Format:
    """An import format: its CLI name, which files in a folder it reads, and its reader."""

    name: str
    patterns: tuple[str, ...]
    read: Reader
    needs_user: bool = False
    description: str = ""
    #: a folder of per-listener subfolders names each file's user after its subfolder
    user_folders: bool = False


@dataclass(slots=True)
class ImportSummary:
    """The account of one import; ``read == accepted + duplicates + quarantined + forgotten`` always
    (``forgotten``: records of listeners who were forgotten, refused and not kept anywhere).

    ``skipped``: the files of a folder that were not read, ``{"file", "reason"}`` each; ``problems``:
    what went wrong with a file as a whole, ``{"file", "problem"}`` each (``docs/ingest.md``, *When an
    import goes wrong*, lists them with what to do). :attr:`failed`: nothing was imported, and why is
    in ``problems``.
    """

    format: str
    path: str
    import_id: str
    files: int = 0
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    forgotten: int = 0
    quarantine_file: str | None = None
    seconds: float = 0.0
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    #: items per content kind after the import re-decided them (:mod:`tastemaker.ingest.kinds`)
    kinds: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Nothing was taken in (accepted, already stored or refused as forgotten) and a file had a problem."""
        return bool(self.problems) and not (self.accepted or self.duplicates or self.forgotten)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (with ``failed``)."""
        fields = {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]
        return {**fields, "failed": self.failed}


def _matches(path: Path, patterns: tuple[str, ...]) -> bool:
    name = Path(path.name[:-3]) if path.name.endswith(".gz") else Path(path.name)
    return any(name.match(p) for p in patterns)


def discover(
    path: Path, fmt: Format, user: str | None
) -> tuple[list[tuple[Path, str | None]], list[dict[str, str]]]:
    """The files to read under ``path`` with the user each belongs to, and the files skipped with why.

    For formats with ``user_folders``, a folder of per-listener subfolders gives each file its
    subfolder's name as the user; every other file belongs to ``user``. A ``user`` given owns every
    file: one person's export often holds subfolders of its own (``MyData/``, ``Spotify Account Data/``).
    """
    if not path.exists():
        raise ImportFormatError(f"{path} does not exist")
    skipped: list[dict[str, str]] = []
    if path.is_file():
        files = [(path, user)]
    else:
        everything = sorted(p for p in path.rglob("*") if p.is_file())
        found = [p for p in everything if _matches(p, fmt.patterns)]
        looked_for = f"{', '.join(fmt.patterns)}, optionally .gz"
        skipped = [{"file": str(p), "reason": f"not a {fmt.name} file name (looked for {looked_for})"}
                   for p in everything if not _matches(p, fmt.patterns)]
        if not found:
            others = ", ".join(p.name for p in everything[:10]) + (" ..." if len(everything) > 10 else "")
            raise ImportFormatError(
                f"no {fmt.name} files under {path} (looked for {looked_for}); "
                + (f"it holds {len(everything)} other files: {others}" if everything else "it holds no files")
            )
        by_folder = fmt.user_folders and user is None
        files = [(p, _folder_user(p.relative_to(path), user) if by_folder else user) for p in found]
    if fmt.needs_user and any(u is None for _, u in files):
        raise ImportFormatError(
            f"{fmt.name} exports carry no user id: pass --user ID, or import a folder of per-listener subfolders"
        )
    return files, skipped


def _folder_user(relative: Path, user: str | None) -> str | None:
    return relative.parts[0] if len(relative.parts) > 1 else user


def _validate_events(frame: pl.DataFrame, now: datetime) -> pl.Expr:
    def bad(cond: pl.Expr, reason: str) -> tuple[pl.Expr, str]:
        return cond.fill_null(False), reason

    checks = [
        bad(pl.col("user_id").is_null() | (pl.col("user_id").str.strip_chars() == ""), "missing user id"),
        bad(~pl.col("user_id").str.contains(USER_ID_PATTERN),
            f"user id must be 1 to {MAX_USER_ID} characters, with no '/', no control character and no space "
            "at either end (what every route of the server accepts)"),
        bad(pl.col("item_id").is_null() | (pl.col("item_id").str.strip_chars() == ""), "missing item id"),
        bad(pl.col("type").is_null(), "missing event type"),
        bad(~pl.col("type").is_in(sorted(EVENT_TYPES)), f"unknown event type (known: {', '.join(sorted(EVENT_TYPES))})"),
        bad(~pl.col("item_kind").is_in(sorted(ITEM_KINDS)), "unknown item kind"),
        bad(pl.col("ms_played") < 0, "negative ms_played"),
        bad(pl.col("ms_played") > MAX_MS_PLAYED, "ms_played over 24 hours"),
        bad(pl.col("count") < 1, "count must be at least 1"),
        bad(pl.col("ts") < EARLIEST, "timestamp before 1990"),
        bad(pl.col("ts") > now + timedelta(days=1), "timestamp in the future"),
    ]
    return _first_reason(checks)


def _validate_entities(key: str) -> pl.Expr:
    cond = pl.col(key).is_null() | (pl.col(key).str.strip_chars() == "")
    return _first_reason([(cond.fill_null(False), f"missing {key}")])


def _floats_in_range(table: str) -> pl.Expr:
    floats = [c for c, t in spec(table).schema.items() if t.is_float()]
    checks = [((~pl.col(c).is_finite() | (pl.col(c).abs() >= MAX_FLOAT)).fill_null(False),
               f"column {c!r} is out of range (a finite number under {MAX_FLOAT:,.0f} is needed)") for c in floats]
    return _first_reason(checks)


def _first_reason(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for cond, reason in reversed(checks):
        expr = pl.when(cond).then(pl.lit(reason)).otherwise(expr)
    return expr


def prepare(
    table: str, frame: pl.DataFrame, fmt: str, file: str, now: datetime, derived: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``frame`` into (valid rows conformed to the table with ids, quarantined rows)."""
    if "_reject" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("_reject"))
    if "_line" not in frame.columns:
        frame = frame.with_row_index("_line", offset=1)
    data = conform(table, frame.drop([c for c in META if c in frame.columns] + (["row_id"] if "row_id" in frame.columns else [])))
    if data.height != frame.height:  # no column of the table at all: rows of nulls, rejected by the reader
        data = data.clear(frame.height)
    key = spec(table).key
    if table == "events":
        data = data.with_columns(
            pl.col("count").fill_null(1),
            pl.col("item_kind").fill_null("track"),
            pl.lit(fmt).alias("source"),
            pl.col("source_file").fill_null(pl.lit(file)),
            pl.lit(now).cast(spec("events").schema["ingested_at"]).alias("ingested_at"),
        )
        reason = _validate_events(data, now)
    elif key is not None:
        reason = _validate_entities(key)
    else:
        reason = pl.lit(None, dtype=pl.String)
    reason = pl.coalesce(reason, _floats_in_range(table))
    reasons = data.select(pl.coalesce(frame["_reject"], reason).alias("reason"))["reason"]
    bad = reasons.is_not_null()
    quarantined = pl.DataFrame(
        {
            "file": pl.Series([file] * int(bad.sum()), dtype=pl.String),
            "line": frame["_line"].filter(bad).cast(pl.Int64),
            "reason": reasons.filter(bad),
            "record": _records(frame, bad),
        }
    )
    good = _with_ids(table, data.filter(~bad))
    if derived:
        # Inferred rows live in their own id space, so a file's own identical row still counts as new.
        good = good.with_columns(row_ids(good.select("row_id", pl.lit(1).alias("derived")), ["row_id", "derived"]))
    return good, quarantined


def _records(frame: pl.DataFrame, bad: pl.Series) -> pl.Series:
    """The quarantined rows as JSON text: the reader's ``_record`` where it gave one, else the columns."""
    if not bad.any():
        return pl.Series([], dtype=pl.String)
    columns = frame.drop([c for c in META if c in frame.columns]).filter(bad)
    encoded = columns.select(pl.struct(pl.all()).struct.json_encode())[:, 0] if columns.width else None
    if "_record" not in frame.columns:
        return encoded if encoded is not None else pl.Series([""] * int(bad.sum()), dtype=pl.String)
    raw = frame["_record"].filter(bad).cast(pl.String)
    return raw if encoded is None else pl.select(pl.coalesce(raw, encoded)).to_series()


def _with_ids(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    if table == "events":
        # Identical records within one file are distinct events (a rapid double skip, an
        # export's repeated row), numbered by occurrence; the same record in two files
        # (overlapping exports, a re-send) gets the same id and is stored once.
        ids = row_ids(frame, EVENT_IDENTITY)
        ranked = np.sort(ids.to_numpy())
        if (ranked[1:] == ranked[:-1]).any():
            base = ids.to_frame()
            occ = base.select(pl.int_range(pl.len(), dtype=pl.Int64).over("row_id").alias("occ"))
            again = row_ids(pl.concat([base, occ], how="horizontal"), ["row_id", "occ"])
            ids = pl.Series("row_id", np.where(occ["occ"].to_numpy() > 0, again.to_numpy(), ids.to_numpy()))
    else:
        ids = row_ids(frame, [c for c in spec(table).schema if c != "row_id"])
    return frame.with_columns(ids)


@dataclass(slots=True)
class _Pending:
    primary: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    derived: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    rows: int = 0


def run_import(
    store: Store,
    fmt: Format,
    path: Path,
    options: ReadOptions | None = None,
    *,
    commit_rows: int = 1_000_000,
    on_progress: Callable[[ImportSummary, int], None] | None = None,
    decide_kinds: bool = True,
) -> ImportSummary:
    """Import ``path`` (a file or folder, files optionally gzip-compressed) into ``store``.

    ``on_progress(summary, total_files)`` is called after every commit; the counts in the
    summary are durable at that point. ``decide_kinds``: then re-decide every item's content
    kind (music, podcast, audiobook, unknown) from all the store holds, new rows included
    (:func:`tastemaker.ingest.kinds.refresh_kinds`); the counts go in ``summary.kinds``.

    >>> run_import(store, FORMATS["spotify-account"], Path("raw/"))  # doctest: +SKIP
    """
    options = options or ReadOptions()
    started = time.perf_counter()
    now = datetime.now(UTC)
    import_id = f"{now:%Y%m%dT%H%M%S}-{fmt.name}-{uuid.uuid4().hex[:6]}"
    files, skipped = discover(path, fmt, options.user)
    summary = ImportSummary(format=fmt.name, path=str(path), import_id=import_id, skipped=skipped)
    pending = _Pending()

    def commit() -> None:
        # The catalog rows that records imply go first, so that a table's own rows (say, a
        # metadata file's show names) win over names inferred from events in entities(); then
        # the primary rows in one atomic commit, so their counts are exact. Derived rows are
        # re-derived on every import, so a crash in between loses nothing.
        primary = {t: pl.concat(fs, how="vertical_relaxed") for t, fs in pending.primary.items() if fs}
        derived = {t: pl.concat(fs, how="vertical_relaxed") for t, fs in pending.derived.items() if fs}
        if derived:
            store.append(derived)
        for t, res in (store.append(primary) if primary else {}).items():
            summary.accepted += res.accepted
            summary.duplicates += res.duplicates
            summary.forgotten += res.forgotten
            stats = summary.tables.setdefault(t, {"accepted": 0, "duplicates": 0})
            stats["accepted"] += res.accepted
            stats["duplicates"] += res.duplicates
        pending.primary.clear()
        pending.derived.clear()
        pending.rows = 0
        summary.seconds = time.perf_counter() - started
        if on_progress:
            on_progress(summary, len(files))

    for file, user in files:
        file_options = ReadOptions(
            user=None if user is None else options.user_prefix + user,
            user_prefix=options.user_prefix,
            mapping=options.mapping,
            table=options.table,
        )
        for batch in fmt.read(file, file_options):
            _take(batch, pending, summary, store, fmt, str(file), now, import_id)
            if pending.rows >= commit_rows:
                commit()
        summary.files += 1
    commit()
    if decide_kinds and summary.accepted:
        summary.kinds = refresh_kinds(store).kinds
    summary.seconds = time.perf_counter() - started
    return summary


def _take(
    batch: ReadBatch,
    pending: _Pending,
    summary: ImportSummary,
    store: Store,
    fmt: Format,
    file: str,
    now: datetime,
    import_id: str,
) -> None:
    quarantine = [
        pl.DataFrame(
            {
                "file": [r.file for r in batch.rejects],
                "line": pl.Series([r.line for r in batch.rejects], dtype=pl.Int64),
                "reason": [r.reason for r in batch.rejects],
                "record": [r.record for r in batch.rejects],
            },
            schema={"file": pl.String, "line": pl.Int64, "reason": pl.String, "record": pl.String},
        )
    ]
    summary.read += len(batch.rejects)
    for problem in [*batch.problems, *(r.reason for r in batch.rejects if r.line is None)]:
        entry = {"file": file, "problem": problem}
        if entry not in summary.problems:
            summary.problems.append(entry)
    for table, frame in batch.primary.items():
        summary.read += frame.height
        good, bad = prepare(table, frame, fmt.name, file, now)
        quarantine.append(bad)
        pending.primary.setdefault(table, []).append(good)
        pending.rows += good.height
    for table, frame in batch.derived.items():
        good, _ = prepare(table, frame, fmt.name, file, now, derived=True)
        pending.derived.setdefault(table, []).append(good)
    rejected = pl.concat(quarantine)
    not_utf8 = rejected.filter(pl.col("reason").str.ends_with(NOT_UTF8))["line"]
    said = any(p["file"] == file and p["problem"].startswith(SOME_NOT_UTF8) for p in summary.problems)
    if not_utf8.len() and not said:
        first = "" if not_utf8.min() is None else f", the first at line {not_utf8.min()}"
        fix = "re-save the file as UTF-8 and import it again (what was imported counts as duplicates)"
        summary.problems.append({"file": file, "problem": f"{SOME_NOT_UTF8}{first}: {fix}"})
    if rejected.height:
        summary.quarantined += rejected.height
        summary.quarantine_file = str(store.write_quarantine(import_id, rejected.with_columns(pl.lit(fmt.name).alias("source"))))
