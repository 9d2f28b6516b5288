"""The listener world: a catalog, listeners and their state, advanced one day at a time.

:meth:`World.generate_events` writes the organic history; :meth:`World.respond` answers lists a
policy shows to listeners with the same behaviour model, so a closed-loop simulator can run a
recommender against the very listeners whose history it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tastemaker.simulate.behaviour import Behaviour, Reactions, keeps_listening, session_lengths
from tastemaker.simulate.catalog import Catalog, DayCatalog, build_catalog
from tastemaker.simulate.config import WorldConfig
from tastemaker.simulate.events import EVENT_SCHEMA, day_events
from tastemaker.simulate.listeners import ListenerState, Listeners, build_listeners, seed_libraries
from tastemaker.simulate.sessions import DAY_MS, Heard, end_day, hear, plan_sessions, remember, run_sessions

__all__ = ["Outcomes", "World", "WorldConfig"]

_DAY_STREAM = 4  # seed-sequence tag of the organic day-by-day draws
_WAVE_STREAM, _SHIFT_STREAM = 0x3A7E, 0x5F1F  # tags of the held-back albums' and the taste shift's draws
#: the release day of albums held back (``hold_back``): far past any simulated day
HELD_BACK_DAY = 100_000


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What listeners did with the lists shown to them; every array has the shape of ``track_ids``.

    ``played``: the listener started the item (items after the listener stopped are not played);
    ``skipped``/``saved``/``banned``: only where played; ``ms_played``: 0 where not played.
    """

    played: np.ndarray
    skipped: np.ndarray
    saved: np.ndarray
    banned: np.ndarray
    ms_played: np.ndarray


