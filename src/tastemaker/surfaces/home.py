"""Home: shelves of cards, ranked for the listener, no card twice on the page.

A shelf is a titled row of cards (tracks, playlists, episodes) from one source: *Made for you*
(the listener's Daily Mixes and Discover Weekly), *Jump back in* (recent favourite tracks: music
only, :func:`music_history`), *Because you played X* (tracks like a recent favourite), *Recommended for you* (the personal model),
*Popular in SE* (the country chart), *New releases for you* (recent tracks of artists the
listener plays), *Episodes for you*. How the page is put together:

1. Pinned shelves (*Made for you*) come first, in the order given.
2. The other shelves are ranked by *relevance*: the mean, over a shelf's first cards that are
   tracks, of the listener's personal-model percentile for the track (1 = the model's top
   pick in the catalog, 0 = its last); shelves without track cards get ``neutral``. Ties keep
   the order given.
3. Walking the ranked shelves top to bottom, each shelf runs the page's chain
   (:data:`~tastemaker.surfaces.chains.HOME`): a card already shown higher up is dropped and the
   shelf's next card moves up (as does one past the shelf's two track cards of an artist);
   shelves left with fewer than ``min_cards`` cards are dropped (pinned ones need one).

The *Recommended for you* shelf starts from ``POOL`` times as many of the model's picks as it shows, two per
artist, diversified over the model's item vectors (:data:`~tastemaker.surfaces.chains.HOME_RECOMMENDED`) and *Because you played X* is the similar
tracks surface (:func:`~tastemaker.surfaces.similar.similar_tracks`).

Every card carries the reason of its shelf's source (see :mod:`tastemaker.surfaces.reasons`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from tastemaker.features.kinds import drop_not_music
from tastemaker.rerank.policies import rules
from tastemaker.surfaces.chains import HOME, HOME_RECOMMENDED, SIMILAR, Chain, Context, apply

CARD_COLUMNS = ("item_id", "kind", "title", "subtitle", "score", "reason")
#: how many of the personal model's picks per card *Recommended for you* starts from: a model that ranks an
#: artist's tracks together (the pipeline's artist member) fills a pool of one shelf's depth with one artist
POOL = 10
#: *Because you played X* tries the listener's latest favourites in turn, at most this many, until one has
#: ``MIN_BECAUSE`` unheard tracks like it (a favourite nothing is like yet gives no shelf)
BECAUSE_SEEDS = 5
MIN_BECAUSE = 3
COLUMNS = ("user_id", "shelf_position", "shelf", "shelf_title", "relevance", "card_position", *CARD_COLUMNS)


@dataclass(slots=True)
class Shelf:
    """One row of the home page: ``cards`` has :data:`CARD_COLUMNS`, best first (``kind``: track,
    playlist, episode, artist)."""

    key: str
    title: str
    cards: pl.DataFrame
    pinned: bool = False
    relevance: float = field(default=float("nan"))

    def __post_init__(self) -> None:
        missing = [c for c in CARD_COLUMNS if c not in self.cards.columns]
        if missing:
            raise ValueError(f"shelf {self.key!r} cards need columns {missing}; got {self.cards.columns}")


def home(user_id: str, shelves: Sequence[Shelf], relevance: Callable[[list[str]], np.ndarray] | None = None, *,
         cards: int = 10, min_cards: int = 3, max_shelves: int = 8, neutral: float = 0.5,
         chain: Chain = HOME) -> pl.DataFrame:
    """The page as one row per card (columns :data:`COLUMNS`), shelves and cards in display order.

    ``relevance(track_ids)`` gives the listener's percentile of each track (see the module doc);
    ``chain`` runs over each shelf's cards with the cards shown above as ``Context.shown``; its
    steps see an ``artist`` column, a track card's artist (its ``subtitle``; null on other cards).
    """
    if min(cards, min_cards, max_shelves) < 1:
        raise ValueError("cards, min_cards and max_shelves must be at least 1, got "
                         f"{cards}, {min_cards}, {max_shelves}")
    keys = [s.key for s in shelves]
    if len(set(keys)) != len(keys):
        raise ValueError(f"shelf keys must be unique, got {keys}")
    for shelf in shelves:
        tracks = shelf.cards.filter(pl.col("kind") == "track").head(cards)["item_id"].to_list()
        values = relevance(tracks) if relevance is not None and tracks else np.zeros(0)
        shelf.relevance = float(np.mean(values)) if len(values) else neutral
    order = sorted(range(len(shelves)), key=lambda j: (not shelves[j].pinned,
                                                       0.0 if shelves[j].pinned else -shelves[j].relevance, j))
    shown = pl.DataFrame(schema={"kind": pl.String, "item_id": pl.String})
    rows: list[pl.DataFrame] = []
    for j in order:
        shelf = shelves[j]
        artist = pl.when(pl.col("kind") == "track").then(pl.col("subtitle").cast(pl.String)).alias("artist")
        fresh = apply(chain, shelf.cards.with_columns(artist), Context(shown=shown, k=cards)).head(cards)
        if fresh.height < (1 if shelf.pinned else min_cards):
            continue
        shown = pl.concat([shown, fresh.select(pl.col("kind", "item_id").cast(pl.String))])
        rows.append(fresh.select(CARD_COLUMNS).with_columns(
            pl.lit(user_id).alias("user_id"), pl.lit(len(rows) + 1).alias("shelf_position"),
            pl.lit(shelf.key).alias("shelf"), pl.lit(shelf.title).alias("shelf_title"),
            pl.lit(shelf.relevance).alias("relevance"), pl.int_range(1, pl.len() + 1).alias("card_position")))
        if len(rows) == max_shelves:
            break
    if not rows:
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    return pl.concat(rows, how="vertical_relaxed").select(COLUMNS)


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Each score's percentile among ``scores`` (1 = the highest, 0 = the lowest)."""
    n = len(scores)
    if n < 2:
        return np.ones(n)
    ranks = np.empty(n)
    ranks[np.argsort(scores, kind="stable")] = np.arange(n)
    return ranks / (n - 1)


