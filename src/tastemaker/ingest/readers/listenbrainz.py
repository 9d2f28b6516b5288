"""ListenBrainz listens: the user data export and the API's listen JSON.

A listen is ``{"listened_at": unix seconds, "user_name": ..., "track_metadata": {"artist_name",
"track_name", "release_name", "additional_info": {"recording_mbid", "artist_mbids",
"release_mbid", "isrc", "spotify_id", "duration_ms" | "duration", "submission_client", ...},
"mbid_mapping": {"recording_mbid", "artist_mbids", ...}}}`` (older listens carry
``mbid_mapping`` beside ``track_metadata``). A file holds either a JSON array of listens (the
old web export, ``<user>_lb-<date>.json``), an API response (``{"payload": {"listens": [...]}}``)
or a submission (``{"payload": [...]}``), or JSON lines, one listen per line (the export zip's
``listens/<year>/<month>.jsonl``, whose listens carry no ``user_name``).

Each listen becomes a ``play`` event on the canonical track of (artist_name, track_name) with
the track's duration and the submitting client as ``platform``; MBIDs, ISRC, album name and the
Spotify URI go to the derived tracks/artists rows. The user is the listen's ``user_name``, else
the ``username`` of the export's ``user.json`` (beside the file, or at the root of the
``listens/<year>/`` layout), else ``--user``; a listen with none of these is rejected.
``options.user_prefix`` goes before user names read from the data. ``_line`` is the record's
number in an array, or its line number in JSON lines. Folder imports pick listen files only,
not ``feedback.jsonl``, ``pinned_recording.jsonl`` or ``user.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from tastemaker.ingest.delimited import reasons
from tastemaker.ingest.identity import artist_ids, track_ids
from tastemaker.ingest.pipeline import ReadBatch, ReadOptions, Reject
from tastemaker.ingest.readers.raw import NOT_UTF8, CutShort, is_utf8, read_all
from tastemaker.ingest.readers.sniff import fits, mismatch
from tastemaker.ingest.records import parse_json, raw_records, split_objects, typed_frame

#: Listen files only: the export zip's month files (``listens/2024/1.jsonl``), ``listens*``
#: files and the old web export ``<user>_lb-<date>.json`` (not feedback or pinned recordings).
PATTERNS: tuple[str, ...] = (
    "listens*.json", "listens*.jsonl", "*_lb-*.json", "[0-9].jsonl", "[0-9][0-9].jsonl"
)  # fmt: skip

TEXT_FIELDS = (
    "user_name", "artist_name", "track_name", "release_name", "recording_mbid", "artist_mbid",
    "isrc", "spotify_id", "client",
)  # fmt: skip
FIELDS: dict[str, pl.DataType] = {
    "listened_at": pl.Float64(),
    **{name: pl.String() for name in TEXT_FIELDS},
    "duration_ms": pl.String(),  # optional: a bad duration is dropped, not a reason to reject
    "duration": pl.String(),
}
MAX_SECONDS = 10**11
SPOTIFY_TRACK = r"(?:open\.spotify\.com/(?:intl-[a-z]+/)?track/|spotify:track:)([A-Za-z0-9]{22})"


# ---------------------------------------------------------------------- parsing
def _json_lines(data: bytes, file: str, cut: CutShort | None) -> tuple[list[Any], list[int], ReadBatch]:
    """Records of a JSON-lines file with their line numbers; bad lines become rejects, and so does
    the incomplete last line of a file cut short."""
    records: list[Any] = []
    lines: list[int] = []
    batch = ReadBatch()
    rejects = batch.rejects
    split = data.split(b"\n")
    if cut is not None:
        last = len(split)
        reason = cut.after(f"line {last - 1}") if last > 1 else f"cannot read file: {cut}"
        rejects.append(Reject(file, last if last > 1 else None, reason, _raw(split.pop())))
        batch.problems.append(reason)
    for number, line in enumerate(split, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reason = f"line is {NOT_UTF8}" if not is_utf8(line) else f"line is not valid JSON: {exc}"
            rejects.append(Reject(file, number, reason, _raw(line)))
            continue
        if isinstance(record, dict):
            records.append(record)
            lines.append(number)
        else:
            rejects.append(Reject(file, number, "record is not a JSON object", _raw(line)))
    return records, lines, batch


def _listens_of(document: Any) -> list[Any]:
    """The listens of a parsed JSON document: an array, an API response, a submission or one listen."""
    if isinstance(document, list):
        return document
    payload = document.get("payload") if isinstance(document, dict) else None
    if isinstance(payload, dict) and isinstance(payload.get("listens"), list):
        return payload["listens"]
    if isinstance(payload, list):
        return payload
    return [document]


def load_listens(path: Path) -> tuple[list[dict[str, Any]], list[int], ReadBatch]:
    """The listen objects of a file, their record/line numbers, and a batch of the records that are
    not listens and of what could not be read (a file cut short keeps the listens before the cut)."""
    file = str(path)
    try:
        data, cut = read_all(path)
    except OSError as exc:
        return [], [], ReadBatch(rejects=[Reject(file, None, f"cannot read file: {exc}", "")])
    if _one_document(data):
        loaded = parse_json(data, cut, file, "a valid JSON array" if data.lstrip()[:1] == b"[" else "valid JSON")
        objects, lines, rejects = split_objects(_listens_of(loaded.document), file, loaded.lossy)
        return objects, lines, ReadBatch(rejects=rejects + loaded.rejects, problems=loaded.problems)
    return _json_lines(data, file, cut)


def _one_document(data: bytes) -> bool:
    """Whether ``data`` is one JSON document, whole or cut short; else it is JSON lines (one of its
    first lines is an object on its own)."""
    head = data.lstrip()[:1]
    if head != b"{":
        return head == b"["
    try:
        orjson.loads(data)
        return True
    except orjson.JSONDecodeError:
        pass
    first = [line for line in data.split(b"\n", 20)[:20] if line.strip()][:5]
    return not any(isinstance(_parsed(line), dict) for line in first)


def _parsed(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _raw(data: bytes) -> str:
    return data[:2000].decode(errors="replace")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def _single(value: Any) -> str | None:
    """The one MBID of a one-element list (a credit of several artists gets none)."""
    return _text(value[0]) if isinstance(value, list) and len(value) == 1 else None


def _flat(listen: dict[str, Any]) -> dict[str, Any]:
    """The fields of one listen that tastemaker keeps, as a flat dict."""
    meta = _obj(listen.get("track_metadata"))
    info = _obj(meta.get("additional_info"))
    mapping = _obj(meta.get("mbid_mapping")) or _obj(listen.get("mbid_mapping"))
    return {
        "listened_at": listen.get("listened_at"),
        "user_name": _text(listen.get("user_name")),
        "artist_name": _text(meta.get("artist_name")),
        "track_name": _text(meta.get("track_name")),
        "release_name": _text(meta.get("release_name")),
        "recording_mbid": _text(info.get("recording_mbid")) or _text(mapping.get("recording_mbid")),
        "artist_mbid": _single(info.get("artist_mbids")) or _single(mapping.get("artist_mbids")),
        "isrc": _text(info.get("isrc")),
        "spotify_id": _text(info.get("spotify_id")),
        "client": _text(info.get("submission_client") or info.get("listening_from")),
        "duration_ms": info.get("duration_ms"),
        "duration": info.get("duration"),
    }


def export_user(path: Path) -> str | None:
    """The ``username`` in the export's ``user.json``, if there is one.

    It is looked for beside the file, and at the root of the ``listens/<year>/<month>.jsonl`` layout.
    """
    candidates = [path.parent / "user.json"]
    if path.parent.parent.name == "listens":
        candidates.append(path.parent.parent.parent / "user.json")
    for candidate in candidates:
        if candidate.is_file():
            try:
                user = orjson.loads(candidate.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                return None
            name = user.get("username") if isinstance(user, dict) else None
            return name if isinstance(name, str) and name.strip() else None
    return None


# ---------------------------------------------------------------------- mapping
def _duration_ms(col: str, scale: int) -> pl.Expr:
    """Optional duration column in ms; values that are not positive numbers become null."""
    ms = (pl.col(col).cast(pl.Float64, strict=False) * scale).round()
    return pl.when(ms.is_between(1, 24 * 3600 * 1000)).then(ms.cast(pl.Int64))


def _frame(
    objects: list[dict[str, Any]], lines: list[int], fallback_user: str | None, prefix: str
) -> pl.DataFrame:
    """Typed listen columns with ``_user``, ``_ts``, ``_duration`` and ``_reject`` reasons."""
    frame = typed_frame([_flat(o) for o in objects], lines, FIELDS, required=("listened_at",))
    frame = frame.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in TEXT_FIELDS)
    secs = pl.col("listened_at")
    user = pl.lit(prefix) + pl.col("user_name") if prefix else pl.col("user_name")
    frame = frame.with_columns(
        pl.coalesce(user, pl.lit(fallback_user, dtype=pl.String)).alias("_user"),
        pl.when(secs.is_between(0, MAX_SECONDS)).then((secs * 1000).round().cast(pl.Int64)).alias("_ms"),
        pl.coalesce(_duration_ms("duration_ms", 1), _duration_ms("duration", 1000)).alias("_duration"),
    )
    missing_names = pl.col("artist_name").is_null() | pl.col("track_name").is_null()
    return frame.with_columns(
        pl.from_epoch("_ms", time_unit="ms").dt.replace_time_zone("UTC").alias("_ts"),
        reasons(
            (secs.is_not_null() & pl.col("_ms").is_null(), "listened_at is not unix seconds"),
            (pl.col("_user").is_null(), "missing user: no user_name in the listen, no user.json, no --user"),
            (missing_names, "missing track_metadata.artist_name or track_name"),
        ),
    )


def _batch(frame: pl.DataFrame) -> ReadBatch:
    """Play events and the tracks/artists they name."""
    frame = frame.with_columns(
        track_ids(frame["artist_name"], frame["track_name"]).alias("item_id"),
        artist_ids(frame["artist_name"]).alias("artist_id"),
        (pl.lit("spotify:track:") + pl.col("spotify_id").str.extract(SPOTIFY_TRACK, 1)).alias("_uri"),
    )
    events = frame.select(
        pl.col("_user").alias("user_id"),
        pl.col("_ts").alias("ts"),
        pl.lit("play").alias("type"),
        "item_id",
        pl.lit("track").alias("item_kind"),
        "artist_id",
        pl.col("_duration").alias("duration_ms"),
        pl.col("client").alias("platform"),
        "_line",
        "_reject",
        *(["_record"] if "_record" in frame.columns else []),
    )
    ok = frame.filter(pl.col("_reject").is_null())
    tracks = ok.select(
        pl.col("item_id").alias("track_id"),
        pl.col("track_name").alias("name"),
        "artist_id",
        pl.col("artist_name").alias("artist_name"),
        pl.col("release_name").alias("album_name"),
        pl.col("_duration").alias("duration_ms"),
        pl.col("_uri").alias("uri"),
        "isrc",
        pl.col("recording_mbid").alias("mbid"),
    ).unique(maintain_order=True)
    artists = ok.select("artist_id", pl.col("artist_name").alias("name"), pl.col("artist_mbid").alias("mbid"))
    derived = {"tracks": tracks, "artists": artists.unique(maintain_order=True)}
    return ReadBatch(primary={"events": events}, derived=derived)


def read_listens(path: Path, options: ReadOptions) -> Iterator[ReadBatch]:
    """Read one ListenBrainz listens file (JSON array, API/submission document or JSON lines)."""
    objects, lines, read = load_listens(path)
    if not objects:
        yield read
        return
    owner = export_user(path)
    fallback = options.user_prefix + owner if owner else options.user
    frame = _frame(objects, lines, fallback, options.user_prefix)
    if not fits(objects, ("listened_at", "track_metadata")):
        wrong = mismatch("listenbrainz", "listened_at, track_metadata", {k for o in objects[:1000] for k in o})
        frame = frame.with_columns(pl.lit(wrong).alias("_reject"), raw_records(objects))
        read.problems.append(wrong)
    batch = _batch(frame)
    batch.rejects.extend(read.rejects)
    batch.problems.extend(read.problems)
    yield batch
