"""What every ``tastemaker`` command shares within one invocation: its settings and workspace store,
its consoles and printing, ``--param`` parsing, and the ``playlist`` group.

The command modules import this, never ``cli/main.py``: ``main`` imports them to register their commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tastemaker.settings import Settings

if TYPE_CHECKING:
    from tastemaker.api import Workspace

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

#: ``tastemaker playlist ...``: the playlist surfaces add themselves here in their ``register``
#: (``cli/pipeline.py``, ``cli/surfaces.py``); ``cli/main.py`` adds the group to the app
playlist_app = typer.Typer(help="Playlists for one listener.", no_args_is_help=True)


class _State:
    settings: Settings = Settings()


def use_workspace(workspace: Path | None) -> None:
    """Read this invocation's settings from the environment, ``workspace`` (``--workspace``) over it."""
    _State.settings = Settings.from_env(workspace)


def settings() -> Settings:
    """The settings of this invocation (set by the global options)."""
    return _State.settings


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` to stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def print_json(obj: Any) -> None:
    """One JSON object on stdout."""
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def print_frame(title: str, frame: Any) -> None:
    """A frame as a Rich table on stdout (names print as they are: "[Remaster]" is no markup)."""
    grid = Table(title=escape(title))
    for col in frame.columns:
        grid.add_column(col, justify="right" if frame.schema[col].is_numeric() else "left")
    for row in frame.iter_rows():
        grid.add_row(*(f"{v:.3f}" if isinstance(v, float) else escape(str(v)) for v in row))
    out.print(grid)


def workspace() -> Workspace:
    """The workspace of this invocation, over which every command runs (its store is opened on first use)."""
    from tastemaker.api import Workspace

    return Workspace(settings())


def open_workspace_store() -> Any:
    """The store of the current workspace (created on first use)."""
    return workspace().store


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
