"""Daily Mixes: a listener's taste split into a few coherent mixes, mostly familiar, a few new.

1. The listener's most played tracks (``max_history``, by recency-weighted listens) are placed in
   the model's item space and clustered with spherical k-means (``scipy.cluster.vq.kmeans2`` on
   unit vectors, seeded, so the mixes are stable): up to ``n_mixes`` clusters, none smaller
   than ``min_tracks``; the members of too-small clusters join the nearest kept one.
2. Mixes are numbered by how much the listener plays them (Daily Mix 1 is the main taste) and
   described by their three most played artists, as listeners know them.
3. Each mix holds up to ``size`` tracks: its familiar tracks by weight, and ``new`` unheard
   tracks from the listener's candidates (a personal model's top picks) that are closest to the
   mix's centre, at evenly spread positions; never more than one new track for three familiar
   ones, so a small mix stays a mix of what the listener knows. Both passes (familiar, then new)
   run the mix's chain (:data:`~tastemaker.surfaces.chains.DAILY_MIX`): new tracks unheard (none of
   the whole history), no track in two mixes, at most four tracks per artist in a mix (the new
   ones counting the familiar ones).
4. Reasons: a familiar track is "in your rotation"; a new one says which familiar track of the
   mix it is closest to ("because you played X").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.cluster.vq import kmeans2

from tastemaker.surfaces.chains import DAILY_MIX, Chain, Context, apply
from tastemaker.surfaces.reasons import ItemSpace, reason

COLUMNS = ("user_id", "mix", "mix_name", "description", "position", "item_id", "artist_id", "familiar", "score",
           "because", "reason")


@dataclass(frozen=True, slots=True)
class MixParams:
    """How many mixes, how long, how much new music."""

    n_mixes: int = 6
    size: int = 30
    new: int = 5
    min_tracks: int = 8
    max_history: int = 300
    seed: int = 0

    def check(self) -> None:
        if self.n_mixes < 1 or self.size < 1 or self.min_tracks < 1 or self.max_history < 1:
            raise ValueError(f"n_mixes, size, min_tracks and max_history must be at least 1: {self}")
        if not 0 <= self.new <= self.size:
            raise ValueError(f"new must be within [0, size], got {self.new} for size {self.size}")


class DailyMixes:
    """Build Daily Mixes from an item space and each listener's history and candidates.

    ``artists``: ``item_id -> artist_id`` (artist caps and descriptions); ``artist_names``:
    ``artist_id -> name``; ``order``: optional function re-ordering one mix (e.g. by transitions);
    ``chain``: the re-ranking each pass of a mix runs (:data:`~tastemaker.surfaces.chains.DAILY_MIX`).

    >>> mixes = DailyMixes(ItemSpace(model.items_, model.item_vectors()), artists)  # doctest: +SKIP
    >>> mixes.for_user("u1", history, candidates)  # doctest: +SKIP
    """

    def __init__(self, space: ItemSpace, artists: Mapping[str, str] | None = None,
                 artist_names: Mapping[str, str] | None = None, params: MixParams | None = None,
                 order: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
                 names: Mapping[str, str] | None = None, chain: Chain = DAILY_MIX) -> None:
        self.space = space
        self.artists = artists or {}
        self.artist_names = artist_names or {}
        self.params = params or MixParams()
        self.params.check()
        self.order = order
        self.names = names or {}
        self.chain = chain

    def for_user(self, user_id: str, history: pl.DataFrame, candidates: pl.DataFrame | None = None) -> pl.DataFrame:
        """``user_id``'s mixes, one row per track (columns :data:`COLUMNS`); empty without known history.

        ``history``: this listener's ``item_id, weight``; ``candidates``: ``item_id, score`` unheard
        tracks a personal model ranks for them (best first), the pool of new tracks.
        """
        for frame, need in ((history, ("item_id", "weight")), (candidates, ("item_id",))):
            if frame is not None and (missing := [c for c in need if c not in frame.columns]):
                raise ValueError(f"daily mixes need columns {missing}; got {frame.columns}")
        p = self.params
        played = (history.group_by("item_id").agg(pl.col("weight").sum())
                  .sort(["weight", "item_id"], descending=[True, False]))
        rows = self.space.rows(played["item_id"].to_numpy().astype(str))
        played = played.filter(pl.Series(rows >= 0)).head(p.max_history)
        if played.is_empty():
            return pl.DataFrame(schema=mix_schema())
        ids = played["item_id"].to_numpy().astype(str)
        weights = played["weight"].to_numpy().astype(np.float64)
        unit = self.space.unit[self.space.rows(ids)]
        labels, centres = self._clusters(unit)
        heard = history["item_id"].cast(pl.String).unique().to_list()  # new tracks: none the listener played
        pool_ids = np.asarray([] if candidates is None else candidates["item_id"].to_list(), dtype=str)
        pool_rows = self.space.rows(pool_ids)
        pool_ids, pool_unit = pool_ids[pool_rows >= 0], self.space.unit[pool_rows[pool_rows >= 0]]
        taken: set[str] = set()
        mixes = []
        by_weight = sorted(range(len(centres)), key=lambda c: (-weights[labels == c].sum(), c))
        for number, c in enumerate(by_weight, start=1):
            members = np.flatnonzero(labels == c)
            mix = self._mix(user_id, number, ids[members], weights[members], unit[members], centres[c],
                            pool_ids, pool_unit, Context(heard=heard, shown=pl.DataFrame(
                                {"item_id": sorted(taken)}, schema={"item_id": pl.String})))
            if mix.height:
                taken.update(mix["item_id"].to_list())
                mixes.append(mix)
        return pl.concat(mixes) if mixes else pl.DataFrame(schema=mix_schema())

    def _clusters(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and unit centres of at most ``n_mixes`` clusters of at least ``min_tracks`` tracks."""
        p = self.params
        k = max(1, min(p.n_mixes, len(unit) // p.min_tracks))
        if k == 1:
            return np.zeros(len(unit), dtype=int), _normed(unit.mean(axis=0, keepdims=True))
        centres, labels = kmeans2(unit, k, minit="++", seed=p.seed, iter=20)
        sizes = np.bincount(labels, minlength=k)
        kept = np.flatnonzero(sizes >= p.min_tracks)
        if not kept.size:
            return np.zeros(len(unit), dtype=int), _normed(unit.mean(axis=0, keepdims=True))
        centres = _normed(np.stack([unit[labels == c].mean(axis=0) for c in kept]))
        return np.argmax(unit @ centres.T, axis=1), centres  # small clusters' tracks join the nearest kept one

    def _mix(self, user_id: str, number: int, ids: np.ndarray, weights: np.ndarray, unit: np.ndarray,
             centre: np.ndarray, pool_ids: np.ndarray, pool_unit: np.ndarray, ctx: Context) -> pl.DataFrame:
        """One mix: its familiar tracks, then new ones from the pool closest to ``centre``, each pass
        through the chain (``ctx``: the listener's heard tracks and the tracks of earlier mixes)."""
        p = self.params
        familiar = apply(self.chain, self._frame(ids, weights), Context(shown=ctx.shown)).head(p.size - p.new)
        if familiar.is_empty():
            return pl.DataFrame(schema=mix_schema())
        closeness = pool_unit @ centre if len(pool_ids) else np.zeros(0)
        order = np.argsort(-closeness, kind="stable")
        new = Context(heard=ctx.heard, shown=ctx.shown, listed=familiar)
        fresh = apply(self.chain, self._frame(pool_ids[order], closeness[order], order), new)
        fresh = fresh.head(min(p.new, familiar.height // 3))
        picked = fresh["_j"].to_numpy()
        because = ids[np.argmax(unit @ pool_unit[picked].T, axis=0)] if len(picked) else ids[:0]
        rows = [(i, True, w, None, reason("rotation"))
                for i, w in familiar.select("item_id", "score").iter_rows()]
        news = [(i, False, s, str(b), reason("because", name=self.names.get(str(b), str(b))))
                for (i, s), b in zip(fresh.select("item_id", "score").iter_rows(), because, strict=True)]
        tracks = _spread(rows, news)
        top = (familiar.drop_nulls("artist_id").group_by("artist_id").agg(pl.col("score").sum())
               .sort(["score", "artist_id"], descending=[True, False])["artist_id"].head(3).to_list())
        labels = [self.artist_names.get(a, a) for a in top]
        description = ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else "".join(labels)
        mix = pl.DataFrame({
            "user_id": [user_id] * len(tracks), "mix": [number] * len(tracks),
            "mix_name": [f"Daily Mix {number}"] * len(tracks), "description": [description] * len(tracks),
            "position": list(range(1, len(tracks) + 1)), "item_id": [t[0] for t in tracks],
            "artist_id": [self.artists.get(t[0]) for t in tracks], "familiar": [t[1] for t in tracks],
            "score": [t[2] for t in tracks], "because": [t[3] for t in tracks], "reason": [t[4] for t in tracks],
        }, schema=mix_schema())
        if self.order is not None:
            mix = self.order(mix).with_columns(pl.int_range(1, pl.len() + 1).alias("position")).select(COLUMNS)
        return mix

    def _frame(self, ids: np.ndarray, scores: np.ndarray, index: np.ndarray | None = None) -> pl.DataFrame:
        """Candidates for the chain: ``item_id, score, artist_id`` and ``_j``, each row's place in ``ids``."""
        return pl.DataFrame({
            "item_id": ids.astype(str), "score": scores.astype(np.float64),
            "artist_id": [self.artists.get(str(i)) for i in ids],
            "_j": np.arange(len(ids)) if index is None else index,
        }, schema={"item_id": pl.String, "score": pl.Float64, "artist_id": pl.String, "_j": pl.Int64})

    def batch(self, users: Sequence[str], history: pl.DataFrame, candidates: pl.DataFrame | None = None) -> pl.DataFrame:
        """Every listener's mixes: ``history`` and ``candidates`` carry a ``user_id`` column."""
        by_user = {u: rows for (u,), rows in history.group_by("user_id")}
        pools = {} if candidates is None else {u: rows.sort("rank") if "rank" in rows.columns else rows
                                               for (u,), rows in candidates.group_by("user_id")}
        parts = [self.for_user(u, by_user[u], pools.get(u)) for u in users if u in by_user]
        parts = [p for p in parts if p.height]
        return pl.concat(parts) if parts else pl.DataFrame(schema=mix_schema())


def _spread(familiar: list[tuple], new: list[tuple]) -> list[tuple]:  # type: ignore[type-arg]
    """Familiar tracks in order with the new ones at evenly spaced positions (never first)."""
    total = len(familiar) + len(new)
    slots = {int(round((j + 1) * total / (len(new) + 1))) - 1 for j in range(len(new))} if new else set()
    slots = {max(1, min(s, total - 1)) for s in slots}
    while len(slots) < len(new):  # rounding collisions: take the next free place
        slots.add(next(s for s in range(1, total) if s not in slots))
    f, n = iter(familiar), iter(new)
    return [next(n) if i in slots else next(f) for i in range(total)]


def _normed(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def mix_schema() -> dict[str, pl.DataType]:
    return {"user_id": pl.String(), "mix": pl.Int64(), "mix_name": pl.String(), "description": pl.String(),
            "position": pl.Int64(), "item_id": pl.String(), "artist_id": pl.String(), "familiar": pl.Boolean(),
            "score": pl.Float64(), "because": pl.String(), "reason": pl.String()}
