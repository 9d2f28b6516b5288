"""The bytes of an input file, gunzipped when its name ends in ``.gz``, read as far as they go.

A gzip stream that ends early (a download cut short) or turns corrupt part-way still gives every
byte before the damage; then :class:`CutShort` says why the rest is missing, so that a reader keeps
the records it got and quarantines the rest with the reason. Text is UTF-8: a reader that meets bytes
that are not quarantines those records with :data:`NOT_UTF8` (the exception is the Last.fm and
MovieLens research files, decoded per line as latin-1 where not UTF-8: see
:mod:`tastemaker.ingest.delimited`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Bytes read from disk at a time; gunzipped output comes in pieces of at most this size.
CHUNK = 1 << 20
#: The reason given to a record that holds bytes that are not UTF-8 text.
NOT_UTF8 = "not valid UTF-8 text: re-save the file as UTF-8 and import it again"
#: The start of the file-level problem when records were quarantined for :data:`NOT_UTF8`.
SOME_NOT_UTF8 = "records that are not valid UTF-8 text were quarantined"
_GZIP = 31  # zlib's wbits for a gzip header and trailer


class CutShort(EOFError):
    """The file's content ends before its end: a truncated or corrupt gzip stream.

    ``kind`` is ``"truncated"`` or ``"corrupt"``; ``detail`` says what was found; ``tail`` is the
    incomplete last line when the file was read by lines; ``line`` the number of that line, when known.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"file {kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.tail = b""
        self.line: int | None = None

    def after(self, where: str) -> str:
        """The reason for the unread rest, e.g. ``file truncated after line 57: its gzip stream ends ...``."""
        return f"file {self.kind} after {where}: {self.detail}; what comes before was read"


def chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes in pieces, gunzipped for ``.gz`` (concatenated gzip members too).

    Raises OSError when the file cannot be opened, and :class:`CutShort` after the last good piece
    when a gzip stream ends early or is corrupt.
    """
    with open(path, "rb") as fh:
        if not path.name.endswith(".gz"):
            while piece := fh.read(CHUNK):
                yield piece
            return
        yield from _gunzip(fh)


def _gunzip(fh: BinaryIO) -> Iterator[bytes]:
    inflate: zlib._Decompress | None = None
    members = produced = 0
    # Small reads: a corrupt stretch loses only the output of the read it is in.
    while packed := fh.read(CHUNK >> 4):
        while packed:
            if inflate is None:
                packed = packed.lstrip(b"\0")  # zero padding between or after members, as gzip allows
                if not packed:
                    break
                inflate, members = zlib.decompressobj(_GZIP), members + 1
            try:
                while True:
                    out = inflate.decompress(packed, CHUNK)
                    packed = inflate.unconsumed_tail
                    if out:
                        produced += len(out)
                        yield out
                    if inflate.eof or (not packed and len(out) < CHUNK):
                        break
            except zlib.error as exc:
                if members == 1 and not produced and "header" in str(exc):
                    detail = "it is not gzip-compressed, though its name ends in .gz"
                    raise CutShort("corrupt", detail) from None
                raise CutShort("corrupt", f"its gzip data is damaged ({exc})") from None
            if inflate.eof:
                packed, inflate = inflate.unused_data, None
    if inflate is not None:
        raise CutShort("truncated", "its gzip stream ends early (the file was cut short)")


def read_all(path: Path) -> tuple[bytes, CutShort | None]:
    """The file's whole content and, when it ends early, why (see :func:`chunks`); OSError when unreadable."""
    pieces: list[bytes] = []
    try:
        pieces.extend(chunks(path))
    except CutShort as cut:
        return b"".join(pieces), cut
    return b"".join(pieces), None


def line_blocks(path: Path, size: int) -> Iterator[bytes]:
    """The content in blocks of about ``size`` bytes that end at a line break (the last may not).

    When the content ends early, the complete lines are yielded first, then :class:`CutShort` is
    raised with the incomplete last line in ``tail``.
    """
    buffer = bytearray()
    try:
        for piece in chunks(path):
            buffer += piece
            if len(buffer) >= size:
                cut = buffer.rfind(b"\n") + 1
                if cut:
                    yield bytes(buffer[:cut])
                    del buffer[:cut]
    except CutShort as exc:
        cut = buffer.rfind(b"\n") + 1
        if cut:
            yield bytes(buffer[:cut])
        exc.tail = bytes(buffer[cut:])
        raise
    if buffer:
        yield bytes(buffer)


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def lossy_utf8(data: bytes) -> bytes:
    """``data`` with every byte sequence that is not UTF-8 replaced by U+FFFD (so a parser reads it)."""
    return data.decode("utf-8", errors="replace").encode("utf-8")
