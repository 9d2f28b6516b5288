"""Turning a day's plays into rows of the ``events`` table (an Arrow table, one row per event).

Every play is a ``play`` row with ``ms_played``, ``duration_ms`` and ``skipped``; saves, playlist
adds, artist follows, bans and replays are separate rows stamped when the play ended. Columns are
a subset of :data:`tastemaker.store.tables.EVENTS` (``row_id`` is left to the importer).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tastemaker.domain import EventType, ItemKind
from tastemaker.simulate.behaviour import SURFACES
from tastemaker.simulate.catalog import Catalog
from tastemaker.simulate.listeners import COUNTRIES, PLATFORMS, Listeners
from tastemaker.simulate.sessions import ENDPLAY, FWDBTN, REASONS, TRACKDONE, Plays, Sessions

TS_TYPE = pa.timestamp("ms", tz="UTC")
EVENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()), ("ts", TS_TYPE), ("type", pa.string()), ("item_id", pa.string()),
        ("item_kind", pa.string()), ("artist_id", pa.string()), ("ms_played", pa.int64()),
        ("duration_ms", pa.int64()), ("skipped", pa.bool_()), ("position", pa.int32()),
        ("surface", pa.string()), ("session_id", pa.string()), ("platform", pa.string()),
        ("country", pa.string()), ("shuffle", pa.bool_()),
        ("reason_start", pa.string()), ("reason_end", pa.string()),
    ]
)
#: Event types in the order rows of one instant are sorted: the play first, then what followed it.
TYPES: tuple[str, ...] = (EventType.PLAY, EventType.SAVE, EventType.ADD_TO_PLAYLIST, EventType.FOLLOW_ARTIST,
                          EventType.BAN, EventType.REPLAY)
_TYPES = pa.array([str(t) for t in TYPES])
_KINDS = pa.array([str(ItemKind.TRACK), str(ItemKind.ARTIST)])
_SURFACES, _PLATFORMS, _REASONS = pa.array(SURFACES), pa.array(PLATFORMS), pa.array(REASONS)
_COUNTRIES = pa.array([c[0] for c in COUNTRIES])


def _take(values: pa.Array, index: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """``values[index]``, null where ``mask`` is true."""
    taken = values.take(pa.array(index))
    return taken if mask is None else pc.if_else(pa.array(mask), pa.nulls(len(index), values.type), taken)


def _rows(plays: Plays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(type code, play index, timestamp) of every row, sorted by time (then user, then type)."""
    rx = plays.reactions
    flags = (rx.save, rx.add_to_playlist, rx.follow_artist, rx.ban, rx.replay)
    ref = np.concatenate([np.arange(plays.user.size), *(np.flatnonzero(f) for f in flags)])
    code = np.concatenate([np.zeros(plays.user.size, np.int8), *(np.full(int(f.sum()), i + 1, np.int8)
                                                                for i, f in enumerate(flags))])
    ts = plays.ts[ref] + np.where(code == 0, 0, plays.ms_played[ref])
    order = np.lexsort((code, plays.user[ref], ts))
    return code[order], ref[order], ts[order]


def session_ids(day: int, first: int, n: int) -> pa.StringArray:
    """Ids ``tm:session:<day>-<n>`` of the day's sessions ``first .. first + n - 1``.

    Example:
        >>> session_ids(3, 10, 2).to_pylist()
        ['tm:session:00003-10', 'tm:session:00003-11']
    """
    digits = pc.cast(pa.array(np.arange(first, first + n)), pa.string())
    return pc.binary_join_element_wise(f"tm:session:{day:05d}-", digits, "")


def day_events(cat: Catalog, people: Listeners, sessions: Sessions, plays: Plays, day: int,
               first_session: int) -> pa.Table:
    """The event rows of one day's ``plays`` (sessions numbered from ``first_session``).

    Example:
        >>> from tastemaker.simulate.world import World, WorldConfig
        >>> World(WorldConfig(n_users=50, n_tracks=300, days=2)).step_day().schema == EVENT_SCHEMA
        True
    """
    code, ref, ts = _rows(plays)
    not_play = code != 0
    follow = code == TYPES.index(EventType.FOLLOW_ARTIST)
    track, user, session = plays.track[ref], plays.user[ref], plays.session[ref]
    artist = cat.track_artist[track]
    artist_ids = _take(cat.artist_ids, artist)
    ended = np.where(plays.skipped[ref], np.where(plays.last[ref], ENDPLAY, FWDBTN), TRACKDONE)
    columns = [
        _take(people.ids, user),
        pa.array(ts, TS_TYPE),
        _take(_TYPES, code),
        pc.if_else(pa.array(follow), artist_ids, _take(cat.track_ids, track)),
        _take(_KINDS, follow.astype(np.int8)),
        artist_ids,
        pa.array(plays.ms_played[ref], mask=not_play),
        pa.array(cat.duration_ms[track], mask=not_play),
        pa.array(plays.skipped[ref], mask=not_play),
        pa.array(plays.position[ref], pa.int32()),
        _take(_SURFACES, sessions.surface[session]),
        _take(session_ids(day, first_session, sessions.n), session),
        _take(_PLATFORMS, sessions.platform[session]),
        _take(_COUNTRIES, people.country[user]),
        pa.array(sessions.shuffle[session]),
        _take(_REASONS, plays.reason_start[ref], not_play),
        _take(_REASONS, ended, not_play),
    ]
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)
