"""Podcast metadata CSVs: Spotify shows by category, and episode samples.

Two layouts, told apart by their header:

- shows: ``Parent_Category, Category, Podcast_Name, Description, Publisher, Episode_Count, ID,
  Cover_URL`` → one ``shows`` row per CSV row;
- episodes: ``Podcast Name, Podcast ID, Episode Name, Description`` → one ``episodes`` row per
  CSV row, plus the shows they belong to as derived rows. A description of the form "The show
  description is: S The episode description is: E" is split: E describes the episode, S the show.

Show identity is the Spotify show ID, never the name: ``show_id = "sh:u" + hash("spotify:show:<ID>")``
(the URI-keyed scheme of :mod:`tastemaker.ingest.readers.spotify`, like ``tr:u``/``ep:u``) and
``uri = "spotify:show:<ID>"``. Names are not unique (in the shows-by-category file 69 names, e.g.
"Soccer", belong to several shows) and change over time, so name-only sources (listening
histories: ``sh:`` + hash(name)) can only be matched through ``shows.name``.
``episode_id = "ep:" + hash(show_id, episode name)``.

A show listed under several categories appears in several rows, and every row is a record: each
distinct (show, category) row is stored as a version of the show (``scan("shows")`` keeps them
all, so multi-category membership is not lost), and in ``entities("shows")`` the category of the
show's last row in the file wins. A row identical in every column to an earlier one counts as a
duplicate (the shows-by-category file has 118).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from tastemaker.ingest.delimited import read_whole_csv
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.sniff import hint
from tastemaker.ingest.readers.spotify import _hex_ids
from tastemaker.ingest.records import add_reason

PATTERNS: tuple[str, ...] = ("*podcast*.csv", "*shows*.csv", "*episodes*.csv")

SHOW_COLUMNS = (
    "Parent_Category",
    "Category",
    "Podcast_Name",
    "Description",
    "Publisher",
    "Episode_Count",
    "ID",
    "Cover_URL",
)
EPISODE_COLUMNS = ("Podcast Name", "Podcast ID", "Episode Name", "Description")
_WRAPPED = r"(?s)^\s*The show description is:\s*(.*?)\s*The episode description is:\s*(.*?)\s*$"


def _read_csv(path: Path) -> tuple[pl.DataFrame | None, ReadBatch]:
    """All columns as strings (blank -> null) with ``_line`` and ``_reject``, and what could not be read."""
    raw, batch = read_whole_csv(path)
    if raw is None:
        return None, batch
    data = [c for c in raw.columns if c not in ("_line", "_reject")]
    blank_to_null = (pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c)).alias(c) for c in data)
    return raw.with_columns(blank_to_null), batch


def _show_ids(ids: pl.Series) -> tuple[pl.Series, pl.Series]:
    """``(show_id, uri)`` for a column of Spotify show IDs."""
    uri = pl.DataFrame({"id": ids}).select(pl.format("spotify:show:{}", pl.col("id")).alias("uri"))["uri"]
    return _hex_ids("sh:u", uri).alias("show_id"), uri


def _require(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Reject rows where any of ``columns`` is empty, naming the first."""
    for col in columns:
        frame = frame.with_columns(add_reason(pl.col(col).is_null(), f"empty {col!r}"))
    return frame


def _shows(raw: pl.DataFrame) -> ReadBatch:
    """Rows of the shows-by-category layout → ``shows`` rows."""
    frame = _require(raw, ("ID", "Podcast_Name"))
    count = pl.col("Episode_Count").cast(pl.Float64, strict=False)
    invalid = count.is_null() | (count != count.round()) | (count < 0)
    not_whole = pl.col("Episode_Count").is_not_null() & invalid
    frame = frame.with_columns(add_reason(not_whole, "column 'Episode_Count' is not a whole number"))
    show_id, uri = _show_ids(frame["ID"])
    rows = frame.select(
        show_id,
        pl.col("Podcast_Name").alias("name"),
        pl.col("Publisher").alias("publisher"),
        pl.col("Description").alias("description"),
        pl.col("Category").alias("category"),
        pl.col("Parent_Category").alias("parent_category"),
        count.cast(pl.Int32, strict=False).alias("episode_count"),
        uri,
        pl.col("Cover_URL").alias("cover_url"),
        "_line",
        "_reject",
    )
    # Identical rows are stored once, at their first occurrence; move each to its last one so
    # that the file's last row of a show is also its last stored version (whose category wins).
    data = [c for c in rows.columns if not c.startswith("_")]
    rows = rows.sort(pl.col("_line").max().over(data), maintain_order=True)
    return ReadBatch(primary={"shows": rows})


def _episodes(raw: pl.DataFrame) -> ReadBatch:
    """Rows of the episodes layout → ``episodes`` rows, plus the shows they name (derived)."""
    frame = _require(raw, ("Podcast ID", "Podcast Name", "Episode Name"))
    parts = pl.col("Description").str.extract_groups(_WRAPPED)
    frame = frame.with_columns(
        parts.struct.field("1").alias("_show_description"),
        pl.coalesce(parts.struct.field("2"), pl.col("Description")).alias("_description"),
    )
    show_id, uri = _show_ids(frame["Podcast ID"])
    frame = frame.with_columns(show_id, uri)
    episodes = frame.select(
        _hex_ids("ep:", frame["show_id"], frame["Episode Name"]).alias("episode_id"),
        "show_id",
        pl.col("Episode Name").alias("name"),
        pl.col("_description").alias("description"),
        "_line",
        "_reject",
    )
    shows = frame.filter(pl.col("_reject").is_null()).select(
        "show_id",
        pl.col("Podcast Name").alias("name"),
        pl.col("_show_description").alias("description"),
        "uri",
    )
    return ReadBatch(primary={"episodes": episodes}, derived={"shows": shows.unique(maintain_order=True)})


def read_metadata(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one podcast CSV: shows-by-category rows, or episode rows with their shows."""
    raw, read = _read_csv(path)
    if raw is None:
        yield read
        return
    if set(SHOW_COLUMNS) <= set(raw.columns):
        batch = _shows(raw)
    elif set(EPISODE_COLUMNS) <= set(raw.columns):
        batch = _episodes(raw)
    else:
        reason = (
            f"unknown podcast CSV header; expected the shows columns ({', '.join(SHOW_COLUMNS)}) "
            f"or the episodes columns ({', '.join(EPISODE_COLUMNS)})"
        ) + hint("podcasts", raw.columns)
        batch = ReadBatch(rejects=[Reject(str(path), None, reason, ",".join(raw.columns)[:2000])])
    batch.rejects.extend(read.rejects)
    batch.problems.extend(read.problems)
    yield batch
