"""Train, recommend, evaluate and play: the commands after ``import``, and ``demo`` running them all."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from tastemaker.candidates.catalogue import CATALOGUE
from tastemaker.cli.invocation import (err, fail, out, parse_params, playlist_app, print_frame, print_json, settings,
                                       workspace)
from tastemaker.errors import TastemakerError
from tastemaker.evaluation.report import EVALUATED, MIN_LISTENERS, TemporalReport
from tastemaker.surfaces import lists

#: the demo's pipeline: fewer members and settings than ``train pipeline`` tries, so the demo stays quick
DEMO_PIPELINE: dict[str, Any] = {"only": ["history", "itemknn", "als", "artist"], "max_grid": 2}


def register(app: typer.Typer) -> None:
    """Add ``train``, ``recommend``, ``radio``, ``evaluate``, ``demo`` and the ``models`` group to ``app``,
    and ``discover-weekly`` to the ``playlist`` group."""
    for command in (train, recommend, radio, evaluate, demo):
        app.command()(command)
    app.add_typer(models_app, name="models")
    playlist_app.command("discover-weekly")(discover_weekly_cmd)


def train(
    model: Annotated[str, typer.Argument(help=f"One of: {', '.join(CATALOGUE)}, ranker")] = "popularity",
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE, repeatable: the model's config "
                                                    "(e.g. factors=128; `tastemaker models catalogue` lists them).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the time of each phase.")] = False,
) -> None:
    """Train MODEL on every listen in the workspace store and save it (``pipeline``: members, blend and
    ranker chosen on each listener's latest period; ``ranker``: the serving path's learning-to-rank
    model, docs/serving.md)."""
    try:
        trained = workspace().train(model, **parse_params(param))
    except (TastemakerError, ValueError) as exc:  # e.g. an unknown parameter, EASE's memory guard
        raise fail(str(exc)) from None
    seconds = trained.seconds
    if as_json:
        if model == "ranker":
            print_json({"model": model, "version": trained.version, "load_s": seconds["load"],
                        "fit_s": seconds["fit"], **trained.summary})
        else:
            print_json({"model": model, "version": trained.version, "pairs": trained.pairs,
                        **{f"{phase}_s": s for phase, s in seconds.items()}})
        return
    if model == "ranker":
        held = trained.summary["held_out_ndcg@10"]
        out.print(f"trained [bold]ranker[/] {trained.version} on {trained.pairs:,} lists in {seconds['fit']:.1f}s; "
                  f"held-out NDCG@10 {held['ranker']:.4f} (ALS order {held['model_order']:.4f})")
        if held["ranker"] < held["model_order"]:
            err.print(f"[yellow]note:[/] it ranked its {trained.summary['held_out_lists']} held-out listeners worse "
                      "than ALS's own order, so `serve` keeps ALS's order; more listeners, or more listening in "
                      "each one's last week, give it something to learn")
        return
    out.print(f"trained [bold]{model}[/] {trained.version} on {trained.pairs:,} user-item pairs in "
              f"{seconds['fit']:.1f}s (data {seconds['load']:.1f}s)")


models_app = typer.Typer(help="The model registry: trained versions, what they saw, rollback.", no_args_is_help=True)


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every trained version of every model."""
    from tastemaker.candidates.registry import catalogue

    rows = catalogue(settings().models_dir)
    if as_json:
        print_json(rows)
        return
    print_frame("models", pl.DataFrame(
        [{"model": r["name"], "version": r["version"], "latest": "*" if r["latest"] else "", "trained": r["created_at"],
          "code": r.get("code", ""), "pairs": r["data"].get("pairs"), "store version": r["data"].get("store_version")} for r in rows]
        or [{"model": "(none yet: tastemaker train MODEL)"}]))


