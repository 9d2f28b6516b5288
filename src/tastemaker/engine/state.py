"""Every listener's listening, held in memory so a request never scans the store.

Loaded once at startup in one pass over the store's events, then kept current by the server's
own writes: ``POST /v1/events`` adds the rows it stored (after the durable append), ``DELETE
/v1/users/{id}`` drops the listener. Impressions are not listening and never enter ``heard`` or
``history``; they are kept apart, as the days each item was shown to each listener (``shown``),
which Discover Weekly's no-repeat policy reads (``docs/surfaces.md``, *Shown is not heard*). A model
hot-swap leaves it alone: it comes from the store, not the model. Events written to the store
by another process while the server runs (``tastemaker import``) are seen after a restart.

For each listener it holds what :class:`~tastemaker.engine.recommend.Listening` needs: ``heard``
(every item they have an event for, skips included) and ``history`` (one row per item they
listened to, as :func:`~tastemaker.features.interactions.interactions` computes it for that
listener alone: ``recency`` decayed from *their* newest listen).

Storage: two frames sorted by listener, read by zero-copy slices through an id → (offset, length)
index, plus a copy-on-write entry per listener changed since startup. Readers take no lock; a
writer builds a listener's new frames off to the side and publishes them with one dict
assignment, so a request sees their listening before or after a batch, never half of it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from tastemaker.engine.reads import collect
from tastemaker.features.interactions import CARRIED, HALF_LIFE_DAYS, interactions
from tastemaker.features.interactions import heard as heard_items

#: the events columns the state is computed from
COLUMNS = ("user_id", "item_id", "artist_id", "type", "ts", "ms_played", "skipped", "count", *CARRIED)

Index = dict[str, tuple[int, int]]


#: the surface whose impressions count as shown for the no-repeat policy
SHOWN_SURFACE = "discover-weekly"
#: the schema of shown days: one row per listener, item and UTC day it was shown to them
SHOWN_SCHEMA = {"user_id": pl.String, "item_id": pl.String, "day": pl.Date}


@dataclass(frozen=True, slots=True)
class Held:
    """One listener's ``heard`` (``user_id, item_id``), ``history`` (interactions rows) and ``shown``
    (``user_id, item_id, day``: the days each item was shown to them)."""

    heard: pl.DataFrame
    history: pl.DataFrame
    shown: pl.DataFrame


@dataclass(frozen=True, slots=True)
class _Base:
    """What startup loaded, sorted by listener, with where each listener's rows are."""

    heard: pl.DataFrame
    heard_at: Index
    history: pl.DataFrame
    history_at: Index


