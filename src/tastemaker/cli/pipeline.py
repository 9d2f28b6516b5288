"""Train, recommend, evaluate and play: the commands after ``import``, and ``demo`` running them all."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from tastemaker.candidates.catalogue import CATALOGUE, create, load
from tastemaker.candidates.contract import Recommender
from tastemaker.candidates.data import TrainingData
from tastemaker.ranking.pipeline import Pipeline
from tastemaker.cli.invocation import (fail, open_workspace_store, out, parse_params, playlist_app, print_frame,
                                       print_json, settings)
from tastemaker.errors import TastemakerError
from tastemaker.features.interactions import heard as heard_items
from tastemaker.features.interactions import interactions

#: what `evaluate` and the demo compare (EASE is left out: it refuses catalogs over ~20k tracks)
EVALUATED = ("popularity", "trending", "itemknn", "als")
#: the demo's pipeline: fewer members and settings than ``train pipeline`` tries, so the demo stays quick
DEMO_PIPELINE: dict[str, Any] = {"only": ["history", "itemknn", "als", "artist"], "max_grid": 2}
#: the model the surfaces use when none is named: the pipeline once trained, else these in order
DEFAULT_ORDER = ("pipeline", "als", "popularity")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``recommend``, ``radio``, ``evaluate``, ``demo`` and the ``models`` group to ``app``,
    and ``discover-weekly`` to the ``playlist`` group."""
    for command in (train, recommend, radio, evaluate, demo):
        app.command()(command)
    app.add_typer(models_app, name="models")
    playlist_app.command("discover-weekly")(discover_weekly_cmd)


def _save(name: str, model: Recommender, store: Any, pairs: int, store_version: int | None = None) -> str:
    """Register a trained model with the store snapshot it saw; returns its version. A pipeline's choices
    go into its metrics (`tastemaker models show pipeline`).

    ``store_version``: the version read *before* the training data (a write during training,
    e.g. forgetting a listener, then shows as newer than the model); defaults to the current one.
    """
    from tastemaker.candidates.registry import register

    seen = store.version() if store_version is None else store_version
    data = {"store": store.url, "store_version": seen, "events": store.count("events"), "pairs": pairs}
    metrics = model.summary() if isinstance(model, Pipeline) else None
    return register(settings().models_dir, name, model, data, metrics)


def _make(name: str, params: dict[str, Any] | None = None) -> Recommender:
    try:
        return create(name, **(params or {}))
    except ValueError as exc:
        raise fail(str(exc)) from None


def default_model(root: Path, order: tuple[str, ...] = DEFAULT_ORDER) -> str:
    """The first of ``order`` trained in the registry ``root`` (the last when none is)."""
    return next((n for n in order if (root / n / "LATEST").exists()), order[-1])


def _load(name: str | None, version: str | None = None) -> Recommender:
    """A trained model from the registry; ``None``: the best one trained (:data:`DEFAULT_ORDER`)."""
    from tastemaker.candidates.registry import resolve

    root = settings().models_dir
    name = name or default_model(root)
    try:
        return load(resolve(root, name, version))
    except ValueError as exc:
        raise fail(f"{exc} (workspace {settings().workspace})") from None


def train(
    model: Annotated[str, typer.Argument(help=f"One of: {', '.join(CATALOGUE)}, ranker")] = "popularity",
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE, repeatable: the model's config "
                                                    "(e.g. factors=128; `tastemaker models catalogue` lists them).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the time of each phase.")] = False,
) -> None:
    """Train MODEL on every listen in the workspace store and save it (``pipeline``: members, blend and
    ranker chosen on each listener's latest period; ``ranker``: the serving path's learning-to-rank
    model, docs/serving.md)."""
    import time

    if model == "ranker":
        _train_ranker(as_json)
        return
    try:
        estimator = _make(model, parse_params(param))
    except ValueError as exc:
        raise fail(str(exc)) from None
    started = time.perf_counter()
    store = open_workspace_store()
    seen = store.version()
    data = TrainingData.from_store(store)
    if data.interactions.is_empty():
        raise fail("the store has no listens yet: run `tastemaker import` or `tastemaker generate` first")
    loaded = time.perf_counter()
    try:
        estimator.fit(data)
    except ValueError as exc:  # e.g. EASE's memory guard, missing release dates
        raise fail(str(exc)) from None
    fitted = time.perf_counter()
    version = _save(model, estimator, store, data.interactions.height, seen)
    saved = time.perf_counter()
    if as_json:
        print_json({"model": model, "version": version, "pairs": data.interactions.height,
                    "load_s": round(loaded - started, 3),
                    "fit_s": round(fitted - loaded, 3), "save_s": round(saved - fitted, 3)})
        return
    out.print(f"trained [bold]{model}[/] {version} on {data.interactions.height:,} user-item pairs in {fitted - loaded:.1f}s "
              f"(data {loaded - started:.1f}s)")


