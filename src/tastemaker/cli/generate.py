"""``tastemaker generate``: write a seeded synthetic world (catalog, listeners, listening history)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tastemaker.cli.invocation import err, fail, out, print_json, settings


def register(app: typer.Typer) -> None:
    """Add ``generate`` to ``app``."""
    app.command()(generate)


def generate(
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder to write (default: <workspace>/world).")
    ] = None,
    users: Annotated[int, typer.Option(help="Listeners.")] = 2_000,
    tracks: Annotated[int, typer.Option(help="Catalog tracks (about 20 per artist).")] = 20_000,
    days: Annotated[int, typer.Option(help="Days of listening history.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 0,
    events_per_user: Annotated[float, typer.Option(help="Mean plays per listener over the period.")] = 100.0,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object; progress goes to stderr as JSON lines.")
    ] = False,
) -> None:
    """Generate a synthetic listener world: tracks, artists, users, audio features and events.

    Example: tastemaker generate --users 1000000 --events-per-user 10 --format csv -o /tmp/world
    """
    from tastemaker.simulate import World, WorldConfig, write_world
    from tastemaker.simulate.export import FORMATS, Format

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    file_format = cast(Format, fmt)
    try:
        config = WorldConfig(seed=seed, n_users=users, n_tracks=tracks, days=days,
                             events_per_user=events_per_user)
    except ValueError as exc:
        raise fail(_option_names(str(exc))) from None
    target = out_dir or settings().workspace / "world"
    try:
        if as_json:
            summary = write_world(World(config), target, file_format, on_day=_json_progress)
        else:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=err, transient=True) as bar:
                task = bar.add_task("building the world", total=days)

                def progress(done: int, total: int) -> None:
                    """Advance the bar by one simulated day."""
                    bar.update(task, completed=done, total=total, description="simulating days")

                summary = write_world(World(config), target, file_format, on_day=progress)
    except OSError as exc:
        raise fail(f"cannot write the world to {target}: {exc}") from None
    if as_json:
        print_json(summary.as_dict())
        return
    _print_summary(summary.as_dict())


def _option_names(message: str) -> str:
    """Name the CLI options rather than the config fields in a validation message."""
    for field, option in (("n_users", "--users"), ("n_tracks", "--tracks"), ("days", "--days"),
                          ("events_per_user", "--events-per-user")):
        if message.startswith(field + " "):
            return option + message[len(field):]
    return message


def _json_progress(done: int, total: int) -> None:
    err.file.write(orjson.dumps({"progress": {"days": done, "total_days": total}}).decode() + "\n")
    err.file.flush()


def _print_summary(summary: dict[str, Any]) -> None:
    grid = Table(title=f"world written to {summary['out']} ({summary['format']}, seed {summary['seed']})")
    for col in ("users", "tracks", "artists", "events", "plays", "seconds"):
        grid.add_column(col, justify="right")
    grid.add_row(*(f"{summary[c]:,}" for c in ("users", "tracks", "artists", "events", "plays")),
                 f"{summary['seconds']:.1f}")
    out.print(grid)
    files = Table(show_header=True)
    files.add_column("file")
    files.add_column("bytes", justify="right")
    for info in summary["files"].values():
        files.add_row(info["path"], f"{info['bytes']:,}")
    out.print(files)