@models_app.command("catalogue")
def models_catalogue(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every model `tastemaker train` can build, with its parameters and their defaults."""
    rows = [{"model": e.name, "what": e.summary,
             "parameters": ", ".join(f"{k}={v!r}" for k, v in e.create().config.model_dump().items()
                                     if k != "members")} for e in CATALOGUE.values()]
    if as_json:
        print_json(rows)
        return
    print_frame("the model catalogue", pl.DataFrame(rows))


@models_app.command("show")
def models_show(name: str, version: Annotated[str | None, typer.Option()] = None) -> None:
    """One version's parameters, data snapshot and metrics, as JSON."""
    from tastemaker.candidates.registry import describe

    try:
        print_json(describe(settings().models_dir, name, version))
    except ValueError as exc:
        raise fail(str(exc)) from None


@models_app.command("rollback")
def models_rollback(name: str, version: str) -> None:
    """Make an older VERSION of NAME the one in use."""
    from tastemaker.candidates.registry import rollback

    try:
        rollback(settings().models_dir, name, version)
    except ValueError as exc:
        raise fail(str(exc)) from None
    out.print(f"{name} now serves {version}")


def recommend(
    user: Annotated[str, typer.Option(help="The listener's id.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    model: Annotated[str | None, typer.Option(help="A trained model (default: the pipeline once trained, "
                                                   "else als, else popularity).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Top-k items USER has not heard, from a trained model."""
    ws = workspace()
    try:
        trained = ws.model(model)
        recs = ws.recommend(user, k, model)  # knows when the model was trained: a forgotten listener is no one
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"user": user, "model": trained.name,
                    "items": recs.select("item_id", "name", "artist_name", "score", "rank").to_dicts()})
        return
    print_frame(f"{trained.name} for {user}", recs.select("rank", "name", "artist_name", "score"))


def discover_weekly_cmd(
    user: Annotated[str | None, typer.Option(help="The listener's id.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every listener in the store (batch).")] = False,
    out_dir: Annotated[str, typer.Option("--out", help="Batch output folder (Parquet + JSPF).")] = "playlists",
    model: Annotated[str | None, typer.Option(help="A trained model (default: the pipeline once trained, "
                                                   "else als, else popularity).")] = None,
    size: Annotated[int, typer.Option(help="Tracks in the playlist.")] = 30,
    csv_dir: Annotated[Path | None, typer.Option("--csv", help="Also write USER's playlist into this folder as CSV "
                                                               "in Exportify's layout (Soundiiz, TuneMyMusic...).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """USER's Discover Weekly (unheard tracks, at most two per artist), or every listener's with --all."""
    import time

    from tastemaker.surfaces.discover_weekly import write_playlists

    if (user is None) == (not all_users):
        raise fail("give either --user USER or --all")
    if all_users and csv_dir is not None:
        raise fail("--csv writes one listener's playlist: give --user USER (--all writes JSPF with Spotify links)")
    started = time.perf_counter()
    ws = workspace()
    try:
        playlists = ws.discover_weekly(None if all_users else user, size, model)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if all_users:
        paths = write_playlists(playlists, Path(out_dir), "Discover Weekly", ws.store.entities("tracks"))
        users = playlists["user_id"].n_unique()
        summary = {"users": users, "tracks": playlists.height, "seconds": round(time.perf_counter() - started, 2),
                   **{k: str(v) for k, v in paths.items()}}
        if as_json:
            print_json(summary)
        else:
            out.print(f"wrote Discover Weekly for {users:,} listeners to {out_dir} in {summary['seconds']}s")
        return
    if csv_dir is not None:
        from tastemaker.surfaces.exports import described, file_name, write_csv

        written = write_csv(described(playlists, ws.store.entities("tracks")),
                            csv_dir / (file_name(f"Discover Weekly for {user}") + ".csv"))
        err.print(f"wrote {escape(str(written))}")
    if as_json:
        print_json({"user": user, "playlist": "discover-weekly", "tracks": playlists.drop("user_id").to_dicts()})
        return
    print_frame(f"Discover Weekly for {user}", playlists.select("position", "name", "artist_name", "reason"))


def radio(
    seed: Annotated[str | None, typer.Option(help="The track to start from: a name (\"Back In Black\", \"AC/DC - "
                                                  "Back In Black\") or an id.")] = None,
    artist: Annotated[str | None, typer.Option(help="Or an artist, by name or id: starts from their best-known "
                                                    "tracks.")] = None,
    playlist: Annotated[str | None, typer.Option(help="Or a playlist id: starts from its tracks.")] = None,
    model: Annotated[str | None, typer.Option(help="A trained model with item vectors (default: the pipeline once "
                                                   "trained, else als).")] = None,
    played: Annotated[list[str] | None, typer.Option("--played", help="A track of the session, played through "
                                                     "(name or id).")] = None,
    skipped: Annotated[list[str] | None, typer.Option("--skipped", help="A track of the session, skipped (name or "
                                                      "id).")] = None,
    k: Annotated[int, typer.Option("-k")] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The next K tracks of a radio from --seed, --artist or --playlist; --played / --skipped tracks steer it.
    Tracks and artists go by name (an exact name wins, else the closest, said on stderr) or by id."""
    from tastemaker.cli.search import Names

    if sum(x is not None for x in (seed, artist, playlist)) != 1:
        raise fail("give one of --seed TRACK, --artist ARTIST or --playlist PLAYLIST")
    ws = workspace()
    names = Names(ws.store)
    seed = None if seed is None else names(seed, "track")
    artist = None if artist is None else names(artist, "artist")
    played, skipped = names.many(played, "track"), names.many(skipped, "track")
    try:
        queue, label = lists.radio(ws.store, ws.model(model), seed=seed, artist=artist, playlist=playlist,
                                   played=played or (), skipped=skipped or (), k=k)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"seed": seed, "artist": artist, "playlist": playlist, "model": model, "title": label,
                    "tracks": queue.to_dicts()})
        return
    print_frame(f"radio from {label}", queue.select("position", "name", "artist_name", "reason"))


def evaluate(
    test_days: Annotated[float, typer.Option(help="The last N days are the test period.")] = 7.0,
    k: Annotated[int, typer.Option("-k")] = 10,
    models: Annotated[list[str] | None, typer.Option("--model", help=f"Repeatable; default {', '.join(EVALUATED)}. "
                                                      f"Any of: {', '.join(CATALOGUE)}.")] = None,
    protocol: Annotated[str, typer.Option(help="Where to cut: global (one instant for everyone), per-listener "
                                          "(each listener's own last days) or auto (per listener when most "
                                          "listeners have nothing in the store's last days).")] = "auto",
    min_listeners: Annotated[int, typer.Option(help="Print no table when fewer listeners can be scored.")]
    = MIN_LISTENERS,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Train models on the music before the cut and score the tracks each listener heard for the first time
    after it (docs/evaluation.md, *Your own store*)."""
    from tastemaker.evaluation.report import temporal_report

    try:
        report = temporal_report(workspace().store, test_days, k, tuple(models or EVALUATED), protocol=protocol,
                                 min_listeners=min_listeners)
    except (TastemakerError, ValueError) as exc:
        raise fail(str(exc)) from None
    for note in report.notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    if as_json:
        print_json(report.as_dict())
        return
    _print_results(report, k)


def _print_results(report: TemporalReport, k: int) -> None:
    first = next(iter(report.models.values()))
    metrics = [m for m in first if m != "users" and not m.endswith(("_low", "_high"))]
    grid = Table(title=f"{report.protocol} cut, {report.cut}; tracks new to each listener "
                       f"({report.listeners:,} listeners; ndcg@{k} with a 95 % interval over listeners)")
    grid.add_column("model")
    for m in metrics:
        grid.add_column(m, justify="right")
    for name, row in report.models.items():
        cells = [f"{row[m]:.4f}" for m in metrics]
        cells[metrics.index(f"ndcg@{k}")] += f" [{row[f'ndcg@{k}_low']:.4f}, {row[f'ndcg@{k}_high']:.4f}]"
        grid.add_row(name, *cells)
    out.print(grid)


def demo(
    users: Annotated[int, typer.Option(help="Listeners in the generated world.")] = 2_000,
    seed: Annotated[int, typer.Option(help="World seed.")] = 0,
) -> None:
    """The main job end to end on the embedded store: generate, import, train, playlist, evaluate."""
    from tastemaker.evaluation.report import temporal_report
    from tastemaker.simulate import World, WorldConfig, write_world

    ws = workspace()
    world_dir = ws.path / "world"
    out.rule("1. generate a listener world")
    summary = write_world(World(WorldConfig(seed=seed, n_users=users)), world_dir, "parquet").as_dict()
    out.print({k: v for k, v in summary.items() if k in ("users", "tracks", "artists", "events", "seconds")})
    out.rule("2. import it into the embedded store")
    imported = ws.import_(world_dir, "table")
    out.print(f"read {imported.read:,} = accepted {imported.accepted:,} + duplicates {imported.duplicates:,}"
              f" + quarantined {imported.quarantined:,} in {imported.seconds:.1f}s")
    out.print(ws.stats())
    out.rule("3. train the popularity baseline, ALS and the pipeline")
    for name, params in (("popularity", {}), ("als", {}), ("pipeline", DEMO_PIPELINE)):
        trained = ws.train(name, **params)
    out.print(f"trained popularity, als and a quick pipeline ({DEMO_PIPELINE}) on {trained.pairs:,} "
              "user-track pairs; `tastemaker train pipeline` tries every member and setting")
    out.rule("4. one listener's Discover Weekly (the pipeline)")
    user = _demo_user(ws.store.events())
    playlist = ws.discover_weekly(user, model="pipeline")
    print_frame(f"Discover Weekly for {user}", playlist.select("position", "name", "artist_name", "reason"))
    out.rule("5. offline evaluation")
    _print_results(temporal_report(ws.store, 7.0, 10), 10)
    out.rule("next: serve it, and watch it run")
    where = ws.path
    out.print(f"tastemaker --workspace {where} serve --model als     # the API on http://127.0.0.1:8000 "
              "(/docs)\n"
              f"  then open http://127.0.0.1:8000/ui                    # the dashboard (open: this workspace "
              "has no API keys yet; `tastemaker keys create --scope admin` adds one)\n"
              f"tastemaker --workspace {where} monitor                 # drift and what the lists led to\n"
              f"tastemaker --workspace {where} loop --once --model als # retrain, gate, promote or keep")


def _demo_user(events: pl.LazyFrame) -> str:
    """A typical listener: the median one by listening volume."""
    from tastemaker.features.interactions import interactions

    per_user = interactions(events).group_by("user_id").agg(pl.col("weight").sum()).sort("weight", "user_id")
    return str(per_user["user_id"][per_user.height // 2])
