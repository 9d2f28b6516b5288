"""Writing a bench's table into ``docs/benchmarks.md`` between its two markers, leaving the rest as it is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def replace_section(doc: Path, begin: str, end: str, title: str, lines: Sequence[str]) -> None:
    """Put ``lines`` (which start with ``begin`` and end with ``end``) in place of ``doc``'s text between the
    markers; a section not there yet is added at the end under ``## title`` (the file too, if missing)."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin not in text:
        text += f"\n## {title}\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    doc.write_text(head + "\n".join(lines) + rest.partition(end)[2])
