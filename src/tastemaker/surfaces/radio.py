"""Radio: an endless queue from a seed (a track, an artist, a playlist) that listens to the session.

The next tracks are the ones closest to a *steering* vector: the seed, pulled towards tracks the
listener let play and pushed away from tracks they skipped, later events weighing more. A skip
therefore changes what comes next at once, without retraining. Nothing already played in the
session comes back, and an artist is not repeated within ``artist_gap`` tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True, slots=True)
class Played:
    """One track of the session so far, and whether the listener skipped it."""

    item_id: str
    skipped: bool


class Radio:
    """Radio over item vectors (ALS item factors, item2vec vectors, content vectors...).

    ``item_ids`` and ``vectors`` are aligned; ``artists`` (optional, aligned) enables artist spacing.

    >>> radio = Radio(ids, vectors, artists)  # doctest: +SKIP
    >>> radio.next_tracks("seed", [Played("t1", skipped=True)], k=5)  # doctest: +SKIP
    """

    def __init__(self, item_ids: Sequence[str], vectors: np.ndarray, artists: Sequence[str] | None = None,
                 like: float = 0.5, skip: float = 1.0, decay: float = 0.7, artist_gap: int = 3) -> None:
        if len(item_ids) != len(vectors):
            raise ValueError(f"{len(item_ids)} item ids for {len(vectors)} vectors")
        if artists is not None and len(artists) != len(item_ids):
            raise ValueError(f"{len(artists)} artists for {len(item_ids)} items")
        order = np.argsort(np.asarray(item_ids, dtype=str))
        self.ids = np.asarray(item_ids, dtype=str)[order]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = (np.asarray(vectors, dtype=np.float64) / np.maximum(norms, 1e-12))[order]
        self.artists = None if artists is None else np.asarray(artists, dtype=str)[order]
        self.like, self.skip, self.decay, self.artist_gap = like, skip, decay, artist_gap

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
        scores[played] = -np.inf
        recent_artists = [] if self.artists is None else [str(self.artists[i]) for i in played]
        picked: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            if len(picked) == k or not np.isfinite(scores[i]):
                break
            if self.artists is not None and self.artists[i] in recent_artists[-self.artist_gap:]:
                continue
            picked.append(int(i))
            if self.artists is not None:
                recent_artists.append(self.artists[i])
        skipped = [e.item_id for e in session if e.skipped]
        label = label or (seeds[0] if len(seeds) == 1 else f"{len(seeds)} tracks")
        reason = f"radio from {label}" + (f", steering away from {len(skipped)} skipped" if skipped else "")
        return pl.DataFrame({"position": np.arange(1, len(picked) + 1), "item_id": self.ids[picked],
                             "score": scores[picked], "reason": [reason] * len(picked)})
