"""Every surface's re-ranking chain, declared in one place.

A chain is a tuple of steps, each one configured policy of :mod:`tastemaker.rerank.policies`;
:func:`apply` runs them left to right over one listener's candidates (best first), handing each
step what the call knows (a :class:`Context`: the listener's heard tracks, the cards already on
the page, item vectors, the genre mix of their history...). A step whose optional data the call
lacks (no item vectors for :class:`Mmr`, no genres for :class:`Calibrate`) passes the list on
unchanged. Every surface takes its chain as an argument that defaults to the one declared here,
so a test or an experiment runs a surface with another chain. ``docs/surfaces.md`` says why each
surface has the steps it has.

>>> apply(DISCOVER_WEEKLY, candidates, Context(by="user_id"))  # doctest: +SKIP
>>> apply((Rules(), Cap("artist_id", 1)), candidates, Context(heard=["t1"]))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tastemaker.rerank.policies import calibrate, cap, dedupe, demote_shown, explore, mmr, rules, spread
from tastemaker.surfaces.reasons import ItemSpace


@dataclass(frozen=True, slots=True)
class Context:
    """What one call of a surface knows beyond its candidates; each step reads the fields it names.

    ``heard``: item ids the listener played (:class:`Rules`); ``shown``: rows already on the page,
    with the :class:`Dedupe` columns; ``listed``: rows already on this list, whose values a
    :class:`Cap` counts; ``before``: the :class:`Spread` column's values just before the list,
    most recent last; ``space``: item vectors (:class:`Mmr`); ``target``: genre → share of the
    listener's history (:class:`Calibrate`); ``pool`` and ``rng``: what :class:`Explore` draws
    from and with; ``impressions``: how often each item was shown to the listener (``[by,] item_id,
    shown``: :class:`Unplayed`); ``k``: how many items the list needs (``None``: all); ``by``: the column
    holding several listeners' lists in one frame (only :class:`Cap` and :class:`Dedupe` run so).
    """

    heard: Sequence[str] = ()
    shown: pl.DataFrame | None = None
    listed: pl.DataFrame | None = None
    before: Sequence[object] = ()
    space: ItemSpace | None = None
    target: Mapping[str, float] | None = None
    pool: pl.DataFrame | None = None
    rng: np.random.Generator | None = None
    k: int | None = None
    by: str | None = None
    impressions: pl.DataFrame | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """Drop the listener's heard tracks (``Context.heard``), and explicit ones unless ``allow_explicit``."""

    allow_explicit: bool = True

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        return rules(frame, heard=ctx.heard, allow_explicit=self.allow_explicit)


