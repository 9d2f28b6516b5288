"""``tastemaker catalogue``: what the items of the workspace store are.

``catalogue kinds`` re-decides every item's content kind (music, podcast, audiobook, unknown;
:mod:`tastemaker.ingest.kinds`) from everything the store holds now — an import does it too, but
metadata imported later (podcast shows, audio features) or new rules change earlier decisions —
and prints how many items each kind and rule holds.
"""

from __future__ import annotations

from typing import Annotated

import polars as pl
import typer

from tastemaker.cli.invocation import fail, open_workspace_store, out, print_frame, print_json
from tastemaker.domain import CONTENT_KINDS

catalogue_app = typer.Typer(help="What the catalogue's items are: music, podcast episodes, audiobooks.",
                            no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``catalogue`` group (``catalogue kinds``) to ``app``."""
    app.add_typer(catalogue_app, name="catalogue")


@catalogue_app.command("kinds")
def kinds(
    show: Annotated[str | None, typer.Option(help="Also list the artists (shows) of this kind: "
                                                  f"{', '.join(sorted(CONTENT_KINDS))}.")] = None,
    limit: Annotated[int, typer.Option(help="How many artists --show lists.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Re-decide every item's content kind (music, podcast, audiobook, unknown) from all the store holds,
    store the changed decisions, and count items per kind and per deciding rule."""
    from tastemaker.ingest.kinds import refresh_kinds

    if show is not None and show not in CONTENT_KINDS:
        raise fail(f"--show takes one of {', '.join(sorted(CONTENT_KINDS))}, got {show!r}")
    store = open_workspace_store()
    refreshed = refresh_kinds(store)
    tracks = store.entities("tracks")
    rules = _by_rule(tracks)
    artists = _artists(tracks, show, limit) if show else None
    if as_json:
        print_json({"kinds": refreshed.kinds, "changed": refreshed.changed, "rules": rules.to_dicts(),
                    **({"artists": artists.to_dicts()} if artists is not None else {})})
        return
    counts = ", ".join(f"{kind} {n:,}" for kind, n in refreshed.kinds.items())
    out.print(f"content kinds: {counts or 'no items'} ({refreshed.changed:,} tracks changed)")
    if rules.height:
        print_frame("tracks by deciding rule", rules)
    if artists is not None:
        print_frame(f"artists decided {show} (most tracks first)", artists)


def _by_rule(tracks: pl.DataFrame) -> pl.DataFrame:
    """``kind, rule, tracks``: how many tracks each rule decided, most first."""
    if "content_kind" not in tracks.columns or not tracks.height:
        return pl.DataFrame(schema={"kind": pl.String, "rule": pl.String, "tracks": pl.UInt32})
    return (tracks.group_by(pl.col("content_kind").alias("kind"), pl.col("content_kind_rule").alias("rule"))
            .agg(pl.len().alias("tracks")).sort(["tracks", "kind", "rule"], descending=[True, False, False]))


def _artists(tracks: pl.DataFrame, kind: str, limit: int) -> pl.DataFrame:
    """``artist, tracks, example``: the artists with most tracks of ``kind``."""
    return (tracks.filter(pl.col("content_kind") == kind)
            .group_by(pl.col("artist_name").alias("artist"))
            .agg(pl.len().alias("tracks"), pl.col("name").sort().first().alias("example"))
            .sort(["tracks", "artist"], descending=[True, False]).head(limit))
