"""``tastemaker search``, and the name lookup every command that takes a track or an artist goes through."""

from __future__ import annotations

from typing import Annotated, Any

import polars as pl
import typer
from rich.markup import escape

from tastemaker.cli.invocation import err, fail, open_workspace_store, out, print_json
from tastemaker.surfaces.search import KINDS, CatalogueSearch, UnknownName


def register(app: typer.Typer) -> None:
    """Add ``search`` to ``app``."""
    app.command()(search)


def search(
    query: Annotated[str, typer.Argument(help="A name, or part of one: a track (\"Back In Black\", \"AC/DC - Back "
                                              "In Black\"), an artist, a podcast show.")],
    kind: Annotated[str | None, typer.Option(help=f"Only one kind: {', '.join(KINDS)}.")] = None,
    limit: Annotated[int, typer.Option(help="How many matches.")] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Tracks, artists and podcast shows whose names match QUERY (fuzzy, accents and case aside), best first,
    with the ids the other commands also take."""
    try:
        found = CatalogueSearch.from_store(open_workspace_store()).search(query, kind, limit)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"query": query, "kind": kind, "matches": [m.as_dict() for m in found]})
        return
    if not found:
        raise fail(f"nothing in the catalogue is named like {query!r}: import listening first (`tastemaker import`)"
                   if not kind else f"no {kind} is named like {query!r}")
    from rich.table import Table

    grid = Table(title=escape(f"search: {query}"))
    for column in ("kind", "name", "by", "listeners", "score", "id"):
        grid.add_column(column, justify="right" if column in ("listeners", "score") else "left")
    for m in found:
        grid.add_row(m.kind, escape(m.name), escape(m.by or ""), f"{m.listeners:,}",
                     f"{m.score:.0f}" + (" exact" if m.exact else ""), escape(m.id))
    out.print(grid)


class Names:
    """Turns the names a person gives on the command line into the ids the models know: an id of the
    catalogue as it is, a name through :meth:`CatalogueSearch.resolve`, which is said on stderr when it is
    not exact; an unknown or ambiguous name ends the command with the closest names.

    The search is built on the first name that is not an id, so commands given ids pay nothing for it.
    """

    def __init__(self, store: Any, tracks: pl.DataFrame | None = None) -> None:
        self.store = store
        self.tracks = store.entities("tracks") if tracks is None else tracks
        known = self.tracks.height > 0
        self.ids = {"track": set(self.tracks["track_id"].to_list()) if known else set(),
                    "artist": set(self.tracks["artist_id"].drop_nulls().to_list()) if known else set()}
        self._search: CatalogueSearch | None = None

    def __call__(self, query: str, kind: str) -> str:
        """The id of the ``kind`` (``track`` or ``artist``) that ``query`` names: an id of the catalogue, or
        one the listening names that the catalogue has no row for, as it is; else a name."""
        if query in self.ids.get(kind, ()):
            return query
        column = "item_id" if kind == "track" else "artist_id"
        if self.store.events().filter(pl.col(column) == query).select(pl.len()).collect().item():
            self.ids.setdefault(kind, set()).add(query)  # an item events name, without a catalogue row
            return query
        if self._search is None:
            self._search = CatalogueSearch.from_store(self.store)
        try:
            found = self._search.resolve(query, kind)
        except UnknownName as exc:
            raise fail(escape(str(exc))) from None
        if found.note:
            err.print(f"[yellow]note:[/] {escape(found.note)}")
        return found.match.id

    def many(self, queries: list[str] | None, kind: str) -> list[str]:
        """:meth:`__call__` of each of ``queries`` (none: an empty list)."""
        return [self(q, kind) for q in queries or []]

    def label(self, item_id: str, kind: str) -> str:
        """How a person reads the ``kind`` ``item_id``: "Name by Artist" for a track, the name for an artist
        (the id where the catalogue has no name)."""
        if not self.tracks.height:
            return item_id
        if kind == "track":
            from tastemaker.surfaces.reasons import display_names

            return display_names(self.tracks.filter(pl.col("track_id") == item_id)).get(item_id, item_id)
        named = self.tracks.filter(pl.col("artist_id") == item_id)["artist_name"].drop_nulls()
        return str(named[0]) if named.len() else item_id
