"""Playlists as files other tools read: JSPF documents and CSV in Exportify's layout.

Names go everywhere: a track is its title, artist and album as the import saw them. Where an import
knew the track's Spotify URI (the extended streaming history, audio-feature tables), it goes with
them, so a player or a playlist-transfer tool finds the very track instead of guessing by name:

- JSPF (``https://www.xspf.org/jspf``): ``identifier`` is the track's ``https://open.spotify.com/track/ID``
  link, next to ``title``, ``creator``, ``album``, ``duration`` and the reason as ``annotation``;
  tastemaker's own track id rides in ``meta`` (``{"tastemaker:track_id": ...}``), which players ignore.
- CSV: the columns of Exportify's playlist export (:data:`CSV_COLUMNS`), the layout Soundiiz,
  TuneMyMusic and other transfer tools read by column name (``Track URI`` empty where unknown: they
  then match by ``Track Name`` and ``Artist Name(s)``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

#: a Spotify track URI; its 22-character id is the one in the track's open.spotify.com link
SPOTIFY_TRACK = re.compile(r"^spotify:track:([0-9A-Za-z]{22})$")
#: what a playlist row may say about its track, read from the tracks table when the row lacks it
DETAILS = ("uri", "album_name", "duration_ms", "release_date", "isrc")
#: CSV column -> playlist row column: Exportify's names, in its order
CSV_COLUMNS = {"Track URI": "uri", "Track Name": "name", "Album Name": "album_name",
               "Artist Name(s)": "artist_name", "Release Date": "release_date", "Duration (ms)": "duration_ms",
               "ISRC": "isrc"}


def spotify_url(uri: str | None) -> str | None:
    """The open.spotify.com link of a ``spotify:track:...`` URI; ``None`` for anything else.

    >>> spotify_url("spotify:track:08mG3Y1vljYA6bvDt4Wqkj")
    'https://open.spotify.com/track/08mG3Y1vljYA6bvDt4Wqkj'
    """
    found = SPOTIFY_TRACK.match(uri or "")
    return f"https://open.spotify.com/track/{found.group(1)}" if found else None


def described(rows: pl.DataFrame, tracks: pl.DataFrame | None) -> pl.DataFrame:
    """``rows`` (``track_id`` or ``item_id``, ``name``, ``artist_name``...) plus each of :data:`DETAILS` they
    lack, from ``tracks`` (null where the catalogue does not say)."""
    key = "track_id" if "track_id" in rows.columns else "item_id"
    missing = [c for c in DETAILS if c not in rows.columns]
    known = [c for c in missing if tracks is not None and c in tracks.columns]
    if known and tracks is not None and tracks.height:
        catalogue = tracks.select(pl.col("track_id").alias(key), *known).unique(key)
        rows = rows.join(catalogue, on=key, how="left", maintain_order="left")
    else:
        known = []
    return rows.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing if c not in known)


def jspf(title: str, rows: pl.DataFrame, creator: str = "tastemaker") -> dict[str, Any]:
    """One JSPF document of the playlist ``rows`` (in order; see :func:`described` for the columns read).

    >>> jspf("Mix", pl.DataFrame({"track_id": ["t1"], "name": ["Song"], "artist_name": ["Band"],
    ...                           "uri": ["spotify:track:08mG3Y1vljYA6bvDt4Wqkj"]}))["playlist"]["track"][0]["identifier"]
    ['https://open.spotify.com/track/08mG3Y1vljYA6bvDt4Wqkj']
    """
    key = "track_id" if "track_id" in rows.columns else "item_id"
    tracks = []
    for row in rows.iter_rows(named=True):
        track: dict[str, Any] = {"title": row.get("name"), "creator": row.get("artist_name")}
        if row.get("album_name"):
            track["album"] = row["album_name"]
        if row.get("duration_ms"):
            track["duration"] = int(row["duration_ms"])
        if url := spotify_url(row.get("uri")):
            track["identifier"] = [url]
        if row.get("reason"):
            track["annotation"] = row["reason"]
        track["meta"] = [{"tastemaker:track_id": row[key]}]
        tracks.append(track)
    return {"playlist": {"title": title, "creator": creator, "track": tracks}}


def exportify_csv(rows: pl.DataFrame) -> pl.DataFrame:
    """The playlist ``rows`` (in order) as :data:`CSV_COLUMNS`: what :func:`write_csv` writes."""
    rows = described(rows, None)
    return rows.select(pl.col(column).cast(pl.String).alias(header) for header, column in CSV_COLUMNS.items())


def write_csv(rows: pl.DataFrame, path: Path) -> Path:
    """Write the playlist ``rows`` to ``path`` as CSV in Exportify's layout; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exportify_csv(rows).write_csv(path, quote_style="always")
    return path


def file_name(title: str) -> str:
    """``title`` as a file name: characters other than letters, digits, space, ``.``, ``-`` and ``_`` become ``_``.

    >>> file_name("Discover Weekly for tm:user:000068")
    'Discover Weekly for tm_user_000068'
    """
    return re.sub(r"[^\w .-]+", "_", title).strip(" .") or "playlist"
