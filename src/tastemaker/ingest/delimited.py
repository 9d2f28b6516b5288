"""Delimited text (tab/comma lines, optionally gzip): read in blocks for the Last.fm and MovieLens
readers, or read whole (:func:`read_whole_csv`) for the small CSV files of other formats.

A line with the wrong number of fields becomes a :class:`Reject` carrying the raw line; the
rest become string columns with ``_line`` = the physical line number (a header is line 1).
Bytes are decoded per line as UTF-8 when valid, else latin-1 (older research files mix both).
A gzip stream cut short keeps every complete line before the cut; the rest is one reject,
``file truncated after line N``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from pathlib import Path

import polars as pl

from tastemaker.ingest.pipeline import ReadBatch, Reject
from tastemaker.ingest.readers.raw import NOT_UTF8, CutShort, is_utf8, line_blocks, lossy_utf8, read_all

#: Errors that mean a file (or the rest of it) cannot be read: missing, unreadable, bad gzip.
READ_ERRORS = (OSError, EOFError, zlib.error)
BLOCK_BYTES = 32 << 20
NEWLINE = b"\n"


def _blocks(path: Path) -> Iterator[bytes]:
    """The file's bytes (gunzipped for ``.gz``) in blocks that end at a line break (see :func:`line_blocks`)."""
    return line_blocks(path, BLOCK_BYTES)


