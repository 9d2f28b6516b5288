"""``tastemaker compact``: merge the store's small segments (``docs/store.md``, *Compaction*)."""

from __future__ import annotations

from typing import Annotated

import typer

from tastemaker.cli.invocation import fail, out, print_json, settings


def register(app: typer.Typer) -> None:
    """Add ``compact`` to ``app``."""
    app.command("compact")(compact)


def compact(
    table: Annotated[list[str] | None, typer.Option("--table", help="A table to compact (repeatable; "
                                                    "default every table).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Merge the store's small segments (each ingest request and impression flush adds one) into a few
    big ones: the same rows, fewer files, so starting a server, forgetting and training read less. Safe
    while a server runs and after a crash at any point."""
    from tastemaker.store import open_store

    store = open_store(settings().store)
    if not hasattr(store, "compact"):
        raise fail(f"the store at {store.url} has nothing to compact")
    try:
        done = [store.compact(t) for t in (table or store.table_names())]
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json([{"table": d.table, "segments_before": d.before, "segments_after": d.after,
                     "rows_merged": d.rows_merged} for d in done])
        return
    for d in done:
        if d.before != d.after:
            out.print(f"{d.table}: {d.before:,} segments → {d.after:,} ({d.rows_merged:,} rows merged)")
    if all(d.before == d.after for d in done):
        out.print("nothing to compact: no table has two small segments to merge")
