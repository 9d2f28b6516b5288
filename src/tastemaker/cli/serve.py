"""``tastemaker serve``: the HTTP service on the current workspace, run by uvicorn."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tastemaker.cli.invocation import err, fail, open_workspace_store, settings


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: Annotated[str | None, typer.Option(help="The personal model (default: the pipeline once trained, "
                                              "else als; als or bpr serve every surface).")] = None,
    fallback: Annotated[str, typer.Option(help="The popularity model answering when the personal cannot.")]
    = "popularity",
    access_log: Annotated[bool, typer.Option("--access-log", help="Log a line per request: method, route "
                                             "template, status, time, request id (never the path: it holds "
                                             "user ids).")] = False,
    reload_interval: Annotated[float, typer.Option(help="Seconds between checks for a newly trained or "
                                                   "rolled-back model version to swap in.", min=0.1)] = 5.0,
    impressions_flush: Annotated[float, typer.Option(help="Seconds between writes of served lists to the "
                                                     "store as impressions (a crash loses at most this "
                                                     "much).", min=0.1)] = 2.0,
    ann_above: Annotated[int, typer.Option(help="Catalogs of the personal model with at least this many "
                                           "items are searched through an HNSW graph (hnswlib), smaller "
                                           "ones exactly (docs/retrieval.md).", min=0)] = 200_000,
    explore: Annotated[float, typer.Option(help="Share of for-you slots filled at random from the ranked "
                                           "candidates (epsilon-greedy), each item's propensity logged with "
                                           "its impression for off-policy evaluation; 0: never.", min=0.0,
                                           max=0.99)] = 0.0,
    experiment: Annotated[str | None, typer.Option(help="Run an A/B test of the for-you order under this "
                                                   "name: listeners split by salted hash between --arms; "
                                                   "each list logs its arm (served_by.variant, impressions).")]
    = None,
    arms: Annotated[str, typer.Option(help="The experiment's arms and weights: model (the personal model's "
                                      "order) and ranker (learning to rank).")] = "model=1,ranker=1",
    workers: Annotated[int, typer.Option(help="Server processes sharing the port, each with the models and "
                                         "the listening in memory (kept in step through the store); one "
                                         "per core.", min=1)] = 1,
    rate_limit: Annotated[float, typer.Option(help="Requests a second each API key may make (a burst of "
                                              "twice that), per worker; over it: 429 with Retry-After. "
                                              "0: no limit.", min=0.0)] = 1000.0,
    compact_interval: Annotated[float, typer.Option(help="Seconds between looks at the store's small "
                                                    "segments, merged once there are 32 (docs/store.md).",
                                                    min=0.1)] = 30.0,
    insecure: Annotated[bool, typer.Option("--insecure", help="Serve on an address other than loopback "
                                           "without API keys (refused otherwise): only behind something "
                                           "that checks callers.")] = False,
) -> None:
    """Serve recommendations, similar tracks, radio and event ingest over HTTP (docs/serving.md)."""
    import uvicorn

    from tastemaker.serving import create_app
    from tastemaker.serving.keys import keys_path, read_keys
    from tastemaker.serving.limits import BoundedHttpTools
    from tastemaker.serving.logs import log_config

    settings().workspace.mkdir(parents=True, exist_ok=True)
    path = keys_path(settings().workspace)
    try:
        keys = read_keys(path)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if keys is None and not loopback(host) and not insecure:
        raise fail(f"refusing to serve on {host} without API keys: anyone who can reach it could read every "
                   "listener's lists, forget listeners and reload models. Create keys first (`tastemaker keys "
                   "create --scope read --scope ingest --scope admin`; `tastemaker init` makes an admin key), "
                   "bind to 127.0.0.1, or pass --insecure if something in front of it checks callers")
    if keys is None:
        err.print(f"[bold red]WARNING: no API keys ({path} does not exist): every route is open to anyone "
                  f"who can reach {host}:{port}, including forgetting listeners and reloading models.[/]\n"
                  "[red]Fine on 127.0.0.1 for local use; otherwise `tastemaker keys create --scope read "
                  "--scope ingest --scope admin` first (docs/serving.md, Security).[/]")
    else:
        err.print(f"API keys required: {len(keys)} key(s) in {path}")
    from tastemaker.candidates.registry import default_model

    options = {"personal": model or default_model(settings().models_dir, ("pipeline", "als")), "fallback": fallback, "reload_s": reload_interval,
               "impressions_flush_s": impressions_flush, "access_log": access_log, "ann_above": ann_above,
               "explore": explore, "experiment": _experiment(experiment, arms), "rate_limit": rate_limit,
               "compact_s": compact_interval}
    # uvicorn's own access line has the raw path (user ids) and the client address: always off
    # the httptools protocol with a bound on the request head (431 beyond 64 KiB: serving/limits.py)
    common = {"host": host, "port": port, "access_log": False, "log_config": log_config(access_log),
              "log_level": "info", "http": BoundedHttpTools}
    if workers == 1:
        uvicorn.run(create_app(settings(), **options), **common)
        return
    import os
    import shutil
    import tempfile

    from tastemaker.engine.follow import StoreFollower
    from tastemaker.serving.app import SERVE_OPTIONS
    from tastemaker.serving.workers import run as run_workers

    if not StoreFollower.followable(open_workspace_store()):
        raise fail("--workers above 1 needs the embedded store (the workers follow its manifest)")
    # every worker builds its own app from the environment; their metrics meet in one folder
    shared = tempfile.mkdtemp(prefix="tastemaker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
    os.environ[SERVE_OPTIONS] = json.dumps({**options, "workspace": str(settings().workspace),
                                            "store_url": settings().store_url})
    err.print(f"{workers} workers on {host}:{port}")
    try:
        # each worker on a socket of its own, so the kernel spreads connections over them (serving/workers.py)
        run_workers("tastemaker.serving.app:from_environment", workers, **common)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _experiment(name: str | None, arms: str) -> dict[str, object] | None:
    """``--experiment``/``--arms`` as ``create_app``'s ``experiment`` (None without a name)."""
    if name is None:
        return None
    weights: dict[str, float] = {}
    for part in arms.split(","):
        arm, _, weight = part.partition("=")
        try:
            weights[arm.strip()] = float(weight or 1.0)
        except ValueError:
            raise fail(f"--arms: {part!r} is not ARM=WEIGHT") from None
    from tastemaker.engine.recommend import RankerExperiment

    try:
        RankerExperiment.of(name, weights)
    except ValueError as exc:
        raise fail(f"--arms: {exc}") from None
    return {"name": name, "arms": weights}


def loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything
