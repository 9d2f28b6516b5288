"""Which import format a file's fields look like, to say so when a file was given to the wrong one.

A reader whose file has none of its own fields asks :func:`mismatch` for the reason it gives every
record (and the summary): the fields it wanted and, when the fields found are another format's,
the command that imports them. Signatures are field names only, checked in the order of
:data:`SIGNATURES`; nothing here decides how a file is read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


def _any_of(base: set[str], *extra: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(base | {e}) for e in extra)


#: format -> (what its records are called, each set of fields that marks them: all must be present)
SIGNATURES: dict[str, tuple[str, tuple[frozenset[str], ...]]] = {
    "spotify-extended": ("Spotify extended streaming history", _any_of(
        {"ts", "ms_played"}, "master_metadata_track_name", "spotify_track_uri", "spotify_episode_uri",
        "episode_name", "audiobook_uri", "conn_country", "reason_start")),
    "spotify-account": ("Spotify account-data (StreamingHistory*.json)", _any_of(
        {"endTime", "msPlayed"}, "artistName", "trackName", "podcastName", "episodeName")),
    "listenbrainz": ("ListenBrainz listens", _any_of({"listened_at"}, "track_metadata")),
    "mpd": ("Million Playlist Dataset", _any_of({"playlists"}, "info") + _any_of({"pid"}, "tracks")),
    "audio-features": ("audio-feature", _any_of({"danceability", "energy"}, "valence")),
    "podcasts": ("podcast metadata", _any_of({"Podcast_Name", "ID"}, "Parent_Category")
                 + _any_of({"Podcast Name", "Podcast ID"}, "Episode Name")),
    "movielens": ("MovieLens ratings", _any_of({"userId", "movieId"}, "rating")),
    "table": ("tastemaker table", _any_of({"user_id"}, "item_id")),
}  # fmt: skip
#: what the command needs besides format and path
_OPTIONS = {"spotify-account": " --user ID"}


def guess(fields: Collection[str]) -> str | None:
    """The format whose signature ``fields`` hold, or None."""
    have = set(fields)
    for name, (_, signatures) in SIGNATURES.items():
        if any(signature <= have for signature in signatures):
            return name
    return None


def hint(fmt: str, found: Collection[str]) -> str:
    """``: these look like ... records: use `tastemaker import OTHER PATH``` when ``found`` fits another
    format than ``fmt``, else ``""``."""
    other = guess(found)
    if other is None or other == fmt:
        return ""
    command = f"tastemaker import {other} PATH{_OPTIONS.get(other, '')}"
    return f": these look like {SIGNATURES[other][0]} records: use `{command}`"


def mismatch(fmt: str, wanted: str, found: Collection[str]) -> str:
    """Why a file given to ``fmt`` was not read: no record has ``wanted``; and which format ``found`` fits.

    >>> mismatch("spotify-account", "endTime, msPlayed", ["ts", "ms_played", "spotify_track_uri"])[:58]
    'no record has the fields of spotify-account (endTime, msPl'
    """
    head = f"no record has the fields of {fmt} ({wanted})"
    if more := hint(fmt, found):
        return head + more
    names = sorted(str(f) for f in found)
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return f"{head}; fields found: {shown or 'none'}"


def fits(records: Iterable[Collection[str]], fields: Collection[str]) -> bool:
    """Whether some record (its field names) has all of ``fields``."""
    return any(all(f in record for f in fields) for record in records)
