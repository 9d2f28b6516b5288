"""The ``tastemaker`` command: one entry point, a thin command per stage.

Every command module adds its commands through its ``register(app)``; :data:`REGISTERS` lists them
in the order ``tastemaker --help`` shows their commands.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from tastemaker.cli import (catalogue, experiments, generate, keys, loop, maintenance, monitoring, pipeline,
                            privacy, search, serve, splits, surfaces, workspace)
from tastemaker.cli.invocation import playlist_app, use_workspace

#: each command module's ``register``: workspace (init, import, stats), maintenance (compact), catalogue (kinds),
#: generate, pipeline
#: (train, recommend, radio, evaluate, demo, models, playlist discover-weekly), splits (evaluate-split, tune,
#: compare, split), surfaces (playlist daily-mix, home, episodes, similar), search, serve, keys, privacy
#: (forget, unforget, models prune), experiments (simulate, experiment), monitoring (monitor), loop
REGISTERS: tuple[Callable[[typer.Typer], None], ...] = (
    workspace.register,
    maintenance.register,
    monitoring.register,
    loop.register,
    catalogue.register,
    generate.register,
    pipeline.register,
    splits.register,
    surfaces.register,
    search.register,
    serve.register,
    keys.register,
    lambda app: privacy.register(app, pipeline.models_app),
    experiments.register,
)


def main(
    workspace_dir: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace folder (env TASTEMAKER_WORKSPACE).")
    ] = None,
) -> None:
    """tastemaker: listening events in; playlists, radio and similar items out."""
    # listening is personal data: everything a command writes is its owner's only (files 0600, folders 0700)
    os.umask(0o077)
    use_workspace(workspace_dir)


app = typer.Typer(
    name="tastemaker",
    help="A self-hostable personalization engine for music and audio streaming.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(main)
app.add_typer(playlist_app, name="playlist")
for _register in REGISTERS:
    _register(app)
