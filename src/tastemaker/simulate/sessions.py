"""One day of organic listening for a block of listeners: sessions of consecutive plays.

Everything is vectorised across sessions: the only Python loop walks the positions within a
session (all sessions of the day advance one play at a time), so the cost grows with the
longest session, not with the number of listeners.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tastemaker.simulate.behaviour import (
    INTENT_SURFACES,
    SOURCE_MIX,
    SURFACES,
    Behaviour,
    Listens,
    Reactions,
    churn_hazard,
    keeps_listening,
    listen,
    react,
    session_lengths,
    skip_probability,
)
from tastemaker.simulate.catalog import Catalog, DayCatalog
from tastemaker.simulate.listeners import COUNTRIES, PLATFORM_SHARE, PLATFORMS, Listeners, ListenerState

DAY_MS = 86_400_000
#: Relative session counts Monday..Sunday (weekends are busier).
WEEKDAY = np.array([0.96, 0.95, 0.96, 0.98, 1.04, 1.07, 1.04])
#: Share of sessions starting in each local hour: quiet nights, commute and evening peaks.
HOURS = np.array([2, 1, 1, 1, 1, 2, 4, 6, 7, 6, 5, 5, 6, 6, 5, 5, 6, 7, 8, 8, 7, 6, 4, 3], dtype=float)
HOURS /= HOURS.sum()
UTC_OFFSET = np.array([c[2] for c in COUNTRIES])
REASONS: tuple[str, ...] = ("trackdone", "fwdbtn", "backbtn", "clickrow", "playbtn", "endplay")
TRACKDONE, FWDBTN, BACKBTN, CLICKROW, PLAYBTN, ENDPLAY = range(len(REASONS))
#: How the first track of a session starts, per surface.
FIRST_REASON = np.array([CLICKROW, PLAYBTN, PLAYBTN, CLICKROW, CLICKROW])
SOURCE_CUM = np.cumsum(SOURCE_MIX, axis=1)


@dataclass(frozen=True, slots=True)
class Sessions:
    """The sessions of one day, as aligned arrays."""

    user: np.ndarray
    surface: np.ndarray
    platform: np.ndarray
    shuffle: np.ndarray
    start_ms: np.ndarray
    length: np.ndarray  # planned plays; a skip may end the session earlier

    @property
    def n(self) -> int:
        """Number of sessions."""
        return int(self.user.size)


@dataclass(frozen=True, slots=True)
class Plays:
    """The plays of one day, one element per play; ``session`` indexes :class:`Sessions`."""

    session: np.ndarray
    user: np.ndarray
    track: np.ndarray
    position: np.ndarray
    ts: np.ndarray
    ms_played: np.ndarray
    skipped: np.ndarray
    reason_start: np.ndarray
    last: np.ndarray
    reactions: Reactions

    @classmethod
    def empty(cls) -> Plays:
        """No plays."""
        none, no = np.zeros(0, np.int64), np.zeros(0, bool)
        flags = {f.name: no for f in fields(Reactions)}
        return cls(none, none, none, none, none, none, no, none, no, Reactions(**flags))

    @classmethod
    def concat(cls, parts: list[Plays]) -> Plays:
        """Join the per-position batches of a day."""
        cols = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)
                if f.name != "reactions"}
        return cls(**cols, reactions=Reactions.concat([p.reactions for p in parts]))


@dataclass(frozen=True, slots=True)
class Heard:
    """How listeners met a batch of tracks: taste match, novelty, the listen and the reactions."""

    match: np.ndarray
    novel: np.ndarray
    listens: Listens
    reactions: Reactions


def hear(
    b: Behaviour,
    rng: np.random.Generator,
    people: Listeners,
    state: ListenerState,
    cat: Catalog,
    users: np.ndarray,
    tracks: np.ndarray,
    position: np.ndarray,
    intent: np.ndarray,
) -> Heard:
    """Play ``tracks[i]`` to ``users[i]`` at session ``position[i]``: the shared behaviour step.

    Both the organic history and :meth:`World.respond` go through here.
    """
    match = np.einsum("nd,nd->n", people.taste[users], cat.track_vectors[tracks])
    novel = ~state.contains(users, tracks)
    p_skip = skip_probability(b, match, position, novel, people.skip_bias[users],
                              people.novelty_aversion[users], intent)
    listens = listen(b, rng, p_skip, match, cat.duration_ms[tracks])
    return Heard(match, novel, listens, react(b, rng, match, listens, novel))


def plan_sessions(
    rng: np.random.Generator,
    people: Listeners,
    state: ListenerState,
    users: np.ndarray,
    day: int,
    day_ms: int,
) -> Sessions:
    """Who listens today, how often, from which surface and device, when, and for how long."""
    weekday = (day_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
    active = users[(people.signup_day[users] <= day) & (state.churn_day[users] > day)]
    user = np.repeat(active, rng.poisson(people.sessions_per_day[active] * WEEKDAY[weekday]))
    n = user.size
    surface = np.minimum((rng.random(n)[:, None] >= people.surface_cum[user]).sum(axis=1), len(SURFACES) - 1)
    other = rng.choice(len(PLATFORMS), n, p=PLATFORM_SHARE)
    platform = np.where(rng.random(n) < 0.8, people.platform[user], other)
    shuffle = (surface <= 1) & (rng.random(n) < 0.5)  # library and playlist sessions
    local = rng.choice(24, n, p=HOURS) - UTC_OFFSET[people.country[user]]
    start = day_ms + np.mod(local, 24) * 3_600_000 + rng.integers(0, 3_600_000, n)
    return Sessions(user, surface.astype(np.int8), platform.astype(np.int8), shuffle, start.astype(np.int64),
                    session_lengths(rng, people.session_mean[user]))


def pick_tracks(
    rng: np.random.Generator,
    people: Listeners,
    state: ListenerState,
    today: DayCatalog,
    users: np.ndarray,
    surface: np.ndarray,
) -> np.ndarray:
    """The next track of each session: from the library, the listener's genres, or the charts.

    The mix depends on the session's surface; an empty library or genre falls back to the next source.
    """
    n = users.size
    u = rng.random((5, n))
    source = (u[0][:, None] >= SOURCE_CUM[surface]).sum(axis=1)
    own = state.pick(users, u[1])
    taste = today.by_genre.sample(people.sample_genres(users, u[2]), u[3])
    popular = today.popular.sample(np.zeros(n, np.int64), u[4])
    track = np.where(source == 0, own, np.where(source == 1, taste, popular))
    return np.where(track >= 0, track, np.where(taste >= 0, taste, popular))


def run_sessions(
    b: Behaviour,
    rng: np.random.Generator,
    people: Listeners,
    state: ListenerState,
    cat: Catalog,
    today: DayCatalog,
    sessions: Sessions,
) -> Plays:
    """Play every session of the day, one position at a time, and return all plays."""
    clock = sessions.start_ms.copy()
    previous = np.full(sessions.n, -1, np.int64)
    reason = FIRST_REASON[sessions.surface]
    alive = np.arange(sessions.n)
    parts: list[Plays] = []
    for pos in range(int(sessions.length.max(initial=0))):
        users, again = sessions.user[alive], reason[alive] == BACKBTN
        fresh = pick_tracks(rng, people, state, today, users, sessions.surface[alive])
        track = np.where(again, previous[alive], fresh)
        intent = (pos == 0) & INTENT_SURFACES[sessions.surface[alive]]
        heard = hear(b, rng, people, state, cat, users, track, np.full(alive.size, pos), intent | again)
        skipped = heard.listens.skipped
        keep = keeps_listening(b, rng, skipped) & (pos + 1 < sessions.length[alive])
        parts.append(Plays(alive, users, track, np.full(alive.size, pos, np.int32), clock[alive],
                           heard.listens.ms_played, skipped, reason[alive], ~keep, heard.reactions))
        clock[alive] += heard.listens.ms_played + 1 + rng.integers(0, 2_000, alive.size)
        previous[alive] = track
        reason[alive] = np.where(heard.reactions.replay, BACKBTN, np.where(skipped, FWDBTN, TRACKDONE))
        alive = alive[keep]
    return Plays.concat(parts) if parts else Plays.empty()


def remember(
    b: Behaviour,
    state: ListenerState,
    users: np.ndarray,
    tracks: np.ndarray,
    skipped: np.ndarray,
    reactions: Reactions,
) -> None:
    """What plays leave behind: saved, playlisted and loved tracks join the library; skips count.

    Both the organic days and :meth:`World.respond` update listeners through here.
    """
    keep = reactions.save | reactions.add_to_playlist | reactions.liked
    state.add(users[keep], tracks[keep].astype(np.int32))
    state.remember_skips(users, skipped, b.skip_memory)


def end_day(
    b: Behaviour,
    rng: np.random.Generator,
    people: Listeners,
    state: ListenerState,
    users: np.ndarray,
    plays: Plays,
    day: int,
) -> None:
    """Fold the day into the listeners' state: libraries grow, skip rates move, some churn."""
    remember(b, state, plays.user, plays.track, plays.skipped, plays.reactions)
    active = users[(people.signup_day[users] <= day) & (state.churn_day[users] > day)]
    hazard = churn_hazard(b, people.churn_base[active], state.skip_ema[active])
    state.churn_day[active[rng.random(active.size) < hazard]] = day + 1
