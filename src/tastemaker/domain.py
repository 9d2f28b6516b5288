"""Identifiers and constants shared by every stage: event types, item kinds, the skip threshold. No I/O."""

from __future__ import annotations

import enum

#: the longest listener id anything accepts (ingest, import, every route)
MAX_USER_ID = 256
#: a listener id: 1 to 256 characters, no ``/`` (a path segment of every route), no control characters,
#: no space at either end. Ingest and import quarantine any other; the routes refuse it (422).
USER_ID_PATTERN = r"^[^/\x00-\x1f\x7f\s](?:[^/\x00-\x1f\x7f]{0,254}[^/\x00-\x1f\x7f\s])?$"


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


class ContentKind(enum.StrEnum):
    """What an audio item is, as decided from every signal available (:mod:`tastemaker.ingest.kinds`).

    Spotify's account-data export names podcast episodes like songs (the show as the artist), so
    an item's :class:`ItemKind` alone does not say whether it belongs on a music surface.
    """

    MUSIC = "music"
    PODCAST = "podcast"
    AUDIOBOOK = "audiobook"
    UNKNOWN = "unknown"


EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
ITEM_KINDS: frozenset[str] = frozenset(k.value for k in ItemKind)
CONTENT_KINDS: frozenset[str] = frozenset(k.value for k in ContentKind)
#: content kinds kept off music models and music surfaces: spoken word, and what could not be told
NOT_MUSIC: frozenset[str] = frozenset(k.value for k in (ContentKind.PODCAST, ContentKind.AUDIOBOOK,
                                                         ContentKind.UNKNOWN))
#: item kinds that are never music, whatever the catalogue says
SPOKEN_ITEM_KINDS: frozenset[str] = frozenset(k.value for k in (ItemKind.EPISODE, ItemKind.AUDIOBOOK))

#: A play shorter than this counts as a skip where a source has no explicit skip flag.
SKIP_THRESHOLD_MS = 30_000
