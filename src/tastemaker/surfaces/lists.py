"""Every surface as a person reads it, built from a store and trained models: what the ``tastemaker``
commands print and what :class:`tastemaker.Workspace` returns, made by the same functions.

Each function takes the store and already loaded models (the registry is the caller's business), returns
a Polars frame whose rows carry the track's ``name`` and ``artist_name`` next to its id, and raises
``ValueError`` with the fix when the question cannot be answered (an unknown seed, a model without item
vectors).

Odd data never fails a list (``docs/surfaces.md``, *Odd data*): an event naming an item the catalogue has no
row for is listening (it is never recommended again) but seeds no Daily Mix and names no reason; a catalogue
row without a name is listed by its id; a listener the store forgot is asked of a model as a stranger
(:func:`strangers`), so their lists are the model's popularity, never what it learnt of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from tastemaker.candidates.contract import Recommender
from tastemaker.features.interactions import heard as heard_items
from tastemaker.features.interactions import interactions
from tastemaker.features.kinds import music_events
from tastemaker.surfaces.reasons import ItemSpace

if TYPE_CHECKING:
    from tastemaker.candidates.similarity import CoListening

#: what a forgotten listener's id becomes when a model is asked for them: an id no model learnt
STRANGER = "\x00forgotten:"


@dataclass(frozen=True)
class Names:
    """The catalogue's tracks table and the two lookups every surface names its rows by."""

    tracks: pl.DataFrame
    #: track id -> artist id
    artist_of: dict[str, str]
    #: artist id -> artist name
    artist_names: dict[str, str]

    @classmethod
    def of(cls, store: Any) -> Names:
        """The names in ``store`` (all empty when it has no tracks table yet)."""
        tracks = store.entities("tracks")
        if tracks.is_empty():
            return cls(tracks, {}, {})
        owned = tracks.select("track_id", "artist_id").drop_nulls()  # a row without an artist is nobody's
        named = tracks.select("artist_id", "artist_name").drop_nulls().unique("artist_id")
        return cls(tracks, dict(zip(owned["track_id"].to_list(), owned["artist_id"].to_list(), strict=True)),
                   dict(zip(named["artist_id"].to_list(), named["artist_name"].to_list(), strict=True)))