@dataclass(frozen=True, slots=True)
class Dedupe:
    """Each item once, and none of ``Context.shown``; ``on``: the columns naming an item."""

    on: tuple[str, ...] = ("item_id",)

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        return dedupe(frame, self.on, shown=ctx.shown, by=_by(ctx))


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``limit`` items per value of ``column``, counting those of ``Context.listed``."""

    column: str = "artist_id"
    limit: int = 2

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        listed = ctx.listed
        known = listed is not None and self.column in listed.columns
        counted = listed[self.column].to_list() if listed is not None and known else ()
        return cap(frame, self.column, self.limit, counted=counted, by=_by(ctx))


@dataclass(frozen=True, slots=True)
class Spread:
    """No value of ``column`` twice within ``gap`` places, counting ``Context.before``."""

    column: str = "artist_id"
    gap: int = 3

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        return spread(frame, self.column, self.gap, before=ctx.before, k=ctx.k)


@dataclass(frozen=True, slots=True)
class Unplayed:
    """Tracks shown ``times`` times or more and never played go last (``Context.impressions``); adds ``shown``."""

    times: int = 3

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        return demote_shown(frame, ctx.impressions, self.times, by=_by(ctx))


@dataclass(frozen=True, slots=True)
class Mmr:
    """Maximal marginal relevance over ``Context.space``'s vectors (an unknown item's vector is 0)."""

    lam: float = 0.7

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        if ctx.space is None or frame.is_empty():
            return frame
        rows = ctx.space.rows(frame["item_id"].to_numpy().astype(str))
        vectors = np.where((rows >= 0)[:, None], ctx.space.unit[np.maximum(rows, 0)], 0.0)
        return mmr(frame, vectors, self.lam, k=ctx.k)


@dataclass(frozen=True, slots=True)
class Calibrate:
    """The genre mix of the list towards ``Context.target`` (candidates carry ``genre``)."""

    lam: float = 0.5

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        if not ctx.target or "genre" not in frame.columns or frame.is_empty():
            return frame
        return calibrate(frame, dict(ctx.target), ctx.k or frame.height, self.lam)


@dataclass(frozen=True, slots=True)
class Explore:
    """The list (the first ``Context.k`` items): with probability ``epsilon``, each of ``slots``
    (0-based places) shows an item of ``Context.pool`` that is not on it; every row gets its
    ``propensity``."""

    epsilon: float = 0.1
    slots: tuple[int, ...] = ()

    def __call__(self, frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
        if ctx.rng is None:
            raise ValueError("an Explore step needs Context.rng, e.g. Context(rng=np.random.default_rng())")
        shown = frame if ctx.k is None else frame.head(ctx.k)
        pool = ctx.pool if ctx.pool is not None else frame.clear()
        return explore(shown, pool, self.slots, self.epsilon, ctx.rng)


Step = Rules | Dedupe | Cap | Spread | Unplayed | Mmr | Calibrate | Explore
Chain = tuple[Step, ...]
#: steps that can run on many listeners' lists at once (``Context.by``)
BATCHED = (Dedupe, Cap, Unplayed)

#: unheard tracks (the model's ``exclude``), those shown three times without a play last, at most two per artist
DISCOVER_WEEKLY: Chain = (Unplayed(3), Cap("artist_id", 2))
#: each pass of a mix (familiar tracks, then new ones): new ones unheard, no track in two mixes, 4 per artist
DAILY_MIX: Chain = (Rules(), Dedupe(), Cap("artist_id", 4))
#: nothing played in the session again, no artist within three tracks
RADIO: Chain = (Rules(), Spread("artist_id", 3))
#: each home shelf: no card shown higher up, at most two track cards per ``artist`` (a track card's artist)
HOME: Chain = (Dedupe(("kind", "item_id")), Cap("artist", 2))
#: the home shelf "Recommended for you": the personal model's picks, two per artist, diversified over the item vectors
HOME_RECOMMENDED: Chain = (Cap("artist_id", 2), Mmr(0.7))
#: tracks like a seed: not the seed, none the listener played, at most two per artist
SIMILAR: Chain = (Rules(), Cap("artist_id", 2))
#: the personal model's picks calibrated to the listener's genre mix, two exploration slots
FOR_YOU: Chain = (Rules(), Calibrate(0.5), Explore(0.1, (4, 9)))


def apply(chain: Chain, candidates: pl.DataFrame, ctx: Context | None = None) -> pl.DataFrame:
    """Run ``chain``'s steps left to right over ``candidates`` (best first) and return the new list.

    ``ctx`` (default: knows nothing) is handed to every step. With ``ctx.by`` the frame holds many
    listeners' lists and only :data:`BATCHED` steps may run.

    >>> apply((Cap("artist_id", 1),), cands)["artist_id"].is_unique().all()  # doctest: +SKIP
    True
    """
    ctx = Context() if ctx is None else ctx
    if ctx.by is not None and (single := [type(s).__name__ for s in chain if not isinstance(s, BATCHED)]):
        raise ValueError(f"steps {single} re-rank one listener's list: apply the chain per listener "
                         "(Context.by=None)")
    for step in chain:
        candidates = step(candidates, ctx)
    return candidates


def _by(ctx: Context) -> tuple[str, ...]:
    return () if ctx.by is None else (ctx.by,)