def _train_ranker(as_json: bool) -> None:
    """``train ranker``: LambdaRank over ALS candidates, labels from the last week (ranking/online.py)."""
    import time

    from tastemaker.ranking.online import train_online_ranker

    started = time.perf_counter()
    store = open_workspace_store()
    seen = store.version()
    events = store.events().filter(pl.col("type") != "impression").collect()
    tracks = store.entities("tracks")
    artists = (dict(zip(tracks["track_id"].to_list(), tracks["artist_id"].to_list(), strict=True))
               if tracks.height else {})
    loaded = time.perf_counter()
    try:
        ranker = train_online_ranker(events, lambda: create("als"), artists)
    except ValueError as exc:
        raise fail(str(exc)) from None
    fitted = time.perf_counter()
    version = _save("ranker", ranker, store, ranker.meta["train_lists"], seen)
    held = ranker.meta["held_out_ndcg@10"]
    if as_json:
        print_json({"model": "ranker", "version": version, "load_s": round(loaded - started, 3),
                    "fit_s": round(fitted - loaded, 3), **{k: v for k, v in ranker.meta.items() if k != "params"}})
        return
    out.print(f"trained [bold]ranker[/] {version} on {ranker.meta['train_lists']:,} lists in {fitted - loaded:.1f}s; "
              f"held-out NDCG@10 {held['ranker']:.4f} (ALS order {held['model_order']:.4f})")


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
          "pairs": r["data"].get("pairs"), "store version": r["data"].get("store_version")} for r in rows]
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


def _weighted(events: pl.LazyFrame) -> pl.DataFrame:
    """``user_id, item_id, weight``: recency-weighted listens, what "because you played X" picks X from."""
    return interactions(events).select("user_id", "item_id", pl.col("recency").alias("weight"))


def _heard(user: str) -> pl.DataFrame:
    return heard_items(open_workspace_store().events().filter(pl.col("user_id") == user)).collect()


