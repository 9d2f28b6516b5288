"""Finding items by name: fuzzy search over track, artist and podcast show names, and turning a name a
person typed into the one id a surface needs.

Names are compared by a *key*: Unicode-decomposed, accents dropped, lower-cased, "&" read as "and",
every run of punctuation or space one space ("AC/DC" → "ac dc", "Beyoncé" → "beyonce"). A track is
known by its title, by "artist title" and by "title by artist", and by its title without a trailing
" - ..." or bracketed part ("Back In Black - Remastered", "MIA (feat. Drake)"), so "Back In Black",
"AC/DC - Back In Black" and "back in black by acdc" all name the same track.

A query's score against an entry (0-100) is 100 for an equal key, 99 for an equal key once the
version tag or the spaces are dropped (both *exact*), else the best of RapidFuzz's whole-string ratio,
its word-order-free ratio (x 0.95) and, for names at least as long as the query, its best-aligned part
(x 0.9), capped below 99. Exact matches rank first, by how many listeners each has; then the rest by
score, listeners and name.

:meth:`CatalogueSearch.resolve` picks the one item a name stands for: an id of the catalogue as it
is; otherwise the best match when it is alone at the top (every exact match competes with the others;
a fuzzy best needs :data:`MIN_SCORE` and competes with matches within :data:`MARGIN` points of it), or
when it has at least :data:`DOMINANCE` times the listeners of every other match as good; else
:class:`UnknownName` listing the closest names.

>>> search = CatalogueSearch.from_store(store)  # doctest: +SKIP
>>> search.search("acdc", kind="artist")[0].name  # doctest: +SKIP
'AC/DC'
>>> search.resolve("AC/DC - Back In Black", "track").match.id  # doctest: +SKIP
'tr:…'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

#: what can be searched, in the order the kinds are listed
KINDS = ("track", "artist", "show")
#: the least score (0-100) a fuzzy match needs to stand for a name
MIN_SCORE = 80.0
#: the least score a search lists (a name sharing a few letters with the query is no answer)
LISTED = 50.0
#: fuzzy matches this many points below the best are as good as it: the name is ambiguous between them
MARGIN = 2.0
#: among equally good matches, one with at least this many times the listeners of each other one is meant
DOMINANCE = 2.0
#: the score of a key equal to the query, and of one equal once version tags or spaces are dropped
EXACT, NEAR_EXACT = 100.0, 99.0

_SCHEMA = {"kind": pl.String, "id": pl.String, "name": pl.String, "by": pl.String, "listeners": pl.Int64}


def fold(names: pl.Expr) -> pl.Expr:
    """The comparison key of each name: accents and case dropped, punctuation runs one space.

    >>> pl.select(fold(pl.lit("AC/DC & Beyoncé"))).item()
    'ac dc and beyonce'
    """
    return (names.str.normalize("NFKD").str.replace_all(r"\p{M}+", "").str.to_lowercase()
            .str.replace_all("&", " and ", literal=True).str.replace_all(r"[^\p{L}\p{N}]+", " ")
            .str.strip_chars())


def fold_text(text: str) -> str:
    """:func:`fold` of one string."""
    return str(pl.select(fold(pl.lit(text, dtype=pl.String))).item() or "")


def _base(title: pl.Expr) -> pl.Expr:
    """A title without its trailing " - ..." part and bracketed parts ("Song - Remastered 2011" → "Song")."""
    return title.str.replace(r"\s+-\s+.*$", "").str.replace_all(r"\s*[(\[][^)\]]*[)\]]", "")


@dataclass(frozen=True, slots=True)
class Match:
    """One item found by name: ``kind`` (track, artist, show), its ``id``, ``name``, ``by`` (a track's
    artist, a show's publisher), its distinct ``listeners``, the ``score`` (0-100) and whether the name
    matched ``exact``-ly (case, accents and punctuation aside)."""

    kind: str
    id: str
    name: str
    by: str | None
    listeners: int
    score: float
    exact: bool

    @property
    def label(self) -> str:
        """How a person reads it: "Name by Artist" for a track, the name otherwise."""
        return f"{self.name} by {self.by}" if self.kind == "track" and self.by else self.name

    def as_dict(self) -> dict[str, Any]:
        """The match as a JSON-ready dict."""
        return {"kind": self.kind, "name": self.name, "by": self.by, "id": self.id, "listeners": self.listeners,
                "score": round(self.score, 1), "exact": self.exact}


@dataclass(frozen=True, slots=True)
class Resolved:
    """The item a name stands for, ``how`` it was chosen (``id``, ``exact``, ``closest``, ``most listened``)
    and, unless the name was an id or exact, a ``note`` saying so."""

    match: Match
    how: str
    note: str | None = None


class UnknownName(ValueError):
    """A name that stands for no item, or for several equally well; ``candidates`` are the closest."""

    def __init__(self, message: str, candidates: Sequence[Match]) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class CatalogueSearch:
    """Search by name over a tracks table (``track_id, name, artist_id, artist_name``), an optional shows
    table (``show_id, name[, publisher]``) and an optional ``id, listeners`` table (any kind's ids).

    Built once per catalogue (the keys are computed then); each query is one vectorised pass.
    """

    def __init__(self, tracks: pl.DataFrame, shows: pl.DataFrame | None = None,
                 listeners: pl.DataFrame | None = None, artists: pl.DataFrame | None = None) -> None:
        parts = [pl.DataFrame(schema=_SCHEMA)]
        if tracks.height:
            parts.append(tracks.select(pl.lit("track").alias("kind"), pl.col("track_id").alias("id"),
                                       "name", pl.col("artist_name").alias("by"), pl.lit(0).alias("listeners")))
            parts.append(tracks.select(pl.lit("artist").alias("kind"), pl.col("artist_id").alias("id"),
                                       pl.col("artist_name").alias("name"), pl.lit(None, pl.String).alias("by"),
                                       pl.lit(0).alias("listeners")))
        if artists is not None and artists.height:
            parts.append(artists.select(pl.lit("artist").alias("kind"), pl.col("artist_id").alias("id"), "name",
                                        pl.lit(None, pl.String).alias("by"), pl.lit(0).alias("listeners")))
        if shows is not None and shows.height:
            by = pl.col("publisher") if "publisher" in shows.columns else pl.lit(None, pl.String)
            parts.append(shows.select(pl.lit("show").alias("kind"), pl.col("show_id").alias("id"), "name",
                                      by.alias("by"), pl.lit(0).alias("listeners")))
        entries = (pl.concat([p.cast(_SCHEMA) for p in parts]).drop_nulls(["id", "name"])  # type: ignore[arg-type]
                   .unique(["kind", "id"], keep="first", maintain_order=True))
        if listeners is not None and listeners.height:
            counts = listeners.select(pl.col("id").cast(pl.String), pl.col("listeners").cast(pl.Int64).alias("_n"))
            entries = (entries.join(counts.unique("id"), on="id", how="left", maintain_order="left")
                       .with_columns(pl.col("_n").fill_null(0).alias("listeners")).drop("_n"))
        is_track = pl.col("kind") == "track"
        by_key = fold(pl.col("by")).fill_null("")
        self.entries = entries.with_columns(
            fold(pl.col("name")).alias("key"),
            pl.when(is_track).then(pl.concat_str(by_key, pl.lit(" "), fold(pl.col("name"))).str.strip_chars())
            .otherwise(fold(pl.col("name"))).alias("full"),
            pl.when(is_track).then(pl.concat_str(fold(pl.col("name")), pl.lit(" by "), by_key).str.strip_chars())
            .alias("title_by"),
            pl.when(is_track).then(fold(_base(pl.col("name")))).alias("base"),
        ).with_columns(pl.col("key").str.replace_all(" ", "", literal=True).alias("compact"),
                       pl.col("full").str.replace_all(" ", "", literal=True).alias("full_compact"))

    @classmethod
    def from_store(cls, store: Any) -> CatalogueSearch:
        """The catalogue of ``store``: its tracks, artists and shows, each with its distinct listeners."""
        events = store.events().filter(pl.col("type") != "impression")
        per_item = events.group_by(pl.col("item_id").alias("id")).agg(pl.col("user_id").n_unique().alias("listeners"))
        per_artist = (events.filter(pl.col("artist_id").is_not_null())
                      .group_by(pl.col("artist_id").alias("id")).agg(pl.col("user_id").n_unique().alias("listeners")))
        counted = [per_item.collect(), per_artist.collect()]
        episodes = store.entities("episodes")
        if episodes.height:
            shows_of = episodes.select(pl.col("episode_id").alias("item_id"), "show_id").unique("item_id").lazy()
            counted.append(events.join(shows_of, on="item_id").group_by(pl.col("show_id").alias("id"))
                           .agg(pl.col("user_id").n_unique().alias("listeners")).collect())
        listeners = pl.concat([c.cast({"id": pl.String, "listeners": pl.Int64}) for c in counted])
        return cls(store.entities("tracks"), store.entities("shows"), listeners, store.entities("artists"))

    def _scored(self, query: str, kind: str | None) -> pl.DataFrame:
        """Every entry of ``kind`` (all when ``None``) with its ``score`` and ``exact`` flag against ``query``."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        rows = self.entries if kind is None else self.entries.filter(pl.col("kind") == kind)
        key = fold_text(query)
        if not key or not rows.height:
            return rows.with_columns(pl.lit(0.0).alias("score"), pl.lit(False).alias("exact")).clear()
        compact = key.replace(" ", "")
        tracks = (rows["kind"] == "track").to_numpy()
        fuzzy = _similarity(key, rows["key"])
        fuzzy[tracks] = np.maximum(fuzzy[tracks], _similarity(key, rows["full"].filter(tracks)))
        equal = ((pl.col("key") == key) | (pl.col("full") == key) | (pl.col("title_by") == key)).fill_null(False)
        near = ((pl.col("base") == key) | (pl.col("compact") == compact)
                | (pl.col("full_compact") == compact)).fill_null(False)
        return rows.with_columns(pl.Series("_fuzzy", np.minimum(fuzzy, NEAR_EXACT - 0.5), dtype=pl.Float64)).select(
            *_SCHEMA, pl.when(equal).then(EXACT).when(near).then(NEAR_EXACT).otherwise(pl.col("_fuzzy")).alias("score"),
            (equal | near).alias("exact"))

    def search(self, query: str, kind: str | None = None, limit: int = 10, min_score: float = LISTED) -> list[Match]:
        """The ``limit`` best matches of ``query`` among items of ``kind`` (every kind when ``None``) that score
        ``min_score`` or more, best first.

        >>> [m.label for m in search.search("back in black", kind="track", limit=2)]  # doctest: +SKIP
        ['Back In Black by AC/DC', 'Back to Black by Amy Winehouse']
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        scored = self._scored(query, kind).filter((pl.col("score") >= min_score) & (pl.col("score") > 0))
        rank = pl.when(pl.col("exact")).then(EXACT).otherwise(pl.col("score"))  # exact names by listeners
        ranked = (scored.sort([rank, pl.col("listeners"), pl.col("score"), pl.col("name"), pl.col("id")],
                              descending=[True, True, True, False, False]).head(limit))
        return [Match(**row) for row in ranked.iter_rows(named=True)]

    def resolve(self, query: str, kind: str) -> Resolved:
        """The one item of ``kind`` that ``query`` (an id or a name) stands for; :class:`UnknownName` when
        it stands for none or for several equally well.

        >>> search.resolve("bad buny", "artist").note  # doctest: +SKIP
        '"bad buny" is not an artist name here; using the closest, Bad Bunny (score 94)'
        """
        rows = self.entries.filter((pl.col("kind") == kind) & (pl.col("id") == query))
        if rows.height or not self.entries.filter(pl.col("kind") == kind).height:
            row = rows.row(0, named=True) if rows.height else {"id": query, "name": query, "by": None, "listeners": 0}
            return Resolved(Match(kind, row["id"], row["name"], row["by"], row["listeners"], EXACT, True), "id")
        found = self.search(query, kind, limit=200, min_score=0.0)
        if not found or found[0].score < MIN_SCORE:
            closest = "; ".join(m.label for m in found[:5]) or "none"
            raise UnknownName(f"no {kind} is named {query!r} (closest: {closest}); "
                              f"`tastemaker search {query!r} --kind {kind}` lists more", found[:5])
        best = found[0]
        tied = [m for m in found if (m.exact if best.exact else m.score >= best.score - MARGIN)]
        tied.sort(key=lambda m: -m.listeners)
        if len(tied) == 1:
            how = "exact" if best.exact else "closest"
            note = None if best.exact else (f"{query!r} is not {_article(kind)} name here; using the closest, "
                                            f"{best.label} (score {best.score:.0f})")
            return Resolved(best, how, note)
        top, second = tied[0], tied[1]
        if top.listeners > 0 and top.listeners >= DOMINANCE * second.listeners:
            others = len(tied) - 1
            return Resolved(top, "most listened",
                            f"{query!r} names {len(tied)} {kind}s; using the most listened, {top.label} "
                            f"({top.listeners} listeners; {others} other{'s' if others > 1 else ''} at most "
                            f"{second.listeners})")
        listed = "; ".join(m.label for m in tied[:8]) + ("; ..." if len(tied) > 8 else "")
        hint = "ARTIST - TITLE or the id" if kind == "track" else "the id"
        raise UnknownName(f"{query!r} names {len(tied)} {kind}s equally well: {listed}; give {hint} "
                          f"(`tastemaker search {query!r} --kind {kind}` lists them with ids)", tied)


def _similarity(key: str, choices: pl.Series) -> np.ndarray:
    """0-100 of ``key`` against each of ``choices`` (keys): the best of the whole-string ratio, the
    word-order-free ratio (x 0.95) and, for choices at least as long as ``key``, the best-aligned part
    (x 0.9: a name the query is part of). A choice shorter than the query gets no partial credit, so a
    one-letter name does not match every query that holds its letter."""
    names = choices.to_list()
    whole = process.cdist([key], names, scorer=fuzz.ratio, workers=1)[0]
    order = 0.95 * process.cdist([key], names, scorer=fuzz.token_sort_ratio, workers=1)[0]
    best = np.maximum(whole, order).astype(np.float64)
    longer = (choices.str.len_chars() >= len(key)).to_numpy()
    if longer.any():
        part = process.cdist([key], [n for n, ok in zip(names, longer, strict=True) if ok], scorer=fuzz.partial_ratio,
                             workers=1, score_cutoff=50)[0]
        best[longer] = np.maximum(best[longer], 0.9 * part)
    return best


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
