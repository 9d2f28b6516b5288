"""The surfaces listeners see: ``playlist daily-mix``, ``home`` and ``similar``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from tastemaker.cli import pipeline
from tastemaker.cli.invocation import (fail, open_workspace_store, out, playlist_app, print_frame, print_json,
                                       settings)
from tastemaker.features.interactions import interactions


def register(app: typer.Typer) -> None:
    """Add ``home``, ``episodes`` and ``similar`` to ``app``, and ``daily-mix`` to the ``playlist`` group."""
    playlist_app.command("daily-mix")(daily_mix_cmd)
    for command in (home, episodes, similar):
        app.command()(command)


def _vectors(name: str | None) -> tuple[Any, Any]:
    """A trained model that has item vectors, and its item space."""
    from tastemaker.surfaces.reasons import ItemSpace

    model = pipeline._load(name)
    vectors = model.item_vectors()
    if vectors is None:
        raise fail(f"{model.name} has no item vectors; train the pipeline or als (`tastemaker train als`)")
    return model, ItemSpace(model.item_ids, vectors)


def _catalog(store: Any) -> tuple[pl.DataFrame, dict[str, str], dict[str, str]]:
    tracks = store.entities("tracks")
    if tracks.is_empty():
        return tracks, {}, {}
    artists = dict(zip(tracks["track_id"].to_list(), tracks["artist_id"].to_list(), strict=True))
    names = tracks.select("artist_id", "artist_name").drop_nulls().unique("artist_id")
    return tracks, artists, dict(zip(names["artist_id"].to_list(), names["artist_name"].to_list(), strict=True))


def _ordering(store: Any) -> Any:
    """Order each mix by transitions when the store has audio features (else keep the mix order)."""
    features = store.entities("audio_features")
    if features.is_empty():
        return None
    from tastemaker.surfaces.ordering import order_playlist

    return lambda mix: order_playlist(mix, features)


def daily_mixes_for(store: Any, users: list[str] | None, model_name: str | None) -> pl.DataFrame:
    """Daily Mixes of ``users`` (every listener when ``None``) from the store and a trained model."""
    from tastemaker.surfaces.daily_mix import DailyMixes
    from tastemaker.surfaces.reasons import display_names

    model, space = _vectors(model_name)
    events = store.events()
    if users is not None:
        events = events.filter(pl.col("user_id").is_in(users))
    history = interactions(events)
    if history.is_empty():
        return history
    tracks, artists, artist_names = _catalog(store)
    users = users if users is not None else history["user_id"].unique().sort().to_list()
    candidates = model.recommend(users, k=300, exclude=history.select("user_id", "item_id"))
    mixes = DailyMixes(space, artists, artist_names, order=_ordering(store), names=display_names(tracks))
    return mixes.batch(users, history.select("user_id", "item_id", pl.col("recency").alias("weight")), candidates)


def daily_mix_cmd(
    user: Annotated[str | None, typer.Option(help="The listener's id.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every listener in the store (batch).")] = False,
    out_dir: Annotated[str, typer.Option("--out", help="Batch output folder (Parquet + JSPF).")] = "daily-mixes",
    model: Annotated[str | None, typer.Option(help="A trained model with item vectors (default: the pipeline once "
                                                   "trained, else als).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """USER's Daily Mixes (taste clusters, mostly familiar, a few new), or every listener's with --all."""
    if (user is None) == (not all_users):
        raise fail("give either --user USER or --all")
    store = open_workspace_store()
    mixes = daily_mixes_for(store, None if all_users else [str(user)], model)
    if all_users:
        from tastemaker.surfaces.discover_weekly import write_playlists

        tracks = store.entities("tracks")
        rows = (mixes.with_columns((pl.col("user_id") + " / " + pl.col("mix_name")).alias("user_id"))
                .join(tracks.select(pl.col("track_id").alias("item_id"), "name", "artist_name"), on="item_id",
                      how="left").rename({"item_id": "track_id"}))
        paths = write_playlists(rows, Path(out_dir), "Daily Mix")
        summary = {"users": mixes["user_id"].n_unique() if mixes.height else 0,
                   "mixes": mixes.select("user_id", "mix").n_unique() if mixes.height else 0,
                   "tracks": mixes.height, **{k: str(v) for k, v in paths.items()}}
        if as_json:
            print_json(summary)
        else:
            out.print(f"wrote {summary['mixes']:,} Daily Mixes for {summary['users']:,} listeners to {out_dir}")
        return
    if mixes.is_empty():
        raise fail(f"no Daily Mix for {user}: the model knows none of their tracks (new listener?)")
    tracks = store.entities("tracks")
    named = mixes.join(tracks.select(pl.col("track_id").alias("item_id"), "name", "artist_name"), on="item_id",
                       how="left", maintain_order="left") if tracks.height else mixes
    if as_json:
        print_json({"user": user, "playlist": "daily-mix", "mixes": [
            {"mix": n, "name": name, "description": d, "tracks": rows.drop("user_id", "mix", "mix_name", "description")
             .to_dicts()} for (n, name, d), rows in named.group_by("mix", "mix_name", "description", maintain_order=True)]})
        return
    for (_, name, description), rows in named.group_by("mix", "mix_name", "description", maintain_order=True):
        columns = [c for c in ("position", "name", "artist_name", "familiar", "reason") if c in rows.columns]
        print_frame(f"{name}: {description}", rows.select(columns))


def home(
    user: Annotated[str, typer.Option(help="The listener's id.")],
    model: Annotated[str | None, typer.Option(help="A trained personal model with item vectors (default: the "
                                                   "pipeline once trained, else als).")] = None,
    chart: Annotated[str, typer.Option(help="A trained chart model for the popular shelf (country, popularity).")]
    = "country",
    cards: Annotated[int, typer.Option(help="Cards per shelf.")] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """USER's home page: shelves ranked for them, cards within shelves, no card twice."""
    from tastemaker.candidates.registry import resolve
    from tastemaker.surfaces.discover_weekly import discover_weekly
    from tastemaker.surfaces.home import HomeSources, standard_shelves
    from tastemaker.surfaces.home import home as build_home

    store = open_workspace_store()
    personal, _ = _vectors(model)
    history = interactions(store.events().filter(pl.col("user_id") == user))
    try:
        resolve(settings().models_dir, chart, None)
        charts = pipeline._load(chart)
    except (ValueError, typer.Exit):
        charts = None
    tracks = store.entities("tracks")
    mixes = daily_mixes_for(store, [user], model) if history.height else None
    discover = discover_weekly(personal, user, history.select("user_id", "item_id"), tracks,
                               history=history.select("user_id", "item_id", pl.col("recency").alias("weight"))) \
        if tracks.height else None
    today = history["last_ts"].max().date() if history.height else date.today()  # type: ignore[union-attr]
    podcasts = episode_cards(store, [user])
    shelves, relevance = standard_shelves(user, HomeSources(personal, history, tracks, charts, mixes, discover,
                                                            podcasts.drop("user_id") if podcasts.height else None,
                                                            today=today))
    page = build_home(user, shelves, relevance, cards=cards)
    if as_json:
        print_json({"user": user, "shelves": [
            {"shelf": key, "title": title, "relevance": rel, "cards": rows.select(
                "card_position", "item_id", "kind", "title", "subtitle", "reason").to_dicts()}
            for (key, title, rel), rows in page.group_by("shelf", "shelf_title", "relevance", maintain_order=True)]})
        return
    for (title,), rows in page.group_by("shelf_title", maintain_order=True):
        print_frame(title, rows.select("card_position", "kind", "title", "subtitle", "reason"))