def recommend(
    user: Annotated[str, typer.Option(help="The listener's id.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    model: Annotated[str | None, typer.Option(help="A trained model (default: the pipeline once trained, "
                                                   "else als, else popularity).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Top-k items USER has not heard, from a trained model."""
    trained = _load(model)
    model = trained.name
    recs = trained.recommend([user], k=k, exclude=_heard(user))
    if as_json:
        print_json({"user": user, "model": model, "items": recs.select("item_id", "score", "rank").to_dicts()})
        return
    print_frame(f"{model} for {user}", _named(recs, open_workspace_store().entities("tracks"), "rank", "score"))


def discover_weekly_cmd(
    user: Annotated[str | None, typer.Option(help="The listener's id.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every listener in the store (batch).")] = False,
    out_dir: Annotated[str, typer.Option("--out", help="Batch output folder (Parquet + JSPF).")] = "playlists",
    model: Annotated[str | None, typer.Option(help="A trained model (default: the pipeline once trained, "
                                                   "else als, else popularity).")] = None,
    size: Annotated[int, typer.Option(help="Tracks in the playlist.")] = 30,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """USER's Discover Weekly (unheard tracks, at most two per artist), or every listener's with --all."""

    from tastemaker.surfaces.discover_weekly import discover_weekly, discover_weekly_batch, write_playlists

    if (user is None) == (not all_users):
        raise fail("give either --user USER or --all")
    store = open_workspace_store()
    if all_users:
        import time

        started = time.perf_counter()
        heard = heard_items(store.events()).collect()
        users = heard["user_id"].unique().sort().to_list()
        playlists = discover_weekly_batch(_load(model), users, heard, store.entities("tracks"), size=size,
                                          history=_weighted(store.events()))
        paths = write_playlists(playlists, Path(out_dir), "Discover Weekly")
        summary = {"users": len(users), "tracks": playlists.height, "seconds": round(time.perf_counter() - started, 2),
                   **{k: str(v) for k, v in paths.items()}}
        if as_json:
            print_json(summary)
        else:
            out.print(f"wrote Discover Weekly for {len(users):,} listeners to {out_dir} in {summary['seconds']}s")
        return
    assert user is not None
    playlist = discover_weekly(_load(model), user, _heard(user), store.entities("tracks"), size=size,
                               history=_weighted(store.events().filter(pl.col("user_id") == user)))
    if as_json:
        print_json({"user": user, "playlist": "discover-weekly", "tracks": playlist.to_dicts()})
        return
    print_frame(f"Discover Weekly for {user}", playlist.select("position", "name", "artist_name", "reason"))


def radio(
    seed: Annotated[str | None, typer.Option(help="The track to start from.")] = None,
    artist: Annotated[str | None, typer.Option(help="Or an artist: starts from their best-known tracks.")] = None,
    playlist: Annotated[str | None, typer.Option(help="Or a playlist id: starts from its tracks.")] = None,
    model: Annotated[str | None, typer.Option(help="A trained model with item vectors (default: the pipeline once "
                                                   "trained, else als).")] = None,
    played: Annotated[list[str] | None, typer.Option("--played", help="A track of the session, played through.")] = None,
    skipped: Annotated[list[str] | None, typer.Option("--skipped", help="A track of the session, skipped.")] = None,
    k: Annotated[int, typer.Option("-k")] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The next K tracks of a radio from --seed, --artist or --playlist; --played / --skipped tracks steer it."""
    from tastemaker.surfaces.radio import Played, Radio

    if sum(x is not None for x in (seed, artist, playlist)) != 1:
        raise fail("give one of --seed TRACK, --artist ARTIST or --playlist PLAYLIST")
    trained = _load(model)
    vectors = trained.item_vectors()
    if vectors is None:
        raise fail(f"{trained.name} has no item vectors; train pipeline, als, bpr or item2vec for radio")
    ids = trained.item_ids
    store = open_workspace_store()
    tracks = store.entities("tracks")
    names = dict(zip(tracks["track_id"], tracks["artist_id"], strict=True)) if tracks.height else {}
    seeds, label = _radio_seeds(store, trained, ids, names, seed, artist, playlist)
    label = _radio_label(tracks, seed, artist, label)
    session = [Played(t, False) for t in played or []] + [Played(t, True) for t in skipped or []]
    try:
        queue = Radio(ids, vectors, [names.get(i, i) for i in ids]).next_tracks(seeds, session, k, label=label)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    if as_json:
        print_json({"seed": seed, "artist": artist, "playlist": playlist, "model": model, "tracks": queue.to_dicts()})
        return
    print_frame(f"radio from {label}", _named(queue, tracks, "position", "reason"))


def _named(rows: pl.DataFrame, tracks: pl.DataFrame, first: str, *rest: str) -> pl.DataFrame:
    """``rows`` as a person reads them: ``first``, the track's name and artist, then ``rest`` (ids only
    where the catalogue has no tracks table)."""
    if not tracks.height:
        return rows.select(first, "item_id", *rest)
    named = rows.join(tracks.select(pl.col("track_id").alias("item_id"), "name", "artist_name"), on="item_id",
                      how="left", maintain_order="left")
    return named.select(first, pl.coalesce("name", "item_id").alias("name"), "artist_name", *rest)


def _radio_label(tracks: pl.DataFrame, seed: str | None, artist: str | None, label: str) -> str:
    """What a radio is called: the seed track's "Name by Artist", the artist's name, else ``label``."""
    from tastemaker.surfaces.reasons import display_names

    if seed is not None:
        return display_names(tracks).get(seed, label)
    if artist is not None and "artist_name" in tracks.columns:
        named = tracks.filter(pl.col("artist_id") == artist)["artist_name"].drop_nulls()
        return str(named[0]) if named.len() else label
    return label


def _radio_seeds(store: Any, trained: Any, ids: Any, artists: dict[str, str], seed: str | None, artist: str | None,
                 playlist: str | None, top: int = 10) -> tuple[list[str], str]:
    """The seed tracks of a radio and the name it goes by."""
    import numpy as np

    if seed is not None:
        return [seed], seed
    if artist is not None:
        mine = np.array([artists.get(str(i)) == artist for i in ids])
        if not mine.any():
            raise fail(f"unknown artist {artist!r}: the model knows none of their tracks")
        popularity = getattr(trained, "popularity_", getattr(trained, "counts_", None))
        order = np.flatnonzero(mine)
        if popularity is not None and len(popularity) == len(ids):
            order = order[np.argsort(-np.asarray(popularity)[order], kind="stable")]
        return [str(ids[i]) for i in order[:top]], artist
    rows = store.events().filter(pl.col("playlist_id") == playlist).select("item_id").unique(maintain_order=True)
    found = rows.collect()["item_id"].to_list()
    if not found:
        raise fail(f"unknown playlist {playlist!r}: no event names it")
    return found, str(playlist)


def evaluate(
    test_days: Annotated[float, typer.Option(help="The last N days are the test period.")] = 7.0,
    k: Annotated[int, typer.Option("-k")] = 10,
    models: Annotated[list[str] | None, typer.Option("--model", help=f"Repeatable; default {', '.join(EVALUATED)}. "
                                                      f"Any of: {', '.join(CATALOGUE)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Train models on all but the last TEST_DAYS and score unheard listens after the cut."""
    try:
        results = evaluate_models(open_workspace_store(), test_days, k, tuple(models or EVALUATED))
    except (TastemakerError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(results)
        return
    _print_results(results, test_days, k)


def evaluate_models(store: Any, test_days: float, k: int,
                    names: tuple[str, ...] = EVALUATED) -> dict[str, dict[str, float]]:
    """Metrics@k of each model in ``names`` on a temporal discovery split of ``store``'s events."""
    from tastemaker.evaluation.metrics import evaluate as score
    from tastemaker.evaluation.split import temporal_split

    models = [create(n) for n in names]
    split = temporal_split(store.events(), test_days=test_days, discovery=True)
    if split.test.is_empty():
        raise ValueError(f"no warm user listened to anything new in the last {test_days} days; use more --test-days")
    users = split.test["user_id"].unique().to_list()
    n_items = split.train["item_id"].n_unique()
    results = {}
    data = TrainingData.from_store(store, until=split.cutoff)
    for name, model in zip(names, models, strict=True):
        model.fit(data)
        recs = model.recommend(users, k=k, exclude=split.train.select("user_id", "item_id"))
        results[name] = score(recs, split.test, k=k, n_items=n_items)
    return results


def _print_results(results: dict[str, dict[str, float]], test_days: float, k: int) -> None:
    metrics = [m for m in next(iter(results.values())) if m != "users"]
    users = int(next(iter(results.values()))["users"])
    grid = Table(title=f"temporal split, last {test_days:g} days, unheard items only ({users:,} users)")
    grid.add_column("model")
    for m in metrics:
        grid.add_column(m, justify="right")
    for name, row in results.items():
        grid.add_row(name, *(f"{row[m]:.4f}" for m in metrics))
    out.print(grid)



def demo(
    users: Annotated[int, typer.Option(help="Listeners in the generated world.")] = 2_000,
    seed: Annotated[int, typer.Option(help="World seed.")] = 0,
) -> None:
    """The main job end to end on the embedded store: generate, import, train, playlist, evaluate."""
    from tastemaker.ingest import run_import
    from tastemaker.ingest.formats import FORMATS
    from tastemaker.simulate import World, WorldConfig, write_world
    from tastemaker.store.stats import store_stats

    world_dir = settings().workspace / "world"
    out.rule("1. generate a listener world")
    summary = write_world(World(WorldConfig(seed=seed, n_users=users)), world_dir, "parquet").as_dict()
    out.print({k: v for k, v in summary.items() if k in ("users", "tracks", "artists", "events", "seconds")})
    out.rule("2. import it into the embedded store")
    store = open_workspace_store()
    imported = run_import(store, FORMATS["table"], world_dir)
    out.print(f"read {imported.read:,} = accepted {imported.accepted:,} + duplicates {imported.duplicates:,}"
              f" + quarantined {imported.quarantined:,} in {imported.seconds:.1f}s")
    out.print(store_stats(store))
    out.rule("3. train the popularity baseline, ALS and the pipeline")
    data = TrainingData.from_store(store)
    for name, params in (("popularity", {}), ("als", {}), ("pipeline", DEMO_PIPELINE)):
        _save(name, _make(name, params).fit(data), store, data.interactions.height)
    out.print(f"trained popularity, als and a quick pipeline ({DEMO_PIPELINE}) on {data.interactions.height:,} "
              "user-track pairs; `tastemaker train pipeline` tries every member and setting")
    out.rule("4. one listener's Discover Weekly (the pipeline)")
    from tastemaker.surfaces.discover_weekly import discover_weekly

    user = _demo_user(data.interactions)
    playlist = discover_weekly(_load("pipeline"), user, _heard(user), store.entities("tracks"),
                               history=_weighted(store.events().filter(pl.col("user_id") == user)))
    print_frame(f"Discover Weekly for {user}", playlist.select("position", "name", "artist_name", "reason"))
    out.rule("5. offline evaluation")
    _print_results(evaluate_models(store, 7.0, 10), 7.0, 10)


def _demo_user(data: pl.DataFrame) -> str:
    """A typical listener: the median one by listening volume."""
    per_user = data.group_by("user_id").agg(pl.col("weight").sum()).sort("weight", "user_id")
    return str(per_user["user_id"][per_user.height // 2])
