"""``tastemaker serve``: the HTTP service on the current workspace, run by uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from tastemaker.cli.main import app, settings


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: Annotated[str, typer.Option(help="The personal model (a trained model; als or bpr serve every "
                                       "surface).")] = "als",
    fallback: Annotated[str, typer.Option(help="The popularity model answering when the personal cannot.")]
    = "popularity",
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request line (paths hold user "
                                             "ids: off by default).")] = False,
    reload_interval: Annotated[float, typer.Option(help="Seconds between checks for a newly trained or "
                                                   "rolled-back model version to swap in.", min=0.1)] = 5.0,
    impressions_flush: Annotated[float, typer.Option(help="Seconds between writes of served lists to the "
                                                     "store as impressions (a crash loses at most this "
                                                     "much).", min=0.1)] = 2.0,
) -> None:
    """Serve recommendations, similar tracks, radio and event ingest over HTTP (docs/serving.md)."""
    import uvicorn

    from tastemaker.serving import create_app

    settings().workspace.mkdir(parents=True, exist_ok=True)
    app = create_app(settings(), personal=model, fallback=fallback, reload_s=reload_interval,
                     impressions_flush_s=impressions_flush)
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info")