def with_names(rows: pl.DataFrame, tracks: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (with an ``item_id``) plus the track's ``name`` and ``artist_name`` right after it; the id
    stands in for a name the catalogue lacks."""
    if not tracks.height:
        named = rows.with_columns(pl.col("item_id").alias("name"), pl.lit(None, dtype=pl.String).alias("artist_name"))
    else:
        named = rows.join(tracks.select(pl.col("track_id").alias("item_id"), pl.col("name").alias("_name"),
                                        "artist_name"), on="item_id", how="left", maintain_order="left")
        named = named.with_columns(pl.coalesce("_name", "item_id").alias("name")).drop("_name")
    at = rows.columns.index("item_id") + 1
    return named.select(*rows.columns[:at], "name", "artist_name", *rows.columns[at:])


def item_space(model: Recommender) -> ItemSpace:
    """``model``'s item vectors as an :class:`ItemSpace`; ``ValueError`` when it learns none."""
    vectors = model.item_vectors()
    if vectors is None:
        raise ValueError(f"{model.name} has no item vectors; train the pipeline or als (`tastemaker train als`)")
    return ItemSpace(model.item_ids, vectors)


def similarity(store: Any, model: Recommender | None = None) -> CoListening:
    """Who plays what in ``store`` (with ``model``'s item vectors and the audio features, where there are
    any): what similar tracks and artists, radio and the "Because you played" shelf answer from. Music
    only: an episode co-listened with a song is no neighbour of it (:mod:`tastemaker.features.kinds`)."""
    from tastemaker.candidates.similarity import for_model

    listened = interactions(music_events(store))
    return for_model(model, listened, Names.of(store).artist_of, store.entities("audio_features"))


def strangers(store: Any, users: Sequence[str], trained_on: int | None = None) -> dict[str, str]:
    """``user -> id to ask the model for`` of the ``users`` the store forgot at or after ``trained_on``, the
    store version the model was trained on (``None``, not known: forgotten at all): the model may still hold
    what they did, and must not build their lists from it. Their id becomes one no model learnt, so a model
    answers with what it gives a stranger (its popularity). Everyone else is asked as themselves.

    >>> strangers(store, ["u1", "u2"], trained_on=12)  # doctest: +SKIP
    {'u2': '\\x00forgotten:u2'}
    """
    out = {}
    for user in users:
        at = store.forgotten_at(user)
        if at is not None and (trained_on is None or trained_on <= at):
            out[user] = STRANGER + user
    return out


def heard(store: Any, user: str) -> pl.DataFrame:
    """``user_id, item_id`` of what ``user`` played (impressions are not listening)."""
    return heard_items(store.events().filter(pl.col("user_id") == user)).collect()


def weighted(events: pl.LazyFrame) -> pl.DataFrame:
    """``user_id, item_id, weight``: recency-weighted listens, what "because you played X" picks X from."""
    return interactions(events).select("user_id", "item_id", pl.col("recency").alias("weight"))


def recommend(store: Any, model: Recommender, user: str, k: int = 10, *, trained_on: int | None = None
              ) -> pl.DataFrame:
    """Top ``k`` tracks ``user`` has not heard: ``rank, item_id, name, artist_name, score``. ``trained_on``: the
    store version ``model`` was trained on (a listener forgotten since gets its popularity, :func:`strangers`)."""
    asked = strangers(store, [user], trained_on).get(user, user)
    recs = model.recommend([asked], k=k, exclude=heard(store, user).with_columns(pl.lit(asked).alias("user_id")))
    return with_names(recs.select("rank", "item_id", "score"), store.entities("tracks"))


def discover_weekly(store: Any, model: Recommender, users: Sequence[str] | None = None,
                    size: int = 30, *, trained_on: int | None = None) -> pl.DataFrame:
    """Discover Weekly of ``users`` (every listener when ``None``): ``user_id, position, track_id, name,
    artist_name, score, reason, shown``: unplayed tracks (what they were only shown counts as unheard, but
    tracks shown three times without a play go last), at most two per artist. ``trained_on``: see
    :func:`recommend`."""
    from tastemaker.surfaces.discover_weekly import discover_weekly_batch, shown_counts

    events = store.events() if users is None else store.events().filter(pl.col("user_id").is_in(list(users)))
    played = heard_items(events).collect()
    chosen = played["user_id"].unique().sort().to_list() if users is None else list(users)
    asked = strangers(store, chosen, trained_on)
    if asked:  # their listening since stays theirs (heard, reasons); the model's picks are a stranger's
        events = events.with_columns(pl.col("user_id").replace(asked))
        played = played.with_columns(pl.col("user_id").replace(asked))
    made = discover_weekly_batch(model, [asked.get(u, u) for u in chosen], played, store.entities("tracks"),
                                 size=size, history=weighted(events), impressions=shown_counts(events))
    if not asked or made.is_empty():
        return made
    return (made.with_columns(pl.col("user_id").replace({a: u for u, a in asked.items()}))
            .sort("user_id", "position"))


def _ordering(store: Any) -> Any:
    """Order each mix by transitions when the store has audio features (else keep the mix order)."""
    features = store.entities("audio_features")
    if features.is_empty():
        return None
    from tastemaker.surfaces.ordering import order_playlist

    return lambda mix: order_playlist(mix, features)


def daily_mixes(store: Any, model: Recommender, users: Sequence[str] | None = None, *,
                trained_on: int | None = None) -> pl.DataFrame:
    """Daily Mixes of ``users`` (every listener when ``None``): ``user_id, mix, mix_name, description,
    position, item_id, name, artist_name, familiar, reason, ...``; empty when the model knows none of
    their catalogue tracks. ``trained_on``: see :func:`recommend` (a forgotten listener's new tracks are
    the model's popular ones)."""
    from tastemaker.surfaces.daily_mix import DailyMixes
    from tastemaker.surfaces.home import music_history
    from tastemaker.surfaces.reasons import display_names

    space = item_space(model)
    events = store.events()
    if users is not None:
        events = events.filter(pl.col("user_id").is_in(list(users)))
    history = interactions(events)
    names = Names.of(store)
    mine = music_history(history, names.tracks)  # a mix is made of catalogue music, not of items without a row
    if mine.is_empty():
        return _empty_mixes()
    chosen = list(users) if users is not None else mine["user_id"].unique().sort().to_list()
    asked = strangers(store, chosen, trained_on)
    pool = model.recommend([asked.get(u, u) for u in chosen], k=300,
                           exclude=history.select(pl.col("user_id").replace(asked), "item_id"))
    candidates = music_history(pool, names.tracks)  # the new tracks too: catalogue music, each with a name
    if asked:
        candidates = candidates.with_columns(pl.col("user_id").replace({a: u for u, a in asked.items()}))
    mixes = DailyMixes(space, names.artist_of, names.artist_names, order=_ordering(store),
                       names=display_names(names.tracks))
    made = mixes.batch(chosen, mine.select("user_id", "item_id", pl.col("recency").alias("weight")), candidates)
    return with_names(made, names.tracks) if made.height else _empty_mixes()


def _empty_mixes() -> pl.DataFrame:
    """No Daily Mix, with the columns of one."""
    from tastemaker.surfaces.daily_mix import mix_schema

    return with_names(pl.DataFrame(schema=mix_schema()), pl.DataFrame())


def radio(store: Any, model: Recommender, *, seed: str | None = None, artist: str | None = None,
          playlist: str | None = None, played: Sequence[str] = (), skipped: Sequence[str] = (),
          k: int = 10) -> tuple[pl.DataFrame, str]:
    """The next ``k`` tracks of a radio from one of ``seed`` (a track), ``artist`` or ``playlist``, steered by
    the session's ``played`` and ``skipped`` tracks; returns ``position, item_id, name, artist_name, score,
    reason`` and the radio's title."""
    from tastemaker.surfaces.radio import Played, Radio

    if sum(x is not None for x in (seed, artist, playlist)) != 1:
        raise ValueError("give one of seed (a track), artist or playlist")
    vectors = model.item_vectors()
    if vectors is None:
        raise ValueError(f"{model.name} has no item vectors; train pipeline, als, bpr or item2vec for radio")
    ids = model.item_ids
    names = Names.of(store)
    seeds, label = _radio_seeds(store, model, ids, names, seed, artist, playlist)
    label = _radio_label(names.tracks, seed, artist, label)
    session = [Played(t, False) for t in played] + [Played(t, True) for t in skipped]
    try:
        queue = Radio(ids, vectors, [names.artist_of.get(i, i) for i in ids],
                      similarity=similarity(store, model)).next_tracks(seeds, session, k, label=label,
                                                                       play_seeds=artist is not None)
    except KeyError:
        raise ValueError(f"unknown track {label!r}: radio needs a seed the model knows (music somebody played; "
                         f"{model.name} leaves out podcasts and audiobooks)") from None
    return with_names(queue, names.tracks), label


def _radio_label(tracks: pl.DataFrame, seed: str | None, artist: str | None, label: str) -> str:
    """What a radio is called: the seed track's "Name by Artist", the artist's name, else ``label``."""
    from tastemaker.surfaces.reasons import display_names

    if seed is not None:
        return display_names(tracks).get(seed, label)
    if artist is not None and "artist_name" in tracks.columns:
        named = tracks.filter(pl.col("artist_id") == artist)["artist_name"].drop_nulls()
        return str(named[0]) if named.len() else label
    return label


def _radio_seeds(store: Any, trained: Any, ids: Any, names: Names, seed: str | None, artist: str | None,
                 playlist: str | None, top: int = 10) -> tuple[list[str], str]:
    """The seed tracks of a radio and the name it goes by."""
    import numpy as np

    if seed is not None:
        return [seed], seed
    if artist is not None:
        mine = np.array([names.artist_of.get(str(i)) == artist for i in ids])
        if not mine.any():
            raise ValueError(f"unknown artist {names.artist_names.get(artist, artist)!r}: the model knows none of "
                             "their tracks (music somebody played; podcasts and audiobooks are left out)")
        popularity = getattr(trained, "popularity_", getattr(trained, "counts_", None))
        order = np.flatnonzero(mine)
        if popularity is not None and len(popularity) == len(ids):
            order = order[np.argsort(-np.asarray(popularity)[order], kind="stable")]
        return [str(ids[i]) for i in order[:top]], artist
    rows = store.events().filter(pl.col("playlist_id") == playlist).select("item_id").unique(maintain_order=True)
    found = rows.collect()["item_id"].to_list()
    if not found:
        raise ValueError(f"unknown playlist {playlist!r}: no event names it")
    playlists = store.entities("playlists")
    named = (playlists.filter(pl.col("playlist_id") == playlist)["name"].drop_nulls() if playlists.height
             else pl.Series([], dtype=pl.String))
    return found, f"the playlist {named[0]}" if named.len() else str(playlist)


def similar(store: Any, model: Recommender | None = None, *, track: str | None = None, artist: str | None = None,
            k: int = 10) -> pl.DataFrame:
    """The ``k`` tracks most like ``track`` (``item_id, name, artist_name, score, shared_listeners, basis, rank,
    reason``) or the ``k`` artists most like ``artist`` (``artist_id, name, score, shared_listeners, basis, rank,
    reason``): shared listeners with support, ``model``'s item vectors next to them, the artist level and audio
    features for sparse seeds (:mod:`tastemaker.candidates.similarity`). Empty when nothing shares enough of
    a played seed's listeners yet; ``ValueError``, naming it, for a seed nobody played as music."""
    from tastemaker.surfaces.reasons import display_names
    from tastemaker.surfaces.similar import explained, similar_artists

    if (track is None) == (artist is None):
        raise ValueError("give either track or artist")
    names = Names.of(store)
    like = similarity(store, model)
    if track is not None:
        if not like.has_item(track):
            label = display_names(names.tracks.filter(pl.col("track_id") == track)).get(track, track)
            raise ValueError(f"unknown track {label!r}: nobody has played it as music (similar tracks leave out "
                             "podcasts and audiobooks)")
        found = like.similar_items(track, k=k)  # empty: no track shares enough of its listeners yet
        titles = (dict(zip(names.tracks["track_id"].to_list(), names.tracks["name"].to_list(), strict=True))
                  if names.tracks.height else {})
        return with_names(found, names.tracks).with_columns(explained(found, titles.get(track) or track))
    try:
        rows = similar_artists(artist, like, k=k)
    except KeyError:
        raise ValueError(f"unknown artist {names.artist_names.get(artist, artist)!r}: nobody has played any of their "
                         "tracks as music (similar artists leave out podcasts and audiobooks)") from None
    return rows.with_columns(
        pl.col("artist_id").replace_strict(names.artist_names, default=pl.col("artist_id"), return_dtype=pl.String)
        .alias("name"), explained(rows, names.artist_names.get(artist, artist), artists=True)
    ).select("artist_id", "name", "score", "shared_listeners", "basis", "rank", "reason")


def home(store: Any, personal: Recommender, user: str, charts: Recommender | None = None,
         cards: int = 10, *, trained_on: int | None = None) -> pl.DataFrame:
    """``user``'s home page: ``shelf, shelf_title, relevance, card_position, item_id, kind, title, subtitle,
    reason``, shelves ranked for them, no card twice. ``charts``: a chart model for the popular shelf;
    ``trained_on``: see :func:`recommend` (a forgotten listener's page is the model's popular tracks, their
    country unknown to the chart)."""
    from tastemaker.surfaces.discover_weekly import discover_weekly as weekly
    from tastemaker.surfaces.home import HomeSources, standard_shelves
    from tastemaker.surfaces.home import home as build_home

    item_space(personal)
    asked = strangers(store, [user], trained_on).get(user, user)
    history = interactions(store.events().filter(pl.col("user_id") == user)).with_columns(
        pl.lit(asked).alias("user_id"))
    tracks = store.entities("tracks")
    mixes = daily_mixes(store, personal, [user], trained_on=trained_on) if history.height else None
    discover = weekly(personal, asked, history.select("user_id", "item_id"), tracks,
                      history=history.select("user_id", "item_id", pl.col("recency").alias("weight"))) \
        if tracks.height else None
    today = history["last_ts"].max().date() if history.height else date.today()  # type: ignore[union-attr]
    podcasts = episode_cards(store, [user])
    shelves, relevance = standard_shelves(asked, HomeSources(personal, history, tracks, charts, mixes, discover,
                                                             podcasts.drop("user_id") if podcasts.height else None,
                                                             today=today, similarity=similarity(store, personal)))
    return build_home(user, shelves, relevance, cards=cards)


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
