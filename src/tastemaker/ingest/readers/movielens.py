"""Placeholder: this reader is being written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tastemaker.ingest.pipeline import ReadBatch, ReadOptions

PATTERNS: tuple[str, ...] = ("*.none",)
HETREC_PATTERNS = PATTERNS
LFM1K_PATTERNS = PATTERNS


def _todo(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    raise NotImplementedError(path)


read_hetrec = read_1k = read_listens = read_ratings = read_slice = read_features = read_metadata = read_table = _todo