def track_cards(frame: pl.DataFrame, tracks: pl.DataFrame, reason: str | pl.Expr) -> pl.DataFrame:
    """Cards from ``item_id, score`` rows of tracks, titled from the catalog (``track_id, name,
    artist_name``; the id stands in for a missing name), leaving out the tracks it decides are not
    music. ``reason``: a text, or an expression over ``frame`` (e.g. ``pl.col("reason")``)."""
    catalog = tracks.select(pl.col("track_id").alias("item_id"), "name", "artist_name") if tracks.height else \
        pl.DataFrame(schema={"item_id": pl.String, "name": pl.String, "artist_name": pl.String})
    text = reason if isinstance(reason, pl.Expr) else pl.lit(reason)
    return (drop_not_music(frame, tracks).with_columns(text.cast(pl.String).alias("_reason"))
            .join(catalog, on="item_id", how="left", maintain_order="left")
            .select("item_id", pl.lit("track").alias("kind"), pl.coalesce("name", "item_id").alias("title"),
                    pl.col("artist_name").alias("subtitle"), pl.col("score").cast(pl.Float64),
                    pl.col("_reason").alias("reason")))


def music_history(history: pl.DataFrame, tracks: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``history`` about music: tracks of the catalog ``tracks`` not decided podcast,
    audiobook or unknown. An episode or audiobook the listener played is no track of the catalog, so it
    is no "Jump back in" card (whose title would be its id) nor the seed of "Because you played X". All
    of ``history`` when the catalog is empty (ids then stand in for names)."""
    if not tracks.height or "track_id" not in tracks.columns:
        return history
    known = tracks.select(pl.col("track_id").cast(pl.String).alias("item_id")).unique()
    return drop_not_music(history.join(known, on="item_id", how="semi", maintain_order="left"), tracks)


@dataclass(slots=True)
class HomeSources:
    """What the standard shelves are made from, for one listener.

    ``model``: a personal model with ``recommend`` and ``similar_items`` (ALS);
    ``history``: the listener's interactions (``item_id, weight, recency, last_ts, artist_id``);
    ``tracks``: the catalog; ``chart``: a ``Popularity(by="country")`` model (optional);
    ``mixes``/``discover``: the listener's Daily Mixes and Discover Weekly rows (optional);
    ``episodes``: episode cards (optional); ``today``: the date new releases are counted from;
    ``similarity``: what "Because you played X" finds tracks like X with (a
    :class:`~tastemaker.candidates.similarity.CoListening`; default: the model's ``similar_items``).
    """

    model: object
    history: pl.DataFrame
    tracks: pl.DataFrame
    chart: object | None = None
    mixes: pl.DataFrame | None = None
    discover: pl.DataFrame | None = None
    episodes: pl.DataFrame | None = None
    today: object | None = None
    new_release_days: int = 30
    depth: int = 40
    similarity: object | None = None


def standard_shelves(user_id: str, src: HomeSources, *, recommended: Chain = HOME_RECOMMENDED,
                     similar: Chain = SIMILAR) -> tuple[list[Shelf], Callable[[list[str]], np.ndarray]]:
    """The shelves a music home page has for ``user_id``, and the relevance function ranking them.

    ``recommended``: the chain of the *Recommended for you* shelf (its ``Context.space``: the
    model's item vectors); ``similar``: the chain of *Because you played X* (see
    :func:`~tastemaker.surfaces.similar.similar_tracks`).
    """
    from tastemaker.surfaces.reasons import ItemSpace, because_you_played, display_names, reason, track_artists
    from tastemaker.surfaces.similar import similar_tracks

    model: object = src.model
    heard = src.history.select(pl.lit(user_id).alias("user_id"), "item_id")
    names = display_names(src.tracks)
    shelves: list[Shelf] = []
    playlists = []
    if src.mixes is not None and src.mixes.height:
        for (number, name, description), _ in src.mixes.group_by("mix", "mix_name", "description", maintain_order=True):
            playlists.append({"item_id": f"daily-mix-{number}", "kind": "playlist", "title": name,
                              "subtitle": description, "score": None, "reason": f"made from your {description} listening"})
    if src.discover is not None and src.discover.height:
        playlists.append({"item_id": "discover-weekly", "kind": "playlist", "title": "Discover Weekly",
                          "subtitle": f"{src.discover.height} new tracks for you", "score": None,
                          "reason": reason("discovery") + ", refreshed every week"})
    if playlists:
        shelves.append(Shelf("made-for-you", "Made for you", pl.DataFrame(playlists, schema=_card_schema()), pinned=True))
    recent = music_history(src.history, src.tracks).sort(["recency", "item_id"], descending=[True, False])
    if recent.height:
        shelves.append(Shelf("jump-back-in", "Jump back in",
                             track_cards(recent.head(src.depth).select("item_id", pl.col("recency").alias("score")),
                                         src.tracks, reason("rotation"))))
    recs = model.recommend([user_id], k=src.depth * POOL, exclude=heard)  # type: ignore[attr-defined]
    vectors = model.item_vectors()  # type: ignore[attr-defined]
    space = ItemSpace(model.item_ids, vectors) if vectors is not None else None  # type: ignore[attr-defined]
    if recs.height:
        recs = apply(recommended, _with_artists(recs, src.tracks), Context(space=space, k=src.depth)).head(src.depth)
        if space is not None:  # the reason names a catalogue track, never an item without a row or an episode
            played = recent.select(pl.lit(user_id).alias("user_id"), "item_id", pl.col("recency").alias("weight"))
            wanted = pl.concat([recs["item_id"], played["item_id"]]).cast(pl.String)
            recs = because_you_played(recs, played, space, names, artists=track_artists(
                src.tracks.filter(pl.col("track_id").cast(pl.String).is_in(wanted.implode()))))
        shelves.append(Shelf("recommended", "Recommended for you",
                             track_cards(recs, src.tracks, pl.col("reason") if "reason" in recs.columns
                                         else reason("discovery"))))
    like_by = src.similarity if src.similarity is not None else model
    if recent.height and hasattr(like_by, "similar_items"):
        played_ids = heard["item_id"].to_list()
        for seed in recent["item_id"].head(BECAUSE_SEEDS).cast(pl.String).to_list():  # latest favourite first
            like = similar_tracks(like_by, seed, src.depth, src.tracks, heard=played_ids, chain=similar)
            if like.height >= MIN_BECAUSE:
                title = names.get(seed, seed)
                shelves.append(Shelf(f"because-{seed}", f"Because you played {title}",
                                     track_cards(like, src.tracks, reason("because", name=title))))
                break
    if src.chart is not None:
        chart = src.chart.recommend([user_id], k=src.depth, exclude=heard)  # type: ignore[attr-defined]
        country = _country(src.chart, user_id)
        counted = src.chart.describe() if hasattr(src.chart, "describe") else "listeners"
        text = reason("country", country=country, counted=counted) if country else reason("chart", counted=counted)
        when = "this week" if getattr(src.chart, "weekly", False) else "now"
        title = f"Popular in {country} {when}" if country else f"Popular {when}"
        shelves.append(Shelf("popular", title, track_cards(chart, src.tracks, text)))
    fresh = _new_releases(src, heard)
    if fresh.height:
        shelves.append(Shelf("new-releases", "New releases for you", fresh))
    if src.episodes is not None and src.episodes.height:
        shelves.append(Shelf("episodes", "Episodes for you", src.episodes.select(CARD_COLUMNS)))
    full = model.recommend([user_id], k=len(model.item_ids))  # type: ignore[attr-defined]
    order = dict(zip(full["item_id"].to_list(), percentiles(-full["rank"].to_numpy().astype(np.float64)), strict=True))
    return shelves, lambda ids: np.array([order.get(i, 0.0) for i in ids])


def _with_artists(recs: pl.DataFrame, tracks: pl.DataFrame) -> pl.DataFrame:
    """``recs`` with each track's ``artist_id`` from the catalog (null where it has none: never capped)."""
    if "artist_id" in recs.columns:
        return recs
    if not tracks.height or "artist_id" not in tracks.columns:
        return recs.with_columns(pl.lit(None, dtype=pl.String).alias("artist_id"))
    artists = tracks.select(pl.col("track_id").cast(pl.String).alias("item_id"), pl.col("artist_id").cast(pl.String))
    return recs.join(artists.unique("item_id"), on="item_id", how="left", maintain_order="left")


def _country(chart: object, user_id: str) -> str | None:
    users = getattr(chart, "user_ids_", None)
    if users is None:
        return None
    at = np.flatnonzero(users == user_id)
    return str(chart.user_countries_[at[0]]) if at.size else None  # type: ignore[attr-defined]


def _new_releases(src: HomeSources, heard: pl.DataFrame) -> pl.DataFrame:
    """Unheard tracks released in the last ``new_release_days`` by artists the listener plays."""
    from datetime import date, timedelta

    from tastemaker.surfaces.reasons import reason

    if src.today is None or "release_date" not in src.tracks.columns or "artist_id" not in src.history.columns:
        return pl.DataFrame(schema=_card_schema())
    today = src.today if isinstance(src.today, date) else date.fromisoformat(str(src.today)[:10])
    affinity = src.history.group_by("artist_id").agg(pl.col("weight").sum().alias("score")).drop_nulls()
    new = (src.tracks.filter(pl.col("release_date").is_between(today - timedelta(days=src.new_release_days), today))
           .join(affinity, on="artist_id").rename({"track_id": "item_id"}))
    new = rules(new, heard=heard["item_id"].to_list()).sort(["score", "release_date", "item_id"],
                                                            descending=[True, True, False]).head(src.depth)
    return new.select("item_id", pl.lit("track").alias("kind"), pl.coalesce("name", "item_id").alias("title"),
                      pl.col("artist_name").alias("subtitle"), pl.col("score").cast(pl.Float64),
                      pl.format(reason("new_release", artist="{}"), pl.coalesce("artist_name", "artist_id")).alias("reason"))


def _card_schema() -> dict[str, pl.DataType]:
    return {"item_id": pl.String(), "kind": pl.String(), "title": pl.String(), "subtitle": pl.String(),
            "score": pl.Float64(), "reason": pl.String()}
