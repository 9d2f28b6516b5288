"""The surfaces listeners see: ``playlist daily-mix``, ``home`` and ``similar``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from tastemaker.cli.invocation import fail, out, playlist_app, print_frame, print_json, workspace


def register(app: typer.Typer) -> None:
    """Add ``home``, ``episodes`` and ``similar`` to ``app``, and ``daily-mix`` to the ``playlist`` group."""
    playlist_app.command("daily-mix")(daily_mix_cmd)
    for command in (home, episodes, similar):
        app.command()(command)


def daily_mix_cmd(
    user: Annotated[str | None, typer.Option(help="The listener's id.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every listener in the store (batch).")] = False,
    out_dir: Annotated[str, typer.Option("--out", help="Batch output folder (Parquet + JSPF).")] = "daily-mixes",
    model: Annotated[str | None, typer.Option(help="A trained model with item vectors (default: the pipeline once "
                                                   "trained, else als).")] = None,
    csv_dir: Annotated[Path | None, typer.Option("--csv", help="Also write each of USER's mixes into this folder as "
                                                               "CSV in Exportify's layout (Soundiiz, TuneMyMusic...).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """USER's Daily Mixes (taste clusters, mostly familiar, a few new), or every listener's with --all."""
    if (user is None) == (not all_users):
        raise fail("give either --user USER or --all")
    if all_users and csv_dir is not None:
        raise fail("--csv writes one listener's mixes: give --user USER (--all writes JSPF with Spotify links)")
    ws = workspace()
    try:
        mixes = ws.daily_mixes(None if all_users else str(user), model)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if all_users:
        from tastemaker.surfaces.discover_weekly import write_playlists

        rows = (mixes.with_columns((pl.col("user_id") + " / " + pl.col("mix_name")).alias("user_id"))
                .rename({"item_id": "track_id"}))
        paths = write_playlists(rows, Path(out_dir), "Daily Mix", ws.store.entities("tracks"))
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
    if csv_dir is not None:
        _write_mixes_csv(mixes, ws.store.entities("tracks"), csv_dir, str(user))
    if as_json:
        print_json({"user": user, "playlist": "daily-mix", "mixes": [
            {"mix": n, "name": name, "description": d, "tracks": rows.drop("user_id", "mix", "mix_name", "description")
             .to_dicts()} for (n, name, d), rows in mixes.group_by("mix", "mix_name", "description", maintain_order=True)]})
        return
    for (_, name, description), rows in mixes.group_by("mix", "mix_name", "description", maintain_order=True):
        columns = [c for c in ("position", "name", "artist_name", "familiar", "reason") if c in rows.columns]
        print_frame(f"{name}: {description}", rows.select(columns))


def _write_mixes_csv(mixes: pl.DataFrame, tracks: pl.DataFrame, folder: Path, user: str) -> None:
    """Each of ``user``'s mixes as ``<mix name> for <user>.csv`` in ``folder`` (Exportify's layout)."""
    from rich.markup import escape

    from tastemaker.cli.invocation import err
    from tastemaker.surfaces.exports import described, file_name, write_csv

    for (name,), rows in described(mixes, tracks).group_by("mix_name", maintain_order=True):
        written = write_csv(rows, folder / (file_name(f"{name} for {user}") + ".csv"))
        err.print(f"wrote {escape(str(written))}")


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
    try:
        page = workspace().home(user, cards, model, chart)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"user": user, "shelves": [
            {"shelf": key, "title": title, "relevance": rel, "cards": rows.select(
                "card_position", "item_id", "kind", "title", "subtitle", "reason").to_dicts()}
            for (key, title, rel), rows in page.group_by("shelf", "shelf_title", "relevance", maintain_order=True)]})
        return
    for (title,), rows in page.group_by("shelf_title", maintain_order=True):
        print_frame(title, rows.select("card_position", "kind", "title", "subtitle", "reason"))


def episodes(
    user: Annotated[str, typer.Option(help="The listener's id.")],
    k: Annotated[int, typer.Option("-k")] = 10,
    encoder: Annotated[str, typer.Option(help="Show similarity from 'words' (TF-IDF) or 'text' (MiniLM, content "
                                              "extra) or 'auto'.")] = "words",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """USER's "Episodes for you": new episodes of their shows, episodes of similar shows, popular ones."""
    try:
        cards = workspace().episodes(user, k, encoder)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"user": user, "episodes": cards.to_dicts()})
        return
    print_frame(f"Episodes for {user}", cards.select("title", "subtitle", "reason"))


def similar(
    track: Annotated[str | None, typer.Option(help="Tracks like this one: a name (\"Back In Black\", \"AC/DC - Back "
                                                   "In Black\") or an id.")] = None,
    artist: Annotated[str | None, typer.Option(help="Artists like this one, by name or id.")] = None,
    model: Annotated[str | None, typer.Option(help="A trained model (default: the pipeline once trained, else als; "
                                                   "artists need item vectors).")] = None,
    k: Annotated[int, typer.Option("-k")] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The K tracks most like --track, or the K artists most like --artist, with a reason each. Both go by
    name (an exact name wins, else the closest, said on stderr) or by id."""
    from tastemaker.cli.search import Names

    if (track is None) == (artist is None):
        raise fail("give either --track TRACK or --artist ARTIST")
    ws = workspace()
    names = Names(ws.store)
    track = None if track is None else names(track, "track")
    artist = None if artist is None else names(artist, "artist")
    try:
        rows = ws.similar(track, artist=artist, k=k, model=model)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"track": track, "artist": artist, "model": model, "similar": rows.to_dicts()})
        return
    seed = names.label(track, "track") if track else names.label(str(artist), "artist")
    if rows.is_empty():
        from rich.markup import escape

        out.print(escape(f"nothing is like {seed} yet: too few of its listeners play other music"))
        return
    shown = [c for c in ("rank", "name", "artist_name", "score", "shared_listeners", "basis", "reason")
             if c in rows.columns]
    print_frame(f"like {seed}", rows.select(shown))