class ListeningState:
    """Per-listener listening in memory (see the module docstring).

    >>> state = ListeningState.load(store)  # doctest: +SKIP
    >>> state.get("u1").heard["item_id"].to_list()  # doctest: +SKIP
    ['t1', 't7']
    """

    def __init__(self, events: pl.DataFrame, half_life_days: float = HALF_LIFE_DAYS,
                 shown: pl.DataFrame | None = None) -> None:
        """State of ``events`` (rows of the events table; their impressions count as ``shown``) and of
        ``shown`` (``user_id, item_id, day`` rows, e.g. :func:`shown_days` of the stored impressions)."""
        if half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days}")
        self.half_life_days = half_life_days
        heard, history = _listening(events, half_life_days)
        self._base = _indexed(heard.sort("user_id"), history.sort("user_id"))
        days = shown_days(events) if shown is None else pl.concat([shown_days(events), shown.select(*SHOWN_SCHEMA)],
                                                                 how="vertical_relaxed").unique(maintain_order=True)
        days = days.sort("user_id", maintain_order=True)
        self._shown_base = (days, _index(days))  # one attribute: a reader never pairs a frame with another's index
        self._shown_changed: dict[str, pl.DataFrame] = {}
        #: listener -> the frames of the batch that changed them last (one object per batch: publishing a
        #: batch of thousands of listeners is a dict assignment each, not two frame slices each)
        self._changed: dict[str, _Base] = {}
        #: every listener whose listening changed since it was loaded (kept when :meth:`consolidate` folds
        #: their rows into the base)
        self._touched: set[str] = set()
        #: listener -> a number that changes whenever their listening or shown days do (from one counter:
        #: never the same twice), what an answer computed from them is valid for (:meth:`version`)
        self._versions: dict[str, int] = {}
        self._counter = itertools.count(1)
        #: serialises writers; readers never take it
        self._lock = threading.Lock()
        #: counts forgets; a write that started before a listener's forget leaves them out
        self._forgets = 0
        self._forgotten: dict[str, int] = {}

    @classmethod
    def load(cls, store: Any, half_life_days: float = HALF_LIFE_DAYS) -> ListeningState:
        """The state of every listener in ``store`` now (one scan of the events table)."""
        return cls(collect(lambda: _listening_events(store.events())), half_life_days,
                   shown=collect(lambda: _shown_days(store.events().select("user_id", "item_id", "type", "ts", "surface"))))

    def get(self, user_id: str) -> Held:
        """``user_id``'s listening now (empty frames for a listener with none)."""
        shown = self._shown_changed.get(user_id)
        if shown is None:
            shown = _slice(*self._shown_base, user_id)
        base = self._changed.get(user_id) or self._base  # the batch that changed them last, else the base
        return Held(_slice(base.heard, base.heard_at, user_id), _slice(base.history, base.history_at, user_id),
                    shown)

    def add_shown(self, rows: pl.DataFrame) -> None:
        """Count the impressions among stored events ``rows`` (the server's own flushed lists) as shown.

        Idempotent: an item shown twice on one day is one shown day, so rows seen again change nothing.
        """
        days = shown_days(rows)
        if days.is_empty():
            return
        with self._lock:
            users = days["user_id"].unique().sort().to_list()
            if self._forgotten:
                gone = set(self._forgotten)
                users = [u for u in users if u not in gone]
            olds = [self.get(u).shown for u in users]
            merged = (pl.concat([*olds, days.filter(pl.col("user_id").is_in(users))], how="vertical_relaxed")
                      .unique(maintain_order=True).sort("user_id", maintain_order=True))
            at = _index(merged)
            for user_id in users:
                self._shown_changed[user_id] = _slice(merged, at, user_id)
                self._versions[user_id] = next(self._counter)

    def mark(self) -> int:
        """A token to pass to :meth:`add` for rows stored after this call (guards against a racing forget)."""
        return self._forgets

    def add(self, rows: pl.DataFrame, since: int | None = None) -> None:
        """Add stored events ``rows`` (each stored once: duplicates must not be passed).

        ``since``: :meth:`mark` taken before the rows were stored; listeners forgotten after it are
        skipped, as their rows were deleted with them.
        """
        if rows.is_empty():
            return
        with self._lock:
            if since is not None:
                gone = [u for u, at in self._forgotten.items() if at > since]
                if gone:
                    rows = rows.filter(~pl.col("user_id").is_in(gone))
            heard, history = _listening(rows, self.half_life_days)
            users = sorted({*heard["user_id"].to_list(), *history["user_id"].to_list()})
            if not users:  # e.g. a batch of impressions only: nothing to listen to
                return
            old_heard, old_history = self._rows_of(users)
            # one merge for the whole batch: per-listener frame work would cost milliseconds each
            merged_heard = _merge_heard(old_heard, heard).sort("user_id", maintain_order=True)
            merged_history = _merge_history(old_history, history, self.half_life_days).sort("user_id",
                                                                                          maintain_order=True)
            batch = _indexed(merged_heard, merged_history)  # one offset index; readers slice it zero-copy
            self._touched.update(users)
            for user_id in users:
                self._changed[user_id] = batch
                self._versions[user_id] = next(self._counter)

    def _rows_of(self, users: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``users``' heard and history rows now, read per batch that holds them (vectorised)."""
        holders: dict[int, tuple[_Base, list[str]]] = {}
        for user_id in users:
            base = self._changed.get(user_id) or self._base
            holders.setdefault(id(base), (base, []))[1].append(user_id)
        heard, history = [], []
        for base, mine in holders.values():
            wanted = pl.col("user_id").is_in(mine)
            heard.append(base.heard.filter(wanted))
            history.append(base.history.filter(wanted))
        return pl.concat(heard, how="vertical_relaxed"), pl.concat(history, how="vertical_relaxed")

    def reload(self, store: Any, user_ids: Iterable[str]) -> None:
        """Re-read ``user_ids``' listening from ``store`` (after a write whose stored rows are not known)."""
        users = sorted(set(user_ids))
        if not users:
            return
        with self._lock:
            events = collect(lambda: _listening_events(store.events().filter(pl.col("user_id").is_in(users))))
            heard, history = _listening(events, self.half_life_days)
            batch = _indexed(heard.sort("user_id", maintain_order=True), history.sort("user_id", maintain_order=True))
            self._touched.update(users)
            for user_id in users:
                self._changed[user_id] = batch
                self._versions[user_id] = next(self._counter)

    def forget(self, user_id: str) -> None:
        """Drop ``user_id``'s listening, from memory too (call after the store forgot them)."""
        with self._lock:
            self._forgets += 1
            self._forgotten[user_id] = self._forgets
            self._versions[user_id] = next(self._counter)
            self._changed.pop(user_id, None)
            self._touched.discard(user_id)
            self._shown_changed.pop(user_id, None)
            if user_id in self._shown_base[1]:
                days = self._shown_base[0].filter(pl.col("user_id") != user_id)
                self._shown_base = (days, _index(days))
            base = self._base
            if user_id in base.heard_at or user_id in base.history_at:
                keep = pl.col("user_id") != user_id
                self._base = _indexed(base.heard.filter(keep), base.history.filter(keep))

    def histories(self) -> pl.DataFrame:
        """Every listener's history now (what item statistics are computed from at each model load)."""
        base, changed = self._base, dict(self._changed)
        if not changed:
            return base.history
        kept = base.history.filter(~pl.col("user_id").is_in(list(changed)))
        return pl.concat([kept, _rows(changed, "history")], how="vertical_relaxed")

    def version(self, user_id: str) -> int:
        """A number that differs after any change to ``user_id``'s listening or shown days (an ingest, a
        follow, a reload, a forget): an answer computed from their listening holds while it is the same.
        Folding into the base (:meth:`consolidate`) changes no listener's rows and no version."""
        return self._versions.get(user_id, 0)

    def changed(self, user_id: str) -> bool:
        """Whether ``user_id``'s listening changed since it was loaded (an ingest, a follow, a reload)."""
        return user_id in self._touched

    def pending(self) -> tuple[int, int]:
        """How many listeners' listening, and how many listeners' shown days, are held apart from the base
        (see :meth:`consolidate`)."""
        return len(self._changed), len(self._shown_changed)

    def consolidate(self, listening: bool = True, shown: bool = True) -> int:
        """Fold every listener changed since the load into the base frames; returns how many.

        A changed listener is held in the frames of the batch that changed them: cheap to publish, but a
        batch's frames live as long as one of its listeners points at them, so many batches (a big
        import absorbed, a flush of shown lists every two seconds) cost more memory than the same rows
        in the base. Run in the background (the follower's loop) when many are pending;
        readers see each listener's rows before or after, never a mix, and nothing else changes.
        """
        with self._lock:
            changed = dict(self._changed) if listening else {}
            shown = dict(self._shown_changed) if shown else {}  # type: ignore[assignment]
            if not changed and not shown:
                return 0
            base = self._base
            if changed:
                keep = ~pl.col("user_id").is_in(list(changed))
                heard = pl.concat([base.heard.filter(keep), _rows(changed, "heard")],
                                  how="vertical_relaxed").sort("user_id", maintain_order=True)
                history = pl.concat([base.history.filter(keep), _rows(changed, "history")],
                                    how="vertical_relaxed").sort("user_id", maintain_order=True)
                self._base = _indexed(heard.rechunk(), history.rechunk())
            if shown:
                keep = ~pl.col("user_id").is_in(list(shown))
                days = pl.concat([self._shown_base[0].filter(keep), *(d for d in shown.values() if d.height)],
                                 how="vertical_relaxed").sort("user_id", maintain_order=True).rechunk()
                self._shown_base = (days, _index(days))
            for user_id, batch in changed.items():  # published: the base holds them now
                if self._changed.get(user_id) is batch:
                    del self._changed[user_id]
            for user_id, days in shown.items():
                if self._shown_changed.get(user_id) is days:
                    del self._shown_changed[user_id]
            return len(changed) + len(shown)

    def user_ids(self) -> list[str]:
        """Every listener with listening held."""
        base = self._base
        return sorted(base.heard_at.keys() | base.history_at.keys() | self._changed.keys())

    def __len__(self) -> int:
        """How many listeners have listening held."""
        base = self._base
        return len(base.heard_at.keys() | base.history_at.keys() | self._changed.keys())


def shown_days(events: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """``user_id, item_id, day``: each UTC day an item was on a listener's Discover Weekly (its impression
    events): the no-repeat policy's count, which only that list reads (the other surfaces' impressions
    would only cost memory)."""
    return _shown_days(events.lazy()).collect()


def _shown_days(events: pl.LazyFrame) -> pl.LazyFrame:
    names = events.collect_schema().names()
    if "type" not in names:
        return pl.DataFrame(schema=SHOWN_SCHEMA).lazy()
    shown = pl.col("type") == "impression"
    if "surface" in names:
        shown = shown & (pl.col("surface") == SHOWN_SURFACE)
    return (events.filter(shown)
            .select(pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String),
                    pl.col("ts").dt.date().alias("day"))
            .unique(maintain_order=True))


def _listening_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """The events columns the state needs, impressions left out (they are not listening)."""
    names = events.collect_schema().names()
    return events.filter(pl.col("type") != "impression").select(c for c in COLUMNS if c in names)


def _listening(events: pl.DataFrame, half_life_days: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``heard`` and ``history`` of every listener in ``events``: ``interactions`` per listener."""
    heard = heard_items(events.lazy()).collect()
    events = events.filter(pl.col("type") != "impression")
    history = interactions(events.lazy(), half_life_days=half_life_days, per_user=True)
    return heard, history


def _merge_heard(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Listeners' heard items with ``new`` ones added (old rows first)."""
    return pl.concat([old, new], how="vertical_relaxed").unique(["user_id", "item_id"], keep="first",
                                                                 maintain_order=True)


def _merge_history(old: pl.DataFrame, new: pl.DataFrame, half_life_days: float) -> pl.DataFrame:
    """Listeners' histories with ``new`` listens added: each listener's recency re-decayed to the newer
    of their two newest listens (``Σ w·0.5^(age/h)`` scales by ``0.5^(shift/h)`` when its reference moves)."""
    newest = pl.col("last_ts").max()
    shift_days = (newest.over("user_id") - newest.over("user_id", "_part")).dt.total_seconds() / 86400.0
    rest = [c for c in old.columns if c not in ("user_id", "item_id", "weight", "recency", "first_ts", "last_ts")]
    return (
        pl.concat([old.with_columns(_part=0), new.with_columns(_part=1)], how="vertical_relaxed")
        .with_columns(pl.col("recency") * 0.5 ** (shift_days / half_life_days))
        .group_by("user_id", "item_id", maintain_order=True)
        .agg(pl.col("weight").sum(), pl.col("recency").sum(), pl.col("first_ts").min(), pl.col("last_ts").max(),
             *(pl.col(c).drop_nulls().first() for c in rest))
        .select(old.columns)
    )


def _rows(changed: dict[str, _Base], part: str) -> pl.DataFrame:
    """The ``part`` (``heard`` or ``history``) rows of every listener of ``changed``, each from the batch that
    holds them now (a batch also holds rows of listeners a later batch changed again)."""
    holders: dict[int, tuple[_Base, list[str]]] = {}
    for user_id, batch in changed.items():
        holders.setdefault(id(batch), (batch, []))[1].append(user_id)
    return pl.concat([getattr(batch, part).filter(pl.col("user_id").is_in(mine)) for batch, mine in holders.values()],
                     how="vertical_relaxed")


def _indexed(heard: pl.DataFrame, history: pl.DataFrame) -> _Base:
    """``heard`` and ``history`` (sorted by listener) with each listener's offset and row count."""
    return _Base(heard, _index(heard), history, _index(history))


def _index(frame: pl.DataFrame) -> Index:
    counts = frame.group_by("user_id", maintain_order=True).len()
    lengths = counts["len"].to_list()
    starts = counts["len"].cum_sum().shift(1, fill_value=0).to_list()
    return dict(zip(counts["user_id"].to_list(), zip(starts, lengths, strict=True), strict=True))


def _slice(frame: pl.DataFrame, index: Index, user_id: str) -> pl.DataFrame:
    at = index.get(user_id)
    return frame.clear() if at is None else frame.slice(at[0], at[1])
