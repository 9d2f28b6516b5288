"""Why an item is on a list: every recommended row carries a ``reason`` a listener can read.

The reasons a surface gives come from where the item came from:

- *because you played X*: the track of the listener's history closest to the recommended one
  in the model's item space (:func:`because_you_played`), the reason a personal model's pick
  gets; ``because`` holds X's id so a client can link it;
- *popular in SE this week*, *new release from an artist you play*, *in your rotation*:
  set by the surface that used that source (:data:`TEMPLATES` keeps the wording in one place);
- *exploration*: set by :func:`tastemaker.rerank.policies.explore`, with the propensity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

#: the wording of every reason, filled with ``str.format``
TEMPLATES: dict[str, str] = {
    "because": "because you played {name}",
    "country": "popular in {country}: {counted}",
    "chart": "popular: {counted}",
    "popular": "popular with listeners",
    "new_release": "new release from {artist}, an artist you play",
    "new_release_any": "new release",
    "rotation": "in your rotation",
    "similar_track": "similar to {name}",
    "similar_track_shared": "similar to {name}: {shared} listeners play both",
    "similar_track_artist": "similar to {name}: by the same or a related artist",
    "similar_track_content": "similar to {name}: sounds alike",
    "similar_artist_shared": "{shared} listeners of {name} also play this artist",
    "similar_artist_content": "sounds like {name}",
    "picked": "because you picked {name}",
    "exploration": "exploration",
    "discovery": "new to you",
}


def reason(kind: str, **fields: str) -> str:
    """The reason text of ``kind`` (a key of :data:`TEMPLATES`) filled with ``fields``."""
    try:
        return TEMPLATES[kind].format(**fields)
    except KeyError as exc:
        raise ValueError(f"unknown reason {kind!r} or missing field {exc}; kinds: {', '.join(TEMPLATES)}") from None


def display_names(tracks: pl.DataFrame) -> dict[str, str]:
    """``track_id -> "Name by Artist"`` from a tracks table (ids stand in for missing names)."""
    if tracks.is_empty() or "track_id" not in tracks.columns:
        return {}
    label = pl.coalesce(pl.col("name"), pl.col("track_id"))
    if "artist_name" in tracks.columns:
        label = pl.when(pl.col("artist_name").is_not_null()).then(label + " by " + pl.col("artist_name")).otherwise(label)
    frame = tracks.select("track_id", label.alias("label"))
    return dict(zip(frame["track_id"].to_list(), frame["label"].to_list(), strict=True))


class ItemSpace:
    """Item vectors with their ids, for "closest to" questions (ALS or BPR factors, content vectors...).

    >>> space = ItemSpace(model.items_, model.item_vectors())  # doctest: +SKIP
    """

    def __init__(self, item_ids: np.ndarray | list[str], vectors: np.ndarray) -> None:
        ids = np.asarray(item_ids, dtype=str)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} item ids for {len(vectors)} vectors")
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        vectors = np.asarray(vectors, dtype=np.float64)[order]
        self.unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def rows(self, item_ids: list[str] | np.ndarray) -> np.ndarray:
        """Row of each id, ``-1`` where the space does not know it."""
        ids = np.asarray(item_ids, dtype=str)
        if not len(self.ids):
            return np.full(len(ids), -1)
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return np.where(self.ids[at] == ids, at, -1)


def track_artists(tracks: pl.DataFrame) -> dict[str, str]:
    """``track_id -> artist_id`` of a tracks table (empty without those columns)."""
    if not tracks.height or not {"track_id", "artist_id"} <= set(tracks.columns):
        return {}
    known = tracks.select(pl.col("track_id").cast(pl.String), pl.col("artist_id").cast(pl.String)).drop_nulls()
    return dict(zip(known["track_id"].to_list(), known["artist_id"].to_list(), strict=True))


def because_you_played(recs: pl.DataFrame, history: pl.DataFrame, space: ItemSpace,
                       names: Mapping[str, str] | None = None, top_history: int = 50,
                       artists: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Give each ``user_id, item_id`` row of ``recs`` the history track it is closest to.

    ``history``: ``user_id, item_id, weight`` (what each listener played, weighted; only their
    ``top_history`` heaviest tracks are candidates for the reason). Adds ``because`` (the played
    track's id) and sets ``reason`` to "because you played <name>"; rows the space cannot place
    (unknown item, no known history) keep their previous reason, or get "new to you".
    ``artists`` (track id -> artist id): a played track of the recommended track's own artist is the
    reason before any other (a new Simon & Garfunkel track is there because of the Simon & Garfunkel
    the listener plays, whatever track a model's vectors put nearest), the closest of them first.
    """
    missing = [c for c in ("user_id", "item_id") if c not in recs.columns]
    missing += [f"history.{c}" for c in ("user_id", "item_id", "weight") if c not in history.columns]
    if missing:
        raise ValueError(f"because_you_played needs columns {missing}")
    if top_history < 1:
        raise ValueError(f"top_history must be at least 1, got {top_history}")
    names = names or {}
    mine = (history.select("user_id", "item_id", "weight")
            .filter(pl.col("user_id").is_in(recs["user_id"].unique().implode()))
            .sort(["user_id", "weight", "item_id"], descending=[False, True, False]))
    played = {u: rows["item_id"].to_numpy().astype(str)
              for (u,), rows in mine.group_by("user_id", maintain_order=True)}
    framed = recs.with_row_index("_row")
    because = np.full(framed.height, None, dtype=object)
    for (user,), rows in framed.group_by("user_id", maintain_order=True):
        heard = played.get(str(user))  # heaviest first
        if heard is None:
            continue
        heard = heard if artists else heard[:top_history]  # only an artist match looks past the heaviest
        items = rows["item_id"].to_numpy().astype(str)
        at = rows["_row"].to_numpy()
        if artists:  # every played track of the item's own artist, else the heaviest top_history
            by = np.array([artists.get(i) or "" for i in items], dtype=object)
            mine_by = np.array([artists.get(h) or "" for h in heard], dtype=object)
            same = (by[:, None] == mine_by[None, :]) & (by[:, None] != "")
        else:
            same = np.zeros((len(items), len(heard)), dtype=bool)
        own = same.any(axis=1)
        heaviest = np.arange(len(heard)) < top_history
        heard_rows, item_rows = space.rows(heard), space.rows(items)
        placed, kept = item_rows >= 0, heard_rows >= 0
        sims = np.full(same.shape, -np.inf)
        if placed.any() and kept.any():
            sims[np.ix_(placed, kept)] = space.unit[item_rows[placed]] @ space.unit[heard_rows[kept]].T
        sims[~np.where(own[:, None], same, heaviest[None, :])] = -np.inf
        best = sims.argmax(axis=1)
        found = np.isfinite(sims[np.arange(len(items)), best])
        because[at[found]] = heard[best[found]]
        unplaced = own & ~found  # a same-artist track the space cannot compare: the heaviest of them
        because[at[unplaced]] = heard[same[unplaced].argmax(axis=1)]
    # from a list of str and None, never the object array: Polars cannot cast an object Series to String
    # when its first value is None (a listener, first in the batch, with nothing the space can place)
    chosen = [None if b is None else str(b) for b in because]
    known = pl.Series("because", chosen, dtype=pl.String)
    text = pl.Series("_text", [None if b is None else reason("because", name=names.get(b, b)) for b in chosen],
                     dtype=pl.String)
    previous = pl.col("reason") if "reason" in recs.columns else pl.lit(None, dtype=pl.String)
    return (framed.with_columns(known, text)
            .with_columns(pl.coalesce(pl.col("_text"), previous, pl.lit(reason("discovery"))).alias("reason"))
            .drop("_row", "_text"))
