"""What the import tests read back from an ImportSummary and its quarantine file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tastemaker.ingest import ImportSummary


def counts(summary: ImportSummary) -> tuple[int, int, int, int]:
    """(read, accepted, duplicates, quarantined)."""
    return summary.read, summary.accepted, summary.duplicates, summary.quarantined


def balanced(summary: ImportSummary) -> bool:
    """The import invariant: every record read is accepted, a duplicate or quarantined."""
    return summary.read == summary.accepted + summary.duplicates + summary.quarantined


def quarantine_rows(summary: ImportSummary) -> list[dict[str, Any]]:
    """The quarantine file's rows; each names its file, line, reason and record."""
    assert summary.quarantine_file is not None
    rows = [orjson.loads(line) for line in Path(summary.quarantine_file).read_bytes().splitlines()]
    assert all({"file", "line", "reason", "record"} <= row.keys() for row in rows)
    return rows


def quarantined(summary: ImportSummary) -> dict[tuple[str, int | None], dict[str, Any]]:
    """The quarantine file's rows by (file name, line)."""
    return {(Path(str(row["file"])).name, row["line"]): row for row in quarantine_rows(summary)}
