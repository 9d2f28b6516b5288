"""Where events and the catalog live. Backends are opened by URL from one explicit table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

import polars as pl

from tastemaker.store.lake import AppendResult, ForgetResult, LakeStore
from tastemaker.store.tables import TABLES, TableSpec, conform, spec

__all__ = ["AppendResult", "ForgetResult", "Store", "open_store", "BACKENDS", "TABLES", "TableSpec", "conform", "spec"]


class Store(Protocol):
    """What every backend offers: atomic de-duplicating appends and consistent scans."""

    url: str

    def append(self, frames: Mapping[str, pl.DataFrame]) -> dict[str, AppendResult]: ...
    def write_quarantine(self, name: str, rows: pl.DataFrame) -> Path: ...
    def scan(self, table: str) -> pl.LazyFrame: ...
    def events(self) -> pl.LazyFrame: ...
    def entities(self, table: str) -> pl.DataFrame: ...
    def count(self, table: str) -> int: ...
    def version(self) -> int: ...
    def forget_user(self, user_id: str) -> ForgetResult: ...
    def forgotten_at(self, user_id: str) -> int | None: ...
    def refused(self, user_ids: Iterable[str]) -> set[str]: ...
    def unforget(self, user_id: str) -> bool: ...


def _open_lake(location: str) -> Store:
    return LakeStore(Path(location).expanduser())


#: scheme -> opener. A plain path means ``parquet://``.
BACKENDS: dict[str, Callable[[str], Store]] = {
    "parquet": _open_lake,
}


def open_store(url: str | Path) -> Store:
    """Open (creating if needed) the store at ``url``.

    ``url`` is ``parquet:///abs/path``, ``parquet://rel/path`` or a plain directory path.

    >>> store = open_store("/tmp/tm-store")  # doctest: +SKIP
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return _open_lake(text)
    try:
        opener = BACKENDS[scheme]
    except KeyError:
        raise ValueError(f"unknown store scheme {scheme!r} in {text!r}; known: {', '.join(BACKENDS)}") from None
    return opener(rest)
