"""Spotify Million Playlist Dataset slices (``mpd.slice.<from>-<to>.json``).

One JSON object: ``info`` plus ``playlists[]``, each with ``name, collaborative ("true"/"false"),
pid, modified_at (epoch seconds), num_tracks, num_albums, num_followers`` and ``tracks[]`` of
``{pos, artist_name, track_uri, artist_uri, track_name, album_uri, duration_ms, album_name}``.

Playlists become context. Both kinds of object are primary records, numbered in document order
(playlist 1 is record 1, its tracks records 2, 3, ...; the next playlist follows its last track),
which is the ``line`` the quarantine file gives:

- each playlist → a ``playlists`` row ``playlist_id = "mpd:<pid>"``;
- each playlist-track entry → an ``add_to_playlist`` event by user ``"mpd:<pid>"`` (after
  ``options.user_prefix``) on the canonical track id of its names, with ``playlist_id``,
  ``position = pos`` and ``ts = modified_at`` (the only time MPD gives).

The entries of a rejected playlist (no ``pid``, unparsable fields) are rejected with it, naming the
playlist's reason. The tracks and artists the accepted entries name are derived catalog rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.ingest.identity import artist_ids, track_ids
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.raw import NOT_UTF8
from tastemaker.ingest.readers.sniff import hint
from tastemaker.ingest.records import add_reason, load_json, typed_frame

PATTERNS: tuple[str, ...] = ("mpd.slice.*.json", "mpd_slice_*.json", "mpd-slice-*.json")

PLAYLIST_FIELDS: dict[str, pl.DataType] = {
    "pid": pl.Int64(),
    "name": pl.String(),
    "collaborative": pl.Boolean(),
    "modified_at": pl.Int64(),
    "num_followers": pl.Int64(),
}
PLAYLIST_COLUMNS = ("playlist_id", "name", "collaborative", "modified_at", "num_followers")
TRACK_FIELDS: dict[str, pl.DataType] = {
    "pos": pl.Int64(),
    "artist_name": pl.String(),
    "track_name": pl.String(),
    "track_uri": pl.String(),
    "artist_uri": pl.String(),
    "album_name": pl.String(),
    "album_uri": pl.String(),
    "duration_ms": pl.Int64(),
}


def _load_playlists(path: Path) -> tuple[list[Any] | None, ReadBatch, bool]:
    """The ``playlists`` array of a slice file (the complete playlists before any cut), a batch of
    what could not be read (a file that is not a slice is a single reject), and whether text that was
    not UTF-8 was replaced (see :class:`tastemaker.ingest.records.JsonFile`)."""
    loaded = load_json(path)
    read = ReadBatch(rejects=loaded.rejects, problems=loaded.problems)
    data = loaded.document
    if data is None:
        return None, read, loaded.lossy
    if not isinstance(data, dict) or not isinstance(data.get("playlists"), list):
        first = data[0] if isinstance(data, list) and data else data
        reason = "file is not an MPD slice (a JSON object with a 'playlists' array)"
        reason += hint("mpd", list(first) if isinstance(first, dict) else [])
        read.rejects.append(Reject(str(path), None, reason, str(data)[:2000]))
        return None, read, loaded.lossy
    return data["playlists"], read, loaded.lossy


def _flatten(playlists: list[Any], file: str) -> tuple[dict[str, list[Any]], list[Reject]]:
    """Split playlists and their track entries into record lists numbered in document order.

    Returns ``{"playlists", "playlist_lines", "tracks", "track_lines", "parent"}`` (``parent``: the
    index of each track entry's playlist in ``playlists``) and the records that are not objects.
    """
    keys = ("playlists", "playlist_lines", "tracks", "track_lines", "parent")
    out: dict[str, list[Any]] = {k: [] for k in keys}
    rejects: list[Reject] = []
    line = 0
    for playlist in playlists:
        line += 1
        if not isinstance(playlist, dict):
            rejects.append(Reject(file, line, "playlist is not a JSON object", repr(playlist)[:2000]))
            continue
        parent = len(out["playlists"])
        out["playlists"].append(playlist)
        out["playlist_lines"].append(line)
        tracks = playlist.get("tracks") or []
        for entry in tracks if isinstance(tracks, list) else []:
            line += 1
            if isinstance(entry, dict):
                out["tracks"].append(entry)
                out["track_lines"].append(line)
                out["parent"].append(parent)
            else:
                reason = "playlist track entry is not a JSON object"
                rejects.append(Reject(file, line, reason, repr(entry)[:2000]))
    return out, rejects


def _playlist_frame(objects: list[dict[str, Any]], lines: list[int]) -> pl.DataFrame:
    """Typed playlist records with ``playlist_id``, ``modified_at`` as a timestamp, and ``_reject``."""
    frame = typed_frame(objects, lines, PLAYLIST_FIELDS, required=("pid",))
    tracks_ok = pl.Series([isinstance(o.get("tracks") or [], list) for o in objects], dtype=pl.Boolean)
    return frame.with_columns(
        pl.format("mpd:{}", pl.col("pid")).alias("playlist_id"),
        pl.from_epoch(pl.col("modified_at"), time_unit="s").dt.replace_time_zone("UTC").alias("modified_at"),
    ).with_columns(add_reason(~tracks_ok, "field 'tracks' is not a list"))


def _entry_frame(
    objects: list[dict[str, Any]], lines: list[int], parent: list[int], playlists: pl.DataFrame
) -> pl.DataFrame:
    """Typed track entries joined to their playlist's id, time and reject reason."""
    frame = typed_frame(objects, lines, TRACK_FIELDS, required=("pos", "artist_name", "track_name"))
    context = playlists.select("playlist_id", "modified_at", pl.col("_reject").alias("_playlist_reject"))
    frame = pl.concat([frame, context[pl.Series(parent, dtype=pl.Int64)]], how="horizontal")
    blank = pl.col("artist_name").str.strip_chars().eq("") | pl.col("track_name").str.strip_chars().eq("")
    return frame.with_columns(
        pl.coalesce("in a rejected playlist: " + pl.col("_playlist_reject"), "_reject").alias("_reject")
    ).with_columns(add_reason(blank, "empty 'artist_name' or 'track_name'"))


def _events(entries: pl.DataFrame, options: ReadOptions) -> pl.DataFrame:
    """``add_to_playlist`` events, one per track entry."""
    return entries.select(
        (options.user_prefix + pl.col("playlist_id")).alias("user_id"),
        pl.col("modified_at").alias("ts"),
        pl.lit("add_to_playlist").alias("type"),
        track_ids(entries["artist_name"], entries["track_name"]).alias("item_id"),
        pl.lit("track").alias("item_kind"),
        artist_ids(entries["artist_name"]).alias("artist_id"),
        "duration_ms",
        pl.col("pos").alias("position"),
        "playlist_id",
        "_line",
        "_reject",
    )


def _catalog(entries: pl.DataFrame, events: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The tracks and artists that the accepted entries name."""
    ok = (events["_reject"].is_null() & events["item_id"].is_not_null()).alias("ok")
    named = pl.concat([events.select("item_id", "artist_id"), entries], how="horizontal").filter(ok)
    tracks = named.select(
        pl.col("item_id").alias("track_id"),
        pl.col("track_name").alias("name"),
        "artist_id",
        "artist_name",
        "album_name",
        "duration_ms",
        pl.col("track_uri").alias("uri"),
    ).unique(maintain_order=True)
    artists = named.select("artist_id", name=pl.col("artist_name"), uri=pl.col("artist_uri"))
    return {"tracks": tracks, "artists": artists.unique(maintain_order=True)}


def _replaced(frame: pl.DataFrame) -> pl.Expr:
    """True where a text column holds U+FFFD (a byte sequence that was not UTF-8)."""
    text = [c for c, t in frame.schema.items() if t == pl.String and not c.startswith("_")]
    if not text:
        return pl.lit(False)
    return pl.any_horizontal(pl.col(c).str.contains("\ufffd", literal=True) for c in text)


def read_slice(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one MPD slice: playlists as ``playlists`` rows, their track entries as events."""
    playlists, read, lossy = _load_playlists(path)
    if playlists is None:
        yield read
        return
    records, rejects = _flatten(playlists, str(path))
    lists = _playlist_frame(records["playlists"], records["playlist_lines"])
    if lossy:  # a playlist whose text held bytes that are not UTF-8 is rejected, its entries with it
        lists = lists.with_columns(add_reason(_replaced(lists), f"playlist is {NOT_UTF8}"))
    entries = _entry_frame(records["tracks"], records["track_lines"], records["parent"], lists)
    if lossy:
        entries = entries.with_columns(add_reason(_replaced(entries), f"entry is {NOT_UTF8}"))
    events = _events(entries, options)
    rows = lists.select(*PLAYLIST_COLUMNS, "_line", "_reject")
    catalog = _catalog(entries, events)
    primary = {"playlists": rows, "events": events}
    yield ReadBatch(primary=primary, derived=catalog, rejects=rejects + read.rejects, problems=read.problems)
