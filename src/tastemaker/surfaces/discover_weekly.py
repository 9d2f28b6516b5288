"""Discover Weekly: unheard tracks for one listener, re-ranked by its chain (at most two per artist), each
with a reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import polars as pl

from tastemaker.features.kinds import drop_not_music
from tastemaker.surfaces.chains import DISCOVER_WEEKLY, Chain, Context, apply


class Recommender(Protocol):
    """Anything that can rank items for users while excluding given pairs."""

    name: str

    def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame: ...


def discover_weekly(
    model: Recommender,
    user_id: str,
    heard: pl.DataFrame,
    tracks: pl.DataFrame,
    size: int = 30,
    history: pl.DataFrame | None = None,
    chain: Chain = DISCOVER_WEEKLY,
    impressions: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The playlist as ``position, track_id, name, artist_name, score, reason, shown[, because]``.

    ``heard``: the user's ``user_id, item_id`` history (never recommended again);
    ``tracks``: the catalog (``track_id, name, artist_id, artist_name``); ``history`` and
    ``chain``: see :func:`discover_weekly_batch`.
    """
    mine = heard.filter(pl.col("user_id") == user_id)
    playlist = discover_weekly_batch(model, [user_id], mine, tracks, size, history=history, chain=chain,
                                     impressions=impressions)
    return playlist.drop("user_id")