class World:
    """A seeded synthetic world of listeners, tracks and listening.

    Building it draws the catalog and the listeners; the listeners' state (libraries, skip
    rates, churn) then evolves with each simulated day and each :meth:`respond`.

    Args:
        config: sizes, time span and model coefficients; ``WorldConfig()`` when omitted.

    Example:
        >>> world = World(WorldConfig(n_users=100, n_tracks=500, days=3))
        >>> events = pa.concat_tables(world.generate_events())
        >>> world.day, events.num_rows > 0
        (3, True)
    """

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.catalog: Catalog = build_catalog(self.config)
        self.listeners: Listeners = build_listeners(self.config, self.catalog)
        self._today: DayCatalog | None = None
        self.day: int = 0
        self.state: ListenerState = ListenerState.fresh(0, 1)
        self.reset()

    @property
    def behaviour(self) -> Behaviour:
        """The listener model's coefficients."""
        return self.config.behaviour

    def reset(self) -> World:
        """Back to day 0: libraries of veteran listeners seeded, nobody churned. Returns ``self``.

        Example:
            >>> w = World(WorldConfig(n_users=20, n_tracks=100, days=2))
            >>> _ = w.step_day()
            >>> w.reset().day
            0
        """
        self.day = 0
        self.state = ListenerState.fresh(self.listeners.n, self.config.library_size)
        seed_libraries(self.state, self.config, self.listeners, self.catalog, self.behaviour)
        return self

    def today(self, day: int) -> DayCatalog:
        """The tracks playable on ``day`` (cached for the latest day asked)."""
        if self._today is None or self._today.day != day:
            self._today = self.catalog.playable(day, self.behaviour)
        return self._today

    def step_day(self) -> pa.Table:
        """Simulate the organic listening of the current day, then move to the next day.

        Listeners are simulated in blocks (``config.block_users()``) so memory stays bounded;
        each (day, block) has its own seeded generator, so results depend only on the config.

        Returns:
            the day's events (schema :data:`~tastemaker.simulate.events.EVENT_SCHEMA`), in time order.

        Example:
            >>> w = World(WorldConfig(n_users=50, n_tracks=300))
            >>> day0 = w.step_day()
            >>> w.day, set(day0["type"].to_pylist()) >= {"play"}
            (1, True)
        """
        day, cfg, n = self.day, self.config, self.listeners.n
        day_ms = int(datetime.combine(cfg.start, datetime.min.time(), UTC).timestamp() * 1000) + day * DAY_MS
        block, first_session, tables = cfg.block_users(), 0, []
        for b, lo in enumerate(range(0, n, block)):
            rng = np.random.default_rng([cfg.seed, _DAY_STREAM, day, b])
            users = np.arange(lo, min(n, lo + block))
            sessions = plan_sessions(rng, self.listeners, self.state, users, day, day_ms)
            plays = run_sessions(self.behaviour, rng, self.listeners, self.state, self.catalog,
                                 self.today(day), sessions)
            end_day(self.behaviour, rng, self.listeners, self.state, users, plays, day)
            tables.append(day_events(self.catalog, self.listeners, sessions, plays, day, first_session))
            first_session += sessions.n
        self.day += 1
        return pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()

    def simulate(self, days: int) -> Iterator[pa.Table]:
        """Run ``days`` more days from the current one, yielding each day's events.

        Example:
            >>> w = World(WorldConfig(n_users=20, n_tracks=100, days=2))
            >>> history = list(w.generate_events())
            >>> len(list(w.simulate(3))), w.day  # three days past the generated history
            (3, 5)
        """
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        for _ in range(days):
            yield self.step_day()

    def generate_events(self, on_day: Callable[[int, int], None] | None = None) -> Iterator[pa.Table]:
        """The organic history: reset, then yield the events of each of ``config.days`` days.

        Args:
            on_day: called as ``on_day(days_done, days_total)`` after each day (for progress bars).

        Afterwards the world stands at day ``config.days``, ready for a closed-loop simulation.
        The same config always yields byte-identical tables.

        Example:
            >>> cfg = WorldConfig(n_users=20, n_tracks=100, days=2)
            >>> first, again = (pa.concat_tables(World(cfg).generate_events()) for _ in range(2))
            >>> first.equals(again)
            True
        """
        self.reset()
        for done, table in enumerate(self.simulate(self.config.days), start=1):
            yield table
            if on_day is not None:
                on_day(done, self.config.days)

    def hold_back(self, share: float, seed: int = 0) -> np.ndarray:
        """Keep a ``share`` of the albums unreleased (out of every day's listening) until :meth:`release`;
        returns their indices. Call it before the history is generated, so nobody has heard them.

        Example:
            >>> w = World(WorldConfig(n_users=20, n_tracks=400, days=2))
            >>> albums = w.hold_back(0.1)
            >>> bool((w.catalog.album_release_day[albums] > 10_000).all())
            True
        """
        if not 0.0 < share < 1.0:
            raise ValueError(f"share must be within (0, 1), got {share}")
        n_albums = len(self.catalog.album_release_day)
        rng = np.random.default_rng([self.config.seed, _WAVE_STREAM, seed])
        albums = np.sort(rng.choice(n_albums, max(1, round(share * n_albums)), replace=False))
        self.catalog.album_release_day[albums] = HELD_BACK_DAY
        self._today = None
        return albums

    def release(self, albums: np.ndarray, day: int | None = None) -> int:
        """Release ``albums`` (held back by :meth:`hold_back`) on ``day`` (default: today): a wave of new
        releases, boosted for a few weeks as every new release is. Returns the tracks released."""
        day = self.day if day is None else day
        self.catalog.album_release_day[albums] = day
        self._today = None
        return int(np.isin(self.catalog.track_album, albums).sum())

    def shift_taste(self, share: float, seed: int = 0) -> np.ndarray:
        """A ``share`` of the listeners turn to other music from today: each one's genres are moved half the
        genre list away (their weights kept) and their taste vector is mixed anew from the new genres, so
        what they choose and what they skip both change. Returns the listeners' indices."""
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be within (0, 1], got {share}")
        rng = np.random.default_rng([self.config.seed, _SHIFT_STREAM, seed])
        who = np.sort(rng.choice(self.listeners.n, max(1, round(share * self.listeners.n)), replace=False))
        n_genres = len(self.catalog.genre_names)
        genres = (self.listeners.genres[who].astype(np.int64) + n_genres // 2) % n_genres
        weights = np.diff(self.listeners.genre_cum[who], axis=1, prepend=0.0)
        mix = np.einsum("nk,nkd->nd", weights, self.catalog.genre_centroids[genres])
        noise = rng.normal(size=mix.shape)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        taste = mix + noise * rng.uniform(0.1, 0.4, (who.size, 1))
        self.listeners.genres[who] = genres.astype(self.listeners.genres.dtype)
        self.listeners.taste[who] = (taste / np.linalg.norm(taste, axis=1, keepdims=True)).astype(
            self.listeners.taste.dtype)
        return who

    def respond(
        self,
        user_ids: Sequence[Any] | np.ndarray,
        track_ids: Sequence[Sequence[Any]] | np.ndarray,
        now: date | datetime | int,
        rng: np.random.Generator,
        *,
        update: bool = True,
    ) -> Outcomes:
        """How listeners react to lists shown to them, with the organic behaviour model.

        Each listener plays their list in order like a session: the skip odds depend on the
        taste match, the position (fatigue) and novelty; a skip sometimes ends the session, and
        so does the listener's planned session length. Churned or not-yet-signed-up listeners
        and unreleased tracks are not played.

        Args:
            user_ids: ``n`` listener ids (``tm:user:...``) or indices.
            track_ids: ``(n, k)`` track ids or indices per list; ``None``, ``""`` or ``-1`` pad short lists.
            now: the day shown (date, UTC datetime or day index from ``config.start``).
            rng: the generator for the listeners' draws.
            update: fold the outcome into the listeners' state (libraries, skip rate).

        Returns:
            :class:`Outcomes`, arrays of shape ``(n, k)``.

        Example:
            >>> world = World(WorldConfig(n_users=10, n_tracks=200, days=1))
            >>> out = world.respond(["tm:user:000001"], [["tm:track:000003", "tm:track:000007"]], 0,
            ...                     np.random.default_rng(0))
            >>> out.played.shape
            (1, 2)
        """
        users = self.user_index(user_ids)
        tracks = self.track_index(track_ids).reshape(users.size, -1)
        day = self.day_of(now)
        playable = (tracks >= 0) & (self.catalog.release_day[np.maximum(tracks, 0)] <= day)
        listening = (self.listeners.signup_day[users] <= day) & (self.state.churn_day[users] > day)
        length = session_lengths(rng, self.listeners.session_mean[users])
        heard = np.zeros(users.size, np.int64)
        out = Outcomes(*(np.zeros(tracks.shape, bool) for _ in range(4)), np.zeros(tracks.shape, np.int64))
        met: list[tuple[np.ndarray, np.ndarray, Heard]] = []
        for j in range(tracks.shape[1]):
            rows = np.flatnonzero(listening & playable[:, j] & (heard < length))
            h = hear(self.behaviour, rng, self.listeners, self.state, self.catalog, users[rows],
                     tracks[rows, j], heard[rows], np.zeros(rows.size, bool))
            out.played[rows, j], out.skipped[rows, j] = True, h.listens.skipped
            out.saved[rows, j], out.banned[rows, j] = h.reactions.save, h.reactions.ban
            out.ms_played[rows, j] = h.listens.ms_played
            met.append((users[rows], tracks[rows, j], h))
            heard[rows] += 1
            listening[rows] &= keeps_listening(self.behaviour, rng, h.listens.skipped)
        if update and met:
            self._learn(met)
        return out

    def _learn(self, met: list[tuple[np.ndarray, np.ndarray, Heard]]) -> None:
        """Fold shown-and-played items into the listeners' state, as an organic day would."""
        users = np.concatenate([u for u, _, _ in met])
        tracks = np.concatenate([t for _, t, _ in met])
        skipped = np.concatenate([h.listens.skipped for *_, h in met])
        reactions = Reactions.concat([h.reactions for *_, h in met])
        remember(self.behaviour, self.state, users, tracks, skipped, reactions)

    def match(
        self, user_ids: Sequence[Any] | np.ndarray, track_ids: Sequence[Any] | np.ndarray
    ) -> np.ndarray:
        """The hidden taste match (taste · track vector) of aligned listener and track ids.

        Example:
            >>> World(WorldConfig(n_users=10, n_tracks=200)).match([0, 1], [5, 5]).shape
            (2,)
        """
        users, tracks = self.user_index(user_ids), self.track_index(track_ids)
        if (tracks < 0).any():
            raise ValueError("track_ids must not contain blanks here")
        return np.einsum("nd,nd->n", self.listeners.taste[users], self.catalog.track_vectors[tracks])

    def user_index(self, ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Row indices of listener ids (``tm:user:000042`` or 42); raises ValueError on unknown ids.

        Example:
            >>> World(WorldConfig(n_users=50, n_tracks=100)).user_index(["tm:user:000042", "tm:user:000007"])
            array([42,  7])
        """
        index = _index(ids, "tm:user:", self.listeners.n, "user")
        if (index < 0).any():
            raise ValueError("user_ids must not contain blanks")
        return index

    def track_index(self, ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Row indices of track ids (``tm:track:000042`` or 42); blanks become -1.

        Example:
            >>> World(WorldConfig(n_users=5, n_tracks=100)).track_index([["tm:track:000042", None]])
            array([[42, -1]])
        """
        return _index(ids, "tm:track:", self.catalog.n_tracks, "track")

    def day_of(self, now: date | datetime | int) -> int:
        """The day index of ``now`` counted from ``config.start`` (ints pass through).

        Example:
            >>> World(WorldConfig(n_users=5, n_tracks=50, start=date(2024, 1, 1))).day_of(date(2024, 1, 31))
            30
        """
        if isinstance(now, datetime):
            now = (now.astimezone(UTC) if now.tzinfo else now).date()
        if isinstance(now, date):
            return (now - self.config.start).days
        return int(now)

    def date_of(self, day: int) -> date:
        """The calendar date of day index ``day``."""
        return self.config.start + timedelta(days=day)


def _index(ids: Sequence[Any] | np.ndarray, prefix: str, n: int, what: str) -> np.ndarray:
    """Parse canonical ids (or pass integer indices through) into indices; blanks become -1."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        index = arr.astype(np.int64)
    else:
        try:
            text = pa.array(arr.ravel().astype(object), pa.string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            raise TypeError(f"{what} ids must be all strings ('{prefix}...') or all indices") from None
        blank = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
        digits = pc.utf8_slice_codeunits(text, len(prefix))
        good = pc.and_(pc.starts_with(text, prefix), pc.match_substring_regex(digits, r"^\d+$"))
        bad = ~pc.fill_null(good, False).to_numpy(zero_copy_only=False) & ~blank
        if bad.any():
            raise ValueError(f"unknown {what} ids {text.filter(pa.array(bad))[:3].to_pylist()}: "
                             f"expected ids like '{prefix}{0:06d}'")
        number = pc.cast(pc.if_else(pa.array(blank), "-1", digits), pa.int64()).to_numpy(zero_copy_only=False)
        index = number.reshape(arr.shape)
    if ((index < -1) | (index >= n)).any():
        raise ValueError(f"{what} ids out of range: this world has {n} {what}s")
    return index