def _decode(block: bytes) -> str:
    """UTF-8 text; a block that is not valid UTF-8 is decoded line by line, latin-1 where needed."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return "\n".join(_decode_line(line) for line in block.split(b"\n"))


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def first_line(path: Path) -> str:
    """The first line of a file (decoded as :func:`split_lines` does), without its line break."""
    try:
        for block in _blocks(path):
            return _decode(block.split(b"\n", 1)[0]).removeprefix("\ufeff").rstrip("\r")
    except CutShort as cut:  # a file cut short within its first line: that much of it, if any
        if not cut.tail:
            raise
        return _decode(cut.tail).removeprefix("\ufeff").rstrip("\r")
    return ""


def header_names(line: str) -> list[str]:
    """The names in a header line, tab- or else comma-separated (to say which format a file fits)."""
    return [name.strip().strip('"') for name in line.split("\t" if "\t" in line else ",")]


def _split_block(text: str, first: int, names: Sequence[str], sep: str) -> pl.DataFrame:
    frame = (
        pl.Series("_raw", [text]).str.split("\n").explode().to_frame()
        .with_row_index("_line", offset=first)
        .with_columns(pl.col("_line").cast(pl.Int64), pl.col("_raw").str.strip_suffix("\r"))
        .filter(pl.col("_raw").str.len_bytes() > 0)
    )  # fmt: skip
    fields = pl.col("_raw").str.split_exact(sep, len(names) - 1).struct.rename_fields(list(names))
    return frame.with_columns(
        (pl.col("_raw").str.count_matches(sep, literal=True) + 1).alias("_n"), fields.alias("_f")
    ).unnest("_f")


def split_lines(
    path: Path, names: Sequence[str], *, sep: str = "\t", header: bool = False
) -> Iterator[tuple[pl.DataFrame, list[Reject]]]:
    """Read a delimited text file without quoting, block by block.

    Yields frames with one String column per name plus ``_line`` (physical line number) and
    ``_reject`` (null), and the :class:`Reject` s of lines with the wrong number of fields.
    Blank lines are skipped; with ``header`` the first line is. A headerless file whose first
    block has no well-formed line at all is one reject with line None (it is not this format).
    Raises one of :data:`READ_ERRORS` when the file cannot be read; :class:`CutShort` after the
    complete lines of a file cut short, with ``line`` = the number of its incomplete last line.
    """
    line, file, label, n = 1, str(path), "tab" if sep == "\t" else repr(sep), len(names)
    blocks = _blocks(path)
    for i in count():
        try:
            block = next(blocks)
        except StopIteration:
            return
        except CutShort as cut:
            cut.line = line
            raise
        text = _decode(block)
        frame = _split_block(text.removeprefix("\ufeff") if i == 0 else text, line, names, sep)
        line += block.count(b"\n")
        if i == 0 and header:
            frame = frame.filter(pl.col("_line") > 1)
        bad = frame.filter(pl.col("_n") != n)
        if i == 0 and not header and bad.height and bad.height == frame.height:
            reason = f"not this format: no line has {n} {label}-separated fields ({', '.join(names)})"
            yield frame.clear().select(*names, "_line"), [Reject(file, None, reason, bad["_raw"][0][:2000])]
            return
        rejects = [
            Reject(file, number, f"expected {n} {label}-separated fields, found {found}", raw[:2000])
            for number, found, raw in bad.select("_line", "_n", "_raw").iter_rows()
        ]
        good = frame.filter(pl.col("_n") == n)
        yield good.select(*names, "_line", pl.lit(None, dtype=pl.String).alias("_reject")), rejects


def cannot_read(path: Path, exc: BaseException) -> ReadBatch:
    """The batch for a file that cannot be read at all (one reject with line None), or for the rest
    of a file cut short (one reject at its incomplete line, plus the problem for the summary)."""
    if isinstance(exc, CutShort) and exc.line is not None and exc.line > 1:
        reason = exc.after(f"line {exc.line - 1}")
        rest = Reject(str(path), exc.line, reason, _decode(exc.tail)[:2000])
        return ReadBatch(rejects=[rest], problems=[reason])
    return ReadBatch(rejects=[Reject(str(path), None, f"cannot read file: {exc}", "")])


_ToBatch = Callable[[pl.DataFrame], ReadBatch]


def read_guarded(
    path: Path, names: Sequence[str], to_batch: _ToBatch, *, sep: str = "\t", header: bool = False
) -> Iterator[ReadBatch]:
    """Map each block of :func:`split_lines` to a batch; an unreadable file becomes one reject."""
    try:
        for frame, rejects in split_lines(path, names, sep=sep, header=header):
            batch = to_batch(frame) if frame.height else ReadBatch()
            batch.rejects.extend(rejects)
            yield batch
    except READ_ERRORS as exc:
        yield cannot_read(path, exc)


def blank_to_null(*cols: str) -> list[pl.Expr]:
    """Columns with surrounding whitespace removed and empty strings turned into null."""
    return [pl.col(c).str.strip_chars().replace("", None).alias(c) for c in cols]


def bad_whole(col: str) -> tuple[pl.Expr, str]:
    """A check for :func:`reasons`: ``col`` is missing or not a non-negative whole number."""
    bad = pl.col(col).is_null() | ~pl.col(col).str.contains(r"^\d+$")
    return bad, f"{col} is missing or not a whole number"


def reasons(*checks: tuple[pl.Expr, str]) -> pl.Expr:
    """``_reject``: the reason already set, else the reason of the first check that holds."""
    whens = [pl.when(cond.fill_null(False)).then(pl.lit(reason)) for cond, reason in checks]
    return pl.coalesce(pl.col("_reject"), *whens).alias("_reject")


def user_ids(col: str, prefix: str) -> pl.Expr:
    """User ids from ``col`` (already blank-to-null), with ``prefix`` put before them."""
    return pl.lit(prefix) + pl.col(col) if prefix else pl.col(col)


def read_whole_csv(path: Path) -> tuple[pl.DataFrame | None, ReadBatch]:
    """A small CSV file (header first) read whole: every column a String, with ``_line`` (the record's
    number, from 1) and ``_reject``; and a batch of what could not be read.

    A row that held bytes that are not UTF-8 gets ``_reject`` (:data:`NOT_UTF8`); a gzip stream cut
    short keeps the complete lines before the cut and rejects the rest. The frame is None when the
    file is empty or not CSV at all (then the batch holds the reject). A data column named like
    one of the reader's own (``_line``) is renamed ``_line (column)``.
    """
    file = str(path)
    try:
        data, cut = read_all(path)
    except OSError as exc:
        return None, cannot_read(path, exc)
    batch = ReadBatch()
    if cut is not None:
        end = data.rfind(b"\n") + 1
        if end == 0:
            return None, cannot_read(path, cut)
        reason = cut.after(f"line {data.count(NEWLINE, 0, end)}")
        batch.rejects.append(Reject(file, None, reason, data[end : end + 2000].decode("utf-8", "replace")))
        batch.problems.append(reason)
        data = data[:end]
    lossy = not is_utf8(data)
    if lossy:
        data = lossy_utf8(data)
    if not data.strip():
        return None, batch
    try:
        raw = pl.read_csv(data, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        detail = str(exc).strip().split("\n", 1)[0]
        batch.rejects.append(Reject(file, None, f"file is not valid CSV: {detail}", ""))
        return None, batch
    if not raw.width:
        return None, batch
    raw = raw.rename({c: f"{c} (column)" for c in raw.columns if c.startswith("_")})
    reason = pl.lit(None, dtype=pl.String)
    if lossy:
        not_utf8 = pl.any_horizontal(pl.all().str.contains("\ufffd", literal=True).fill_null(False))
        reason = pl.when(not_utf8).then(pl.lit(f"line is {NOT_UTF8}")).otherwise(reason)
    frame = raw.with_columns(reason.alias("_reject")).with_row_index("_line", offset=1)
    return frame.with_columns(pl.col("_line").cast(pl.Int64)), batch
