"""Precomputed lists: the Discover Weekly batch, the level between the personal model and popularity.

``tastemaker playlist discover-weekly --all --out <workspace>/playlists/discover-weekly`` writes
every listener's playlist to ``playlists.parquet`` (and JSPF beside it). When the personal model
cannot answer a listener (not loaded, broken, does not know them), the server serves their list
from that file, minus what they have played since it was written; only when they have none
does popularity answer. The file is read whole at startup and again whenever it changes
(``serving/reload.py``); a listener's rows are found by binary search, so a lookup costs the same for
a thousand or a million listeners.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl

log = logging.getLogger("tastemaker.engine")

#: where a workspace's batch lists are looked for, relative to the workspace
PRECOMPUTED_DIR = Path("playlists") / "discover-weekly"
PARQUET = "playlists.parquet"
JSPF = "playlists.jspf.jsonl"
#: the batch file's columns the server reads
COLUMNS = ("user_id", "position", "track_id", "name", "artist_name", "score", "reason")
#: ``served_by.model`` of a precomputed answer
MODEL = "discover-weekly-batch"


def stat_key(path: Path) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of the batch file, None when there is none: what tells a reload it changed."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


@dataclass(frozen=True, slots=True)
class Precomputed:
    """Every listener's batch list, sorted by listener and position; empty when there is no file.

    ``version`` names the file by its modification time (UTC), ``error`` says why a file that
    exists could not be used.
    """

    path: Path
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    users: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))
    starts: np.ndarray = field(default_factory=lambda: np.array([0], dtype=np.int64))
    version: str | None = None
    error: str | None = None
    key: tuple[int, int] | None = None

    @classmethod
    def load(cls, path: Path, keep: Precomputed | None = None) -> Precomputed:
        """Read the batch file at ``path``; a missing file gives an empty set, a broken one an ``error``.

        ``keep``: the lists being replaced; when the file is broken they go on answering (with the
        error), as a model version that fails to load leaves the old one answering.
        """
        key = stat_key(path)
        if key is None:
            return cls(path)
        try:
            rows = pl.read_parquet(path, columns=list(COLUMNS)).sort("user_id", "position")
        except Exception as exc:  # a broken or foreign file: serve without it, say why in /readyz
            log.warning("precomputed lists %s not loaded: %s", path, exc)
            error = f"{type(exc).__name__}: {exc}"
            if keep is not None and keep.loaded:
                return replace(keep, error=f"changed file not loaded, kept {keep.version}: {error}", key=key)
            return cls(path, error=error, key=key)
        users, starts = np.unique(rows["user_id"].to_numpy().astype(str), return_index=True)
        version = datetime.fromtimestamp(key[0] / 1e9, UTC).strftime("%Y%m%dT%H%M%SZ")
        return cls(path, rows, users, np.append(starts, rows.height).astype(np.int64), version, key=key)

    @property
    def loaded(self) -> bool:
        """Whether any listener has a list."""
        return len(self.users) > 0

    def describe(self) -> dict[str, object]:
        """What ``/readyz`` reports about the precomputed level."""
        return {"model": MODEL, "version": self.version, "loaded": self.loaded, "error": self.error}

    def for_user(self, user_id: str, heard: pl.DataFrame, n: int) -> pl.DataFrame:
        """Up to ``n`` of ``user_id``'s batch tracks they have not heard since (empty: none left)."""
        at = int(np.searchsorted(self.users, user_id))
        if at >= len(self.users) or self.users[at] != user_id:
            return pl.DataFrame()
        mine = self.rows.slice(int(self.starts[at]), int(self.starts[at + 1] - self.starts[at]))
        fresh = mine.join(heard.select(pl.col("item_id").alias("track_id")), on="track_id", how="anti",
                          maintain_order="left")
        return fresh.head(n).select(pl.col("track_id").alias("item_id"), pl.col("name").alias("title"),
                                    pl.col("artist_name").alias("subtitle"), "score", "reason")


def forget(path: Path, user_id: str) -> int:
    """Remove ``user_id``'s playlist from the batch Parquet and its JSPF file, each replaced atomically.

    Returns the number of Parquet rows removed (0 when the listener had no list or there is no file).
    """
    removed = 0
    if path.exists():
        rows = pl.read_parquet(path)
        kept = rows.filter(pl.col("user_id") != user_id)
        removed = rows.height - kept.height
        if removed:
            _replace(path, lambda tmp: kept.write_parquet(tmp))
    jspf = path.with_name(JSPF)
    if jspf.exists():
        title = f" for {user_id}"
        lines = jspf.read_bytes().splitlines(keepends=True)
        kept_lines = [line for line in lines if not _jspf_title(line).endswith(title)]
        if len(kept_lines) != len(lines):
            _replace(jspf, lambda tmp: tmp.write_bytes(b"".join(kept_lines)))
    return removed


def _jspf_title(line: bytes) -> str:
    try:
        return str(orjson.loads(line)["playlist"]["title"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    """Write a new version of ``path`` next to it, fsync it, rename it over ``path``, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    write(tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
