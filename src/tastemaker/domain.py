"""Identifiers and small frozen value types shared by every stage. No I/O lives here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


class EventType(enum.StrEnum):
    """What a listener did. Skips carry the position (``ms_played``) at which they happened."""

    PLAY = "play"
    SKIP = "skip"
    COMPLETE = "complete"
    SAVE = "save"
    UNSAVE = "unsave"
    ADD_TO_PLAYLIST = "add_to_playlist"
    REPLAY = "replay"
    BAN = "ban"
    FOLLOW_ARTIST = "follow_artist"
    IMPRESSION = "impression"
    RATE = "rate"
    TAG = "tag"


class ItemKind(enum.StrEnum):
    """What an event points at: most events are about tracks; some sources only know artists."""

    TRACK = "track"
    EPISODE = "episode"
    ARTIST = "artist"
    ALBUM = "album"
    PLAYLIST = "playlist"
    AUDIOBOOK = "audiobook"
    MOVIE = "movie"


EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
ITEM_KINDS: frozenset[str] = frozenset(k.value for k in ItemKind)

#: A play shorter than this counts as a skip where a source has no explicit skip flag.
SKIP_THRESHOLD_MS = 30_000


@dataclass(frozen=True, slots=True)
class Context:
    """Where and how an event happened."""

    surface: str | None = None
    session_id: str | None = None
    platform: str | None = None
    country: str | None = None
    shuffle: bool | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    offline: bool | None = None
    playlist_id: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One listening event, as stored in the append-only log.

    ``ms_played`` is how long the item played (for a skip: the position of the skip);
    ``count`` > 1 stands for an aggregate of identical plays (sources that only give play counts).
    """

    user_id: str
    item_id: str
    type: EventType
    ts: datetime | None
    item_kind: ItemKind = ItemKind.TRACK
    artist_id: str | None = None
    ms_played: int | None = None
    duration_ms: int | None = None
    count: int = 1
    value: float | None = None
    skipped: bool | None = None
    context: Context = field(default_factory=Context)

    @property
    def completion(self) -> float | None:
        """Share of the track that was played, when both lengths are known."""
        if self.ms_played is None or not self.duration_ms:
            return None
        return min(1.0, self.ms_played / self.duration_ms)


@dataclass(frozen=True, slots=True)
class Track:
    """A catalog track. ``track_id`` is the canonical id; the external ids are kept as attributes."""

    track_id: str
    name: str
    artist_id: str | None = None
    artist_name: str | None = None
    album_id: str | None = None
    album_name: str | None = None
    duration_ms: int | None = None
    release_date: date | None = None
    explicit: bool | None = None
    genres: tuple[str, ...] = ()
    uri: str | None = None
    isrc: str | None = None
    mbid: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    """A listener's profile as far as it is known."""

    user_id: str
    country: str | None = None
    language: str | None = None
    signup_date: date | None = None
    onboarding_artists: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scored:
    """A recommended item with its score and the reason it is there."""

    item_id: str
    score: float
    reason: str = ""
