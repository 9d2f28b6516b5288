"""Radio: an endless queue from a seed (a track, an artist, a playlist) that listens to the session.

The next tracks are the ones closest to a *steering* vector: the seed, pulled towards tracks the
listener let play and pushed away from tracks they skipped, later events weighing more. A skip
therefore changes what comes next at once, without retraining. With a ``similarity``
(:class:`~tastemaker.candidates.similarity.CoListening`), the seed's *neighbourhood* comes first: the
tracks its listeners also play, with support (else its artist's and similar artists' tracks), ordered by
that score plus the session's steering; the rest of the catalogue follows in the steering order, so one
stranger's niche plays, which a model puts right next to a niche seed, come only after the tracks
listeners share. The queue then runs the radio's chain
(:data:`~tastemaker.surfaces.chains.RADIO`): nothing already played in the session comes back, and
an artist is not repeated within three tracks, the session's last tracks included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tastemaker.candidates.similarity import BASES, CoListening
from tastemaker.surfaces.chains import RADIO, Chain, Context, apply

#: how deep in the ranking a queue of ``k`` looks first (the whole catalog only when spacing needs more)
DEPTH = 8
#: an artist's radio plays one of the artist's own tracks at every this-many places, from the first
OWN_EVERY = 4
#: how many tracks the seed's neighbourhood holds (per seed, before merging several seeds)
NEIGHBOURHOOD = 200


@dataclass(frozen=True, slots=True)
class Played:
    """One track of the session so far, and whether the listener skipped it."""

    item_id: str
    skipped: bool


class Radio:
    """Radio over item vectors (ALS item factors, item2vec vectors, content vectors...).

    ``item_ids`` and ``vectors`` are aligned; ``artists`` (optional, aligned) enables artist spacing;
    ``chain``: the re-ranking of each queue (default :data:`~tastemaker.surfaces.chains.RADIO`);
    ``similarity``: the seed's neighbourhood comes first (see the module's docstring).

    >>> radio = Radio(ids, vectors, artists)  # doctest: +SKIP
    >>> radio.next_tracks("seed", [Played("t1", skipped=True)], k=5)  # doctest: +SKIP
    """

    def __init__(self, item_ids: Sequence[str], vectors: np.ndarray, artists: Sequence[str] | None = None,
                 like: float = 0.5, skip: float = 1.0, decay: float = 0.7, chain: Chain = RADIO,
                 similarity: CoListening | None = None) -> None:
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
        self.similarity = similarity

    def _find(self, item_id: str) -> int | None:
        i = int(np.searchsorted(self.ids, item_id))
        return i if i < len(self.ids) and self.ids[i] == item_id else None

    def _ranked(self, seeds: list[str], scores: np.ndarray, steering: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The catalogue's order and scores: the seeds' neighbourhood first, by basis (co-listeners, then
        the artist level, then content), each by its score plus the steering; then the rest by ``scores``
        (``scores`` alone without a similarity)."""
        near = None if self.similarity is None else self.similarity.around(seeds, NEIGHBOURHOOD)
        if near is None or near.is_empty():
            return np.argsort(-scores, kind="stable"), scores
        ids = near["item_id"].to_numpy().astype(str)
        rows = np.searchsorted(self.ids, ids)
        found = (rows < len(self.ids)) & (self.ids[np.minimum(rows, len(self.ids) - 1)] == ids)
        rows = rows[found]
        tier = np.full(len(self.ids), len(BASES))
        tier[rows] = [BASES.index(b) for b in near["basis"].filter(pl.Series(found))]
        mixed = scores.copy()
        mixed[rows] = near["score"].to_numpy()[found] + self.unit[rows] @ steering
        return np.lexsort((-mixed, tier)), mixed

    def next_tracks(self, seed: str | Sequence[str], session: Sequence[Played] = (), k: int = 10,
                    label: str | None = None, play_seeds: bool = False) -> pl.DataFrame:
        """The next ``k`` tracks as ``position, item_id, score, reason``; session tracks the model
        does not know are ignored.

        ``seed``: one track, or several (an artist's best-known tracks, a playlist's tracks): the
        radio starts from their mean direction and none of them is played, unless ``play_seeds`` (an
        artist's radio plays the artist: their tracks, closest to the radio's direction first, take
        every :data:`OWN_EVERY`-th place from the first, and only those; the other places are other
        artists', as without them). ``label`` names the seed in the reason (default: the track id, or
        "N tracks").
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
        steering = np.zeros_like(steer)
        for back, (i, event) in enumerate(reversed(known)):
            steering += self.decay ** back * (-self.skip if event.skipped else self.like) * self.unit[i]
        scores = self.unit @ (steer + steering)
        played = [*starts, *(i for i, _ in known)]
        ctx = Context(heard=self.ids[played].tolist(), k=k,
                      before=[] if self.artists is None else self.artists[played].tolist())
        ranked, scores = self._ranked(self.ids[starts].tolist(), scores, steering)
        for depth in (min(len(ranked), DEPTH * k + len(played)), len(ranked)):
            top = ranked[:depth]
            candidates = pl.DataFrame({
                "item_id": self.ids[top], "score": scores[top],
                "artist_id": [None] * depth if self.artists is None else self.artists[top],
            }, schema={"item_id": pl.String, "score": pl.Float64, "artist_id": pl.String})
            if play_seeds and self.artists is not None:  # the artist's places are the interleaved ones
                candidates = candidates.filter(~pl.col("artist_id").is_in(self.artists[starts].tolist()))
            queue = apply(self.chain, candidates, ctx).head(k)
            if queue.height == k or depth == len(ranked):  # rules and spacing walk forward: a queue filled
                break  # from the top of the ranking is the one the whole ranking gives
        if play_seeds:
            heard = {self.ids[i] for i, _ in known}
            own = [i for i in sorted(dict.fromkeys(starts), key=lambda i: -scores[i]) if self.ids[i] not in heard]
            queue = _interleave(queue.select("item_id", "score"),
                                pl.DataFrame({"item_id": self.ids[own], "score": scores[own]},
                                             schema={"item_id": pl.String, "score": pl.Float64}), k)
        skipped = [e.item_id for e in session if e.skipped]
        label = label or (seeds[0] if len(seeds) == 1 else f"{len(seeds)} tracks")
        reason = f"radio from {label}" + (f", steering away from {len(skipped)} skipped" if skipped else "")
        return queue.select(pl.int_range(1, pl.len() + 1).alias("position"), "item_id", "score",
                            pl.lit(reason, dtype=pl.String).alias("reason"))


def _interleave(queue: pl.DataFrame, own: pl.DataFrame, k: int) -> pl.DataFrame:
    """``queue`` with ``own``'s rows at places 1, 1 + :data:`OWN_EVERY`, ... (either filling in when the other
    runs out), ``k`` rows at most."""
    rest, mine, out = queue.iter_rows(), own.iter_rows(), []
    for place in range(k):
        first, second = (mine, rest) if place % OWN_EVERY == 0 else (rest, mine)
        row = next(first, None) or next(second, None)
        if row is None:
            break
        out.append(row)
    return pl.DataFrame(out, schema={"item_id": pl.String, "score": pl.Float64}, orient="row")
