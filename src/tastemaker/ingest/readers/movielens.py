"""MovieLens ratings as a generic explicit-feedback source.

- ml-100k ``u.data`` (tab-separated ``user item rating unix_seconds``, no header), and the
  split files of the same shape (``u1.base``, ``ua.test``, ...) when given directly -> items
  ``ml100k:<item>`` (ml-100k numbers its movies on its own);
- ``ratings.csv`` of ml-latest / ml-latest-small / ml-25m (``userId,movieId,rating,timestamp``
  with a header) -> items ``ml:<movieId>``.

Every row becomes a ``rate`` event on a ``movie`` with ``value`` = the rating (0.5 to 5 stars)
at the rating's time. A folder import reads ``u.data`` and ``ratings.csv`` only: the split
files repeat ``u.data``'s ratings, and the other files hold no ratings. User ids are the
files' own, with ``options.user_prefix`` before them (ml-100k and ml-latest number users
independently: give each data set its own prefix when importing both into one store).
``_line`` is the physical line number in the file; a line with the wrong number of fields is
a reject carrying the raw line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from tastemaker.ingest.delimited import (
    READ_ERRORS,
    bad_whole,
    blank_to_null,
    cannot_read,
    first_line,
    header_names,
    read_guarded,
    reasons,
    user_ids,
)
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.sniff import hint

PATTERNS: tuple[str, ...] = ("u.data", "ratings.csv")

UDATA = ("user", "item", "rating", "timestamp")
RATINGS_CSV = ("userId", "movieId", "rating", "timestamp")
MIN_RATING, MAX_RATING = 0.5, 5.0
#: Unix seconds beyond this (year 5138) are taken as a unit mistake, not a time.
MAX_SECONDS = 10**11


def _events(frame: pl.DataFrame, names: tuple[str, ...], item_prefix: str, user_prefix: str) -> ReadBatch:
    """Rating rows (String columns ``names``) -> ``rate`` events with ``_reject`` reasons."""
    user, item, rating, stamp = names
    value, secs = pl.col("_value"), pl.col("_secs")
    frame = frame.with_columns(blank_to_null(*names)).with_columns(
        pl.col(rating).cast(pl.Float64, strict=False).alias("_value"),
        pl.col(stamp).cast(pl.Int64, strict=False).alias("_secs"),
    )
    frame = frame.with_columns(
        reasons(
            bad_whole(user),
            bad_whole(item),
            (value.is_null() | value.is_nan(), f"{rating} is missing or not a number"),
            (~value.is_between(MIN_RATING, MAX_RATING), f"{rating} is outside {MIN_RATING}-{MAX_RATING}"),
            (secs.is_null() | ~secs.is_between(0, MAX_SECONDS), f"{stamp} is missing or not unix seconds"),
        )
    )
    ts = pl.from_epoch(pl.when(pl.col("_reject").is_null()).then(secs), time_unit="s")
    events = frame.select(
        user_ids(user, user_prefix).alias("user_id"),
        ts.dt.replace_time_zone("UTC").dt.cast_time_unit("ms").alias("ts"),
        pl.lit("rate").alias("type"),
        (pl.lit(item_prefix) + pl.col(item)).alias("item_id"),
        pl.lit("movie").alias("item_kind"),
        value.alias("value"),
        "_line",
        "_reject",
    )
    return ReadBatch(primary={"events": events})


def read_ratings(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one MovieLens ratings file: ``u.data``-style TSV, or ``ratings.csv``."""
    prefix = options.user_prefix
    if not path.name.removesuffix(".gz").endswith(".csv"):
        yield from read_guarded(path, UDATA, lambda f: _events(f, UDATA, "ml100k:", prefix))
        return
    try:
        header = first_line(path)
    except READ_ERRORS as exc:
        yield cannot_read(path, exc)
        return
    if [h.strip().strip('"').lower() for h in header.split(",")] != [n.lower() for n in RATINGS_CSV]:
        reason = f"not a MovieLens ratings.csv: header is not {','.join(RATINGS_CSV)}"
        reason += hint("movielens", header_names(header))
        yield ReadBatch(rejects=[Reject(str(path), None, reason, header[:2000])])
        return
    yield from read_guarded(
        path, RATINGS_CSV, lambda f: _events(f, RATINGS_CSV, "ml:", prefix), sep=",", header=True
    )
