"""``tastemaker init``, ``import`` and ``stats``: the workspace folder and what goes into its store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tastemaker.cli.invocation import err, fail, out, print_json, settings, workspace
from tastemaker.errors import TastemakerError


def register(app: typer.Typer) -> None:
    """Add ``init``, ``import`` and ``stats`` to ``app``."""
    app.command()(init)
    app.command("import")(import_)
    app.command()(stats)


def init(
    no_key: Annotated[bool, typer.Option("--no-key", help="Make no admin API key (the server then serves "
                                         "127.0.0.1 only, unless --insecure).")] = False,
) -> None:
    """Create the workspace folder, its store and an admin API key (printed once, stored hashed).

    The key has every scope (read, ingest, admin): `tastemaker serve` then asks every /v1 request for a
    key, so the workspace is closed by default. Make narrower keys with `tastemaker keys create`.
    """
    from tastemaker.api import Workspace
    from tastemaker.serving.keys import create_key, keys_path, read_keys

    made = Workspace.create(settings().workspace, settings().store_url)
    out.print(f"workspace ready: [bold]{made.path}[/] (store {made.store.url})")
    path = keys_path(made.path)
    if no_key or read_keys(path) is not None:
        return
    _, key = create_key(path, ["read", "ingest", "admin"], "admin")
    out.print(f"admin API key (shown this once; stored hashed in {path}, mode 0600):\n{key}\n"
              "send it as `Authorization: Bearer KEY`; `tastemaker keys create` makes narrower ones")


def import_(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="spotify-account, spotify-extended, lastfm-hetrec, "
                                       "lastfm-1k, listenbrainz, movielens, mpd, audio-features, podcasts, table")],
    path: Annotated[Path, typer.Argument(help="A file or a folder; files may be gzip-compressed.")],
    user: Annotated[str | None, typer.Option(help="User id for exports that carry none (Spotify's).")] = None,
    user_prefix: Annotated[str, typer.Option(help="Prefix every user id (keeps data sets apart).")] = "",
    mapping: Annotated[list[str] | None, typer.Option("--map", help="table format: COLUMN=SOURCE_COLUMN, repeatable.")] = None,
    table: Annotated[str, typer.Option(help="table format: the table to load (events, tracks, users, ...).")] = "events",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object; progress goes to stderr as JSON lines.")] = False,
    commit_rows: Annotated[int, typer.Option(help="Rows per durable commit (progress is reported per commit).")] = 1_000_000,
) -> None:
    """Import a file or folder of FORMAT into the workspace store.

    Counts reported in progress lines are committed: they survive a crash of this process. Files of a
    folder that were not read, and files with a problem (a format mismatch, a truncated gzip, text that is
    not UTF-8), are listed; the exit code is 1 when nothing was imported and a file had a problem.
    """
    try:
        pairs = dict(_split_mapping(m) for m in mapping or [])
    except ValueError as exc:
        raise fail(str(exc)) from None
    ws = workspace()

    def run(progress: Any) -> Any:
        return ws.import_(path, fmt, user=user, user_prefix=user_prefix, mapping=pairs, table=table,
                          commit_rows=commit_rows, on_progress=progress)

    try:
        if as_json:
            def progress(summary: Any, total: int) -> None:
                err.file.write(orjson.dumps({"progress": {"files": summary.files, "total_files": total,
                                                          "read": summary.read, "accepted": summary.accepted}}).decode() + "\n")
                err.file.flush()

            summary = run(progress)
        else:
            with _progress() as bar:
                task = bar.add_task(f"importing {fmt}", total=None)

                def progress(summary: Any, total: int) -> None:
                    bar.update(task, completed=summary.files, total=total,
                               description=f"importing {fmt}: {summary.read:,} records")

                summary = run(progress)
    except (TastemakerError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(summary.as_dict())
        if summary.failed:
            raise typer.Exit(1)
        return
    grid = Table(title=f"import {fmt} {path}", show_header=True)
    for col in ("read", "accepted", "duplicates", "quarantined", "seconds"):
        grid.add_column(col, justify="right")
    grid.add_row(*(f"{getattr(summary, c):,}" for c in ("read", "accepted", "duplicates", "quarantined")),
                 f"{summary.seconds:.1f}")
    out.print(grid)
    if summary.kinds:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in summary.kinds.items())
        out.print(f"content kinds: {kinds} (music lists use music only; `tastemaker catalogue kinds` re-decides)")
    if summary.quarantine_file:
        out.print(f"rejected records and their reasons: {summary.quarantine_file}")
    _print_files("skipped", [(s["file"], s["reason"]) for s in summary.skipped])
    _print_files("problems", [(p["file"], p["problem"]) for p in summary.problems])
    if summary.failed:
        raise fail(f"nothing was imported from {escape(str(path))}: see the problems above "
                   "(docs/ingest.md, 'When an import goes wrong')", code=1)


#: lines of skipped files or problems printed before "... and N more" (``--json`` has them all)
SHOWN_FILES = 20


def _print_files(title: str, rows: list[tuple[str, str]]) -> None:
    if not rows:
        return
    out.print(f"[bold]{title}[/] ({len(rows):,} file{'s' if len(rows) != 1 else ''}):")
    for file, why in rows[:SHOWN_FILES]:
        out.print(f"  {escape(file)}: {escape(why)}", soft_wrap=True)
    if len(rows) > SHOWN_FILES:
        out.print(f"  ... and {len(rows) - SHOWN_FILES:,} more (`--json` lists them all)")


def _split_mapping(text: str) -> tuple[str, str]:
    column, sep, source = text.partition("=")
    if not sep or not column or not source:
        raise ValueError(f"--map takes COLUMN=SOURCE_COLUMN, got {text!r}")
    return column.strip(), source.strip()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def stats(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Count events, users, tracks and artists in the workspace store."""
    counts = workspace().stats()
    if as_json:
        print_json(counts)
        return
    grid = Table(title=f"workspace {settings().workspace}")
    grid.add_column("what")
    grid.add_column("count", justify="right")
    for key, value in counts.items():
        grid.add_row(key, f"{value:,}")
    out.print(grid)

