"""Names on the server: tracks, artists and shows found by name, and a name in a request taken for its id.

A person asks for "radio from Bad Bunny", not from ``ar:b5594affbec4ec13``. Every route that takes
a track or an artist takes its id or its name; ``GET /v1/search`` lists the matches of a name. The
matching is the command line's (:class:`~tastemaker.surfaces.search.CatalogueSearch`: accents, case
and punctuation aside, "Artist - Title" and "Title by Artist", typos within a margin), over the
snapshot's catalogue, with each item's distinct listeners from the server's listening state, so that
of two artists called the same the one people listen to is taken (and the answer's ``note`` says so).

The index is built on the first request that needs it (a second or so for 50,000 tracks) and
kept with the snapshot: a catalogue that grows is searched as it is at the next model reload.
"""

from __future__ import annotations

import threading
from typing import Any

import polars as pl

from tastemaker.engine.catalog import Catalog
from tastemaker.engine.errors import UnknownItem
from tastemaker.surfaces.search import EXACT, CatalogueSearch, Match, Resolved, UnknownName


class Lookup:
    """Search and resolve names over one snapshot's catalogue (see the module docstring).

    >>> Lookup(catalog, shows, state.histories).resolve("bad buny", "artist").match.id  # doctest: +SKIP
    'ar:b5594affbec4ec13'
    """

    def __init__(self, catalog: Catalog, shows: pl.DataFrame | None, histories: Any) -> None:
        """``histories``: a callable returning every listener's ``user_id, item_id`` history now."""
        self.catalog = catalog
        self._shows = shows
        self._histories = histories
        self._index: CatalogueSearch | None = None
        self._listeners: dict[str, int] = {}
        self._by_artist: dict[str, list[str]] | None = None
        self._lock = threading.Lock()

    def index(self) -> CatalogueSearch:
        """The search index, built on first use."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    listeners = _listeners(self._histories(), self.catalog.tracks)
                    self._listeners = dict(zip(listeners["id"].to_list(), listeners["listeners"].to_list(),
                                               strict=True))
                    self._index = CatalogueSearch(self.catalog.tracks, self._shows, listeners)
        return self._index

    def search(self, query: str, kind: str | None = None, limit: int = 10) -> list[Match]:
        """The best matches of ``query`` (every kind when ``kind`` is None), best first."""
        return self.index().search(query, kind, limit=limit)

    def resolve(self, query: str, kind: str) -> Resolved:
        """The ``kind`` (track or artist) that ``query``, an id or a name, stands for.

        Raises :class:`~tastemaker.engine.errors.UnknownItem` (404 ``unknown_track`` / ``unknown_artist``)
        naming the closest matches when it stands for none, or for several equally well.
        """
        if kind == "track" and query in self.catalog.titles:  # an id: no index needed
            title, by = self.catalog.titles[query]
            return Resolved(Match("track", query, title, by, 0, EXACT, True), "id")
        if kind == "artist" and query in self.catalog.artist_names:
            return Resolved(Match("artist", query, self.catalog.artist_names[query], None, 0, EXACT, True), "id")
        if kind == "track" and query in self.catalog.artist_names:  # an artist's id where a track's was asked
            raise UnknownItem(f"{query!r} is an artist ({self.catalog.artist_names[query]}), not a track: its similar "
                              f"artists are /v1/artists/{query}/similar, its radio /v1/artists/{query}/radio",
                              "unknown_track")
        try:
            return self.index().resolve(query, kind)
        except UnknownName as exc:
            raise UnknownItem(str(exc), f"unknown_{kind}") from None

    def tracks_of(self, artist_id: str, top: int = 10) -> list[str]:
        """The ``top`` music tracks of ``artist_id`` most listeners played, most played first: an artist
        radio's seeds."""
        self.index()
        if self._by_artist is None:
            by: dict[str, list[str]] = {}
            for track, artist in self.catalog.artists.items():
                if artist is not None and track not in self.catalog.not_music:
                    by.setdefault(artist, []).append(track)
            self._by_artist = by
        mine = self._by_artist.get(artist_id, [])
        return sorted(mine, key=lambda t: -self._listeners.get(t, 0))[:top]


def _listeners(histories: pl.DataFrame, tracks: pl.DataFrame) -> pl.DataFrame:
    """``id, listeners``: the distinct listeners of every played track and of every artist."""
    if histories.is_empty():
        return pl.DataFrame(schema={"id": pl.String, "listeners": pl.Int64})
    pairs = histories.select(pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String)).unique()
    per_track = pairs.group_by(pl.col("item_id").alias("id")).agg(pl.len().cast(pl.Int64).alias("listeners"))
    parts = [per_track]
    if "artist_id" in tracks.columns and tracks.height:
        of = tracks.select(pl.col("track_id").cast(pl.String).alias("item_id"), pl.col("artist_id").cast(pl.String))
        per_artist = (pairs.join(of.drop_nulls(), on="item_id").select("user_id", "artist_id").unique()
                      .group_by(pl.col("artist_id").alias("id")).agg(pl.len().cast(pl.Int64).alias("listeners")))
        parts.append(per_artist)
    return pl.concat(parts)
