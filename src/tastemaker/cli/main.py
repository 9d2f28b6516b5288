"""The ``tastemaker`` command: one entry point, a thin command per stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tastemaker.errors import TastemakerError
from tastemaker.settings import Settings

app = typer.Typer(
    name="tastemaker",
    help="A self-hostable personalization engine for music and audio streaming.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


class _State:
    settings: Settings = Settings()


def settings() -> Settings:
    """The settings of this invocation (set by the global options)."""
    return _State.settings


@app.callback()
def main(
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace folder (env TASTEMAKER_WORKSPACE).")
    ] = None,
) -> None:
    """tastemaker: listening events in; playlists, radio and similar items out."""
    _State.settings = Settings.from_env(workspace)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` to stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def print_json(obj: Any) -> None:
    """One JSON object on stdout."""
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def print_frame(title: str, frame: Any) -> None:
    """A frame as a Rich table on stdout."""
    grid = Table(title=title)
    for col in frame.columns:
        grid.add_column(col, justify="right" if frame.schema[col].is_numeric() else "left")
    for row in frame.iter_rows():
        grid.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    out.print(grid)


def open_workspace_store() -> Any:
    """The store of the current workspace (created on first use)."""
    from tastemaker.store import open_store

    s = settings()
    s.workspace.mkdir(parents=True, exist_ok=True)
    return open_store(s.store)


@app.command()
def init() -> None:
    """Create the workspace folder and its store."""
    store = open_workspace_store()
    settings().models_dir.mkdir(parents=True, exist_ok=True)
    out.print(f"workspace ready: [bold]{settings().workspace}[/] (store {store.url})")


@app.command("import")
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

    Counts reported in progress lines are committed: they survive a crash of this process.
    """
    from tastemaker.ingest import ReadOptions, run_import
    from tastemaker.ingest.formats import get_format

    try:
        fmt_ = get_format(fmt)
        pairs = dict(_split_mapping(m) for m in mapping or [])
    except ValueError as exc:
        raise fail(str(exc)) from None
    store = open_workspace_store()
    options = ReadOptions(user=user, user_prefix=user_prefix, mapping=pairs, table=table)
    try:
        if as_json:
            def progress(summary: Any, total: int) -> None:
                err.file.write(orjson.dumps({"progress": {"files": summary.files, "total_files": total,
                                                          "read": summary.read, "accepted": summary.accepted}}).decode() + "\n")
                err.file.flush()

            summary = run_import(store, fmt_, path, options, commit_rows=commit_rows, on_progress=progress)
        else:
            with _progress() as bar:
                task = bar.add_task(f"importing {fmt}", total=None)

                def progress(summary: Any, total: int) -> None:
                    bar.update(task, completed=summary.files, total=total,
                               description=f"importing {fmt}: {summary.read:,} records")

                summary = run_import(store, fmt_, path, options, commit_rows=commit_rows, on_progress=progress)
    except (TastemakerError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(summary.as_dict())
        return
    grid = Table(title=f"import {fmt} {path}", show_header=True)
    for col in ("read", "accepted", "duplicates", "quarantined", "seconds"):
        grid.add_column(col, justify="right")
    grid.add_row(*(f"{getattr(summary, c):,}" for c in ("read", "accepted", "duplicates", "quarantined")),
                 f"{summary.seconds:.1f}")
    out.print(grid)
    if summary.quarantine_file:
        out.print(f"rejected records and their reasons: {summary.quarantine_file}")


def _split_mapping(text: str) -> tuple[str, str]:
    column, sep, source = text.partition("=")
    if not sep or not column or not source:
        raise ValueError(f"--map takes COLUMN=SOURCE_COLUMN, got {text!r}")
    return column.strip(), source.strip()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Count events, users, tracks and artists in the workspace store."""
    from tastemaker.store.stats import store_stats

    counts = store_stats(open_workspace_store())
    if as_json:
        print_json(counts)
        return
    grid = Table(title=f"workspace {settings().workspace}")
    grid.add_column("what")
    grid.add_column("count", justify="right")
    for key, value in counts.items():
        grid.add_row(key, f"{value:,}")
    out.print(grid)


#: ``tastemaker playlist ...``: every playlist surface registers here (pipeline.py, surfaces.py)
playlist_app = typer.Typer(help="Playlists for one listener.", no_args_is_help=True)
def parse_params(given: list[str] | None) -> dict[str, Any]:
    """``["factors=64", "weighting=bm25", "only=[\"als\"]"]`` as a dict: each value JSON where it parses
    (numbers, lists, null), else the text itself; ``ValueError`` for an item without ``=``."""
    params: dict[str, Any] = {}
    for text in given or []:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param takes NAME=VALUE, got {text!r}")
        try:
            params[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[name.strip()] = value.strip()
    return params


app.add_typer(playlist_app, name="playlist")

from tastemaker.cli import generate as _generate  # noqa: E402,F401  (registers `generate`)
from tastemaker.cli import pipeline as _pipeline  # noqa: E402,F401  (registers train/recommend/evaluate/demo)
from tastemaker.cli import splits as _splits  # noqa: E402,F401  (registers split/evaluate-split/compare/tune)
from tastemaker.cli import surfaces as _surfaces  # noqa: E402,F401  (registers playlist daily-mix, home, similar)
from tastemaker.cli import serve as _serve  # noqa: E402,F401  (registers `serve`)
from tastemaker.cli import keys as _keys  # noqa: E402,F401  (registers `keys create|list|revoke`)
from tastemaker.cli import experiments as _experiments  # noqa: E402  (registers `experiment`, `simulate`)

app.add_typer(_experiments.experiment_app, name="experiment")
app.command("simulate")(_experiments.simulate)
