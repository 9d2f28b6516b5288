"""Ingest: readers per source format, validation, quarantine, idempotent commits."""

from tastemaker.ingest.pipeline import Format, ImportSummary, ReadBatch, ReadOptions, Reject, run_import

__all__ = ["Format", "ImportSummary", "ReadBatch", "ReadOptions", "Reject", "run_import"]
