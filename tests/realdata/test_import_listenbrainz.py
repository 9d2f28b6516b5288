"""Import ListenBrainz listens (a made-up fixture: no shared sample exists); bad listens are quarantined."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
from summaries import quarantined
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import artist_id, track_id

FORMAT = FORMATS["listenbrainz"]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "listenbrainz"


def listen(ts: float | str | None, track: str | None = "Song", user: str | None = "lb_dee") -> dict[str, object]:
    record: dict[str, object] = {"listened_at": ts, "track_metadata": {"artist_name": "Band", "track_name": track}}
    if user is not None:
        record["user_name"] = user
    return record


def test_fixture_array_and_json_lines(store) -> None:
    summary = run_import(store, FORMAT, FIXTURE)

    assert summary.files == 2
    assert (summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (12, 12, 0, 0)
    events = store.events().collect()
    assert events.group_by("user_id").len().sort("user_id").rows() == [("lb_ada", 7), ("lb_bo", 5)]
    assert set(events["type"]) == {"play"} and set(events["item_kind"]) == {"track"}
    harbour = track_id("The Paper Lanterns", "Harbour Lights")
    first = events.filter((pl.col("user_id") == "lb_ada") & (pl.col("item_id") == harbour)).sort("ts")
    assert first.select("ts", "artist_id", "duration_ms", "platform").row(0) == (
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        artist_id("The Paper Lanterns"),
        215_000,
        "Made-up Player",
    )
    bo = events.filter(pl.col("user_id") == "lb_bo").sort("ts")  # float listened_at, export style
    assert bo["ts"][0] == datetime(2024, 1, 1, tzinfo=UTC)

    tracks = store.entities("tracks")
    row = tracks.filter(pl.col("track_id") == harbour).row(0, named=True)
    assert (row["album_name"], row["isrc"], row["mbid"], row["uri"]) == (
        "Low Tide",
        "ZZX000000001",
        "10000000-0000-4000-8000-000000000001",
        "spotify:track:0123456789abcdefABCDEF",
    )
    orchard = tracks.filter(pl.col("track_id") == track_id("Mira Vale", "Glass Orchard")).row(0, named=True)
    assert (orchard["mbid"], orchard["duration_ms"]) == ("10000000-0000-4000-8000-000000000002", 187_000)
    copper = tracks.filter(pl.col("track_id") == track_id("Mira Vale", "Copper Rain"))  # top-level mbid_mapping
    assert copper["mbid"][0] == "10000000-0000-4000-8000-000000000003"
    assert tracks.filter(pl.col("name") == 'Søndag "Live"')["uri"][0] == "spotify:track:ZYXWVUTSRQPONMLKJIHGFE"
    artists = store.entities("artists")
    mbids = dict(artists.select("name", "mbid").iter_rows())
    assert mbids["Mira Vale"] == "20000000-0000-4000-8000-000000000002"
    assert mbids["Mira Vale & The Paper Lanterns"] is None  # two artist MBIDs: no single one to keep

    again = run_import(store, FORMAT, FIXTURE)
    assert (again.read, again.accepted, again.duplicates) == (12, 0, 12)


def test_export_zip_layout_takes_user_json_and_skips_other_files(store, tmp_path: Path) -> None:
    export = tmp_path / "listenbrainz_lb_cy_1700000000"
    (export / "listens" / "2024").mkdir(parents=True)
    (export / "user.json").write_bytes(orjson.dumps({"user_id": 7, "username": "lb_cy"}))
    lines = [listen(1704067200.0, "One", user=None), listen(1704067500.0, "Two", user=None)]
    (export / "listens" / "2024" / "1.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    (export / "feedback.jsonl").write_text('{"recording_mbid": "x", "score": 1, "created": 1704067200}\n')
    (export / "pinned_recording.jsonl").write_text('{"recording_mbid": "x", "blurb_content": "hi"}\n')

    summary = run_import(store, FORMAT, export, ReadOptions(user_prefix="lb:"))

    assert (summary.files, summary.read, summary.accepted, summary.quarantined) == (1, 2, 2, 0)
    assert set(store.events().collect()["user_id"]) == {"lb:lb_cy"}  # not the "listens" subfolder


def test_user_option_is_the_fallback(store, tmp_path: Path) -> None:
    path = tmp_path / "listens.jsonl"
    path.write_bytes(orjson.dumps(listen(1700000000, user=None)) + b"\n" + orjson.dumps(listen(1700000100)))

    summary = run_import(store, FORMAT, path)
    assert (summary.read, summary.accepted, summary.quarantined) == (2, 1, 1)
    assert quarantined(summary)[("listens.jsonl", 1)]["reason"] == (
        "missing user: no user_name in the listen, no user.json, no --user"
    )
    summary = run_import(store, FORMAT, path, ReadOptions(user="carol"))
    assert (summary.accepted, summary.duplicates) == (1, 1)
    assert sorted(store.events().collect()["user_id"]) == ["carol", "lb_dee"]


def test_malformed_listens_are_quarantined_with_reasons(store, tmp_path: Path) -> None:
    lines = [
        orjson.dumps(listen(1700000000)),
        b'{"listened_at": 1700000100, "track_metadata": {',
        b"[1, 2]",
        orjson.dumps({"user_name": "lb_dee", "track_metadata": {"artist_name": "Band", "track_name": "x"}}),
        orjson.dumps(listen("yesterday")),
        orjson.dumps(listen(1700000200, track=None)),
        orjson.dumps(listen(1_700_000_300_000)),  # milliseconds
        b"",
        orjson.dumps({"listened_at": 1700000400, "user_name": "lb_dee", "track_metadata": "Band - Song"}),
        orjson.dumps(listen(1700000500, track="Last")),
    ]
    path = tmp_path / "listens-dee.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    summary = run_import(store, FORMAT, tmp_path)

    assert (summary.read, summary.accepted, summary.quarantined) == (9, 2, 7)
    reasons = {line: row["reason"] for (_, line), row in quarantined(summary).items()}
    assert str(reasons.pop(2)).startswith("line is not valid JSON")
    assert reasons == {
        3: "record is not a JSON object",
        4: "missing field 'listened_at'",
        5: "field 'listened_at' is not a valid Float64",
        6: "missing track_metadata.artist_name or track_name",
        7: "listened_at is not unix seconds",
        9: "missing track_metadata.artist_name or track_name",
    }
    assert quarantined(summary)[("listens-dee.jsonl", 3)]["record"] == "[1, 2]"
    expected = sorted([track_id("Band", "Song"), track_id("Band", "Last")])
    assert sorted(store.events().collect()["item_id"]) == expected


def test_broken_array_file_is_one_reject(store, tmp_path: Path) -> None:
    path = tmp_path / "listens.json"
    path.write_bytes(b'[{"listened_at": 1700000000, "track_metadata": {')
    summary = run_import(store, FORMAT, path)
    (row,) = quarantined(summary).values()
    assert (summary.read, summary.quarantined, row["line"]) == (1, 1, None)
    assert str(row["reason"]).startswith("file is not a valid JSON array")


def test_api_response_document(store, tmp_path: Path) -> None:
    path = tmp_path / "listens_page.json"
    document = {"payload": {"count": 2, "user_id": "lb_eve", "listens": [listen(1700000000), listen(1700000060)]}}
    path.write_bytes(orjson.dumps(document))
    summary = run_import(store, FORMAT, path)
    assert (summary.read, summary.accepted) == (2, 2)