def discover_weekly_batch(
    model: Recommender,
    users: Sequence[str],
    heard: pl.DataFrame,
    tracks: pl.DataFrame,
    size: int = 30,
    chunk: int = 1000,
    history: pl.DataFrame | None = None,
    chain: Chain = DISCOVER_WEEKLY,
    impressions: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every listener's playlist at once: ``user_id, position, track_id, name, artist_name, score, reason, shown``.

    The same rules as :func:`discover_weekly`: nothing heard (the model's ``exclude``), then
    ``chain`` (:data:`~tastemaker.surfaces.chains.DISCOVER_WEEKLY`: at most two per artist) over
    every listener's candidates at once, so it may hold only steps that run on many lists
    (caps, de-duplication). Computed ``chunk`` listeners at a time so memory stays flat.
    Deterministic for a given model and history, so a week's run can be repeated and gives the
    same lists.

    ``history``: ``user_id, item_id, weight`` (e.g. recency-weighted listens). When it is given
    and the model has item vectors (ALS, BPR), each track's reason names the listener's played
    track of the catalogue closest to it ("because you played X", with X's id in ``because``); a
    listener with none the model places keeps "new to you".

    A track the catalogue has no row for is never listed; one whose row has no name is listed by its id.

    ``impressions``: ``user_id, item_id, shown``, on how many days each listener was shown each track
    (:func:`shown_counts`). Shown is not heard: those tracks stay candidates, but the chain's
    :class:`~tastemaker.surfaces.chains.Unplayed` step puts the ones shown on three days without a
    play last, and a track that still makes the list says in its reason how often it was shown.
    """
    if size < 1 or chunk < 1:
        raise ValueError(f"size and chunk must be at least 1, got {size}, {chunk}")
    # music only, whatever the model learnt: no track decided podcast, audiobook or unknown at import
    cat = drop_not_music(tracks, tracks, on="track_id").select(
        pl.col("track_id").alias("item_id"), "name", "artist_id", "artist_name")
    pairs = heard.select("user_id", "item_id")
    parts = []
    for start in range(0, len(users), chunk):
        batch = list(users[start:start + chunk])
        mine = pairs.filter(pl.col("user_id").is_in(batch))
        shown = None if impressions is None else impressions.filter(pl.col("user_id").is_in(batch))
        lists = _chained(model, batch, mine, cat, size, chain, size * 10, shown)
        short = lists.group_by("user_id").len().filter(pl.col("len") < size)["user_id"].to_list()
        short += sorted(set(batch) - set(lists["user_id"].to_list()))
        if short:  # a model that ranks whole artists together fills the pool with few artists: dig deeper
            deeper = _chained(model, short, pairs.filter(pl.col("user_id").is_in(short)), cat, size, chain,
                              cat.height, shown)
            lists = pl.concat([lists.filter(~pl.col("user_id").is_in(short)), deeper])
        parts.append(lists.select(
            "user_id", pl.int_range(1, pl.len() + 1).over("user_id").alias("position"),
            pl.col("item_id").alias("track_id"), pl.coalesce("name", "item_id").alias("name"), "artist_name",
            "score", pl.lit(f"new to you, picked by {model.name}").alias("reason"),
            (pl.col("shown") if "shown" in lists.columns else pl.lit(0, dtype=pl.Int64)).alias("shown")))
    if not parts:
        return pl.DataFrame()
    playlists = pl.concat(parts).sort("user_id", "position")
    vectors = model.item_vectors() if history is not None else None
    if history is not None and vectors is not None:
        from tastemaker.surfaces.reasons import ItemSpace, because_you_played, display_names, track_artists

        # a reason names a catalogue track: not an item without a row (an event from elsewhere), nor an episode
        known = history.join(cat.select("item_id"), on="item_id", how="semi")
        playlists = because_you_played(playlists.rename({"track_id": "item_id"}), known,
                                       ItemSpace(model.item_ids, vectors),  # type: ignore[attr-defined]
                                       display_names(tracks), artists=track_artists(tracks)
                                       ).rename({"item_id": "track_id"})
    return playlists.with_columns(
        pl.when(pl.col("shown") == 1).then(pl.format("{} (shown to you once before, not played)", "reason"))
        .when(pl.col("shown") > 1).then(pl.format("{} (shown to you on {} days before, not played)", "reason", "shown"))
        .otherwise("reason").alias("reason"))


def shown_counts(events: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """``user_id, item_id, shown``: on how many UTC days each listener was shown each item on their Discover
    Weekly (impression events of that surface). Days, not impressions: a list reloaded five times in an
    afternoon was seen once."""
    frame = events.lazy()
    shown = pl.col("type") == "impression"
    if "surface" in frame.collect_schema().names():
        shown = shown & (pl.col("surface") == "discover-weekly")
    return (frame.filter(shown).group_by("user_id", "item_id")
            .agg(pl.col("ts").dt.date().n_unique().cast(pl.Int64).alias("shown")).collect())


def _chained(model: Recommender, users: list[str], heard: pl.DataFrame, catalog: pl.DataFrame, size: int,
             chain: Chain, pool: int, impressions: pl.DataFrame | None = None) -> pl.DataFrame:
    """The first ``size`` of each user's top ``pool`` unheard catalog tracks, re-ranked by ``chain``."""
    candidates = (model.recommend(users, k=pool, exclude=heard)
                  .join(catalog, on="item_id", how="inner")
                  .sort("user_id", "rank"))
    ranked = apply(chain, candidates, Context(by="user_id", impressions=impressions))
    return ranked.filter(pl.int_range(pl.len()).over("user_id") < size)


def write_playlists(playlists: pl.DataFrame, folder: Path, title: str,
                    tracks: pl.DataFrame | None = None) -> dict[str, Path]:
    """Write ``playlists.parquet`` and ``playlists.jspf.jsonl`` (one JSPF document per listener) into ``folder``.

    ``tracks``: the catalogue, for each track's Spotify link, album and duration in the JSPF
    (``surfaces/exports.py``).
    """
    from tastemaker.surfaces.exports import described, jspf

    folder.mkdir(parents=True, exist_ok=True)
    parquet, documents = folder / "playlists.parquet", folder / "playlists.jspf.jsonl"
    playlists.write_parquet(parquet)
    with documents.open("w") as out:
        for (user,), rows in described(playlists, tracks).sort("user_id", "position").group_by(
                "user_id", maintain_order=True):
            out.write(json.dumps(jspf(f"{title} for {user}", rows)) + "\n")
    return {"parquet": parquet, "jspf": documents}