def episode_cards(store: Any, users: list[str], k: int = 10, encoder: str = "words") -> pl.DataFrame:
    """``user_id`` + home cards of each listener's "Episodes for you"; empty when the store has no episodes."""
    from tastemaker.surfaces.podcasts import EpisodeRecommender

    episodes, shows = store.entities("episodes"), store.entities("shows")
    if episodes.is_empty() or shows.is_empty():
        return pl.DataFrame()
    events = store.events().filter(pl.col("item_kind") == "episode").collect()
    shelf = EpisodeRecommender(encoder=encoder).fit(events, episodes, shows).recommend(users, k=k)
    return shelf.select("user_id", pl.col("episode_id").alias("item_id"), pl.lit("episode").alias("kind"),
                        pl.coalesce("name", "episode_id").alias("title"), pl.col("show_name").alias("subtitle"),
                        pl.col("score").cast(pl.Float64), "reason")


def episodes(
    user: Annotated[str, typer.Option(help="The listener's id.")],
    k: Annotated[int, typer.Option("-k")] = 10,
    encoder: Annotated[str, typer.Option(help="Show similarity from 'words' (TF-IDF) or 'text' (MiniLM, content "
                                              "extra) or 'auto'.")] = "words",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """USER's "Episodes for you": new episodes of their shows, episodes of similar shows, popular ones."""
    try:
        cards = episode_cards(open_workspace_store(), [user], k, encoder)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if cards.is_empty():
        raise fail("the store has no podcast episodes: import them first (`tastemaker import podcasts PATH`)")
    if as_json:
        print_json({"user": user, "episodes": cards.drop("user_id").to_dicts()})
        return
    print_frame(f"Episodes for {user}", cards.select("title", "subtitle", "reason"))


def similar(
    track: Annotated[str | None, typer.Option(help="Tracks like this one.")] = None,
    artist: Annotated[str | None, typer.Option(help="Artists like this one (an artist id).")] = None,
    model: Annotated[str | None, typer.Option(help="A trained model (default: the pipeline once trained, else als; "
                                                   "artists need item vectors).")] = None,
    k: Annotated[int, typer.Option("-k")] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The K tracks most like --track, or the K artists most like --artist, with a reason each."""
    from tastemaker.surfaces.reasons import reason

    if (track is None) == (artist is None):
        raise fail("give either --track TRACK or --artist ARTIST")
    store = open_workspace_store()
    tracks, artists, artist_names = _catalog(store)
    if track is not None:
        trained = pipeline._load(model)
        found = trained.similar_items(track, k=k)
        if found.is_empty():
            raise fail(f"unknown track {track!r}: {trained.name} has never seen it")
        names = dict(zip(tracks["track_id"].to_list(), tracks["name"].to_list(), strict=True)) if tracks.height else {}
        rows = found.with_columns(
            pl.col("item_id").replace_strict(names, default=pl.col("item_id"), return_dtype=pl.String).alias("name"),
            pl.col("item_id").replace_strict(artists, default=None, return_dtype=pl.String)
            .replace_strict(artist_names, default=None, return_dtype=pl.String).alias("artist_name"),
            pl.lit(reason("similar_track", name=names.get(track, track))).alias("reason"))
    else:
        from tastemaker.surfaces.similar import similar_artists

        trained, space = _vectors(model)
        try:
            rows = similar_artists(artist, space, artists, trained.popularity_, trained.items_, k=k)
        except KeyError as exc:
            raise fail(str(exc.args[0])) from None
        rows = rows.with_columns(
            pl.col("artist_id").replace_strict(artist_names, default=pl.col("artist_id"), return_dtype=pl.String)
            .alias("name"),
            pl.lit(reason("similar_artist", name=artist_names.get(artist, artist))).alias("reason"))
    if as_json:
        print_json({"track": track, "artist": artist, "model": model, "similar": rows.to_dicts()})
        return
    print_frame(f"like {track or artist}", rows)
