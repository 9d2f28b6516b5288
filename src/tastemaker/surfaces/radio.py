"""Radio: an endless queue from a seed (a track, an artist, a playlist) that listens to the session.

The next tracks are the ones closest to a *steering* vector: the seed, pulled towards tracks the
listener let play and pushed away from tracks they skipped, later events weighing more. A skip
therefore changes what comes next at once, without retraining. The queue then runs the radio's chain
(:data:`~tastemaker.surfaces.chains.RADIO`): nothing already played in the session comes back, and
an artist is not repeated within three tracks, the session's last tracks included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tastemaker.surfaces.chains import RADIO, Chain, Context, apply

#: how deep in the ranking a queue of ``k`` looks first (the whole catalog only when spacing needs more)
DEPTH = 8


@dataclass(frozen=True, slots=True)
class Played:
    """One track of the session so far, and whether the listener skipped it."""

    item_id: str
    skipped: bool


class Radio:
    """Radio over item vectors (ALS item factors, item2vec vectors, content vectors...).

    ``item_ids`` and ``vectors`` are aligned; ``artists`` (optional, aligned) enables artist spacing;
    ``chain``: the re-ranking of each queue (default :data:`~tastemaker.surfaces.chains.RADIO`).

    >>> radio = Radio(ids, vectors, artists)  # doctest: +SKIP
    >>> radio.next_tracks("seed", [Played("t1", skipped=True)], k=5)  # doctest: +SKIP
    """

    def __init__(self, item_ids: Sequence[str], vectors: np.ndarray, artists: Sequence[str] | None = None,
                 like: float = 0.5, skip: float = 1.0, decay: float = 0.7, chain: Chain = RADIO) -> None:
        if len(item_ids) != len(vectors):
            raise ValueError(f"{len(item_ids)} item ids for {len(vectors)} vectors")
        if artists is not None and len(artists) != len(item_ids):
            raise ValueError(f"{len(artists)} artists for {len(item_ids)} items")
        order = np.argsort(np.asarray(item_ids, dtype=str))
        self.ids = np.asarray(item_ids, dtype=str)[order]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = (np.asarray(vectors, dtype=np.float64) / np.maximum(norms, 1e-12))[order]
        self.artists = None if artists is None else np.asarray(artists, dtype=str)[order]
        self.like, self.skip, self.decay, self.chain = like, skip, decay, chain

    def _find(self, item_id: str) -> int | None:
        i = int(np.searchsorted(self.ids, item_id))
        return i if i < len(self.ids) and self.ids[i] == item_id else None

    def next_tracks(self, seed: str | Sequence[str], session: Sequence[Played] = (), k: int = 10,
                    label: str | None = None) -> pl.DataFrame:
        """The next ``k`` tracks as ``position, item_id, score, reason``; session tracks the model
        does not know are ignored.

        ``seed``: one track, or several (an artist's best-known tracks, a playlist's tracks): the
        radio starts from their mean direction and none of them is played. ``label`` names the
        seed in the reason (default: the track id, or "N tracks").
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        seeds = [seed] if isinstance(seed, str) else list(seed)
        starts = [i for s in seeds if (i := self._find(s)) is not None]
        if not starts:
            raise KeyError(f"unknown track {seed!r}: radio needs a seed the model knows")
        steer = self.unit[starts].mean(axis=0)
        steer /= max(float(np.linalg.norm(steer)), 1e-12)
        known = [(i, e) for e in session if (i := self._find(e.item_id)) is not None]
        for back, (i, event) in enumerate(reversed(known)):
            steer += self.decay ** back * (-self.skip if event.skipped else self.like) * self.unit[i]
        scores = self.unit @ steer
        played = [*starts, *(i for i, _ in known)]
        ctx = Context(heard=self.ids[played].tolist(), k=k,
                      before=[] if self.artists is None else self.artists[played].tolist())
        ranked = np.argsort(-scores, kind="stable")
        for depth in (min(len(ranked), DEPTH * k + len(played)), len(ranked)):
            top = ranked[:depth]
            candidates = pl.DataFrame({
                "item_id": self.ids[top], "score": scores[top],
                "artist_id": [None] * depth if self.artists is None else self.artists[top],
            }, schema={"item_id": pl.String, "score": pl.Float64, "artist_id": pl.String})
            queue = apply(self.chain, candidates, ctx).head(k)
            if queue.height == k or depth == len(ranked):  # rules and spacing walk forward: a queue filled
                break  # from the top of the ranking is the one the whole ranking gives
        skipped = [e.item_id for e in session if e.skipped]
        label = label or (seeds[0] if len(seeds) == 1 else f"{len(seeds)} tracks")
        reason = f"radio from {label}" + (f", steering away from {len(skipped)} skipped" if skipped else "")
        return queue.select(pl.int_range(1, pl.len() + 1).alias("position"), "item_id", "score",
                            pl.lit(reason, dtype=pl.String).alias("reason"))
