"""The generic table importer: CSV/TSV/Parquet/JSONL, column mapping, typing, quarantine."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import pytest

from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS

TABLE = FORMATS["table"]


def _quarantine(summary) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {r["line"]: r["reason"] for r in map(orjson.loads, Path(summary.quarantine_file).read_bytes().splitlines())}


def test_csv_with_a_column_mapping_and_mixed_time_formats(store, tmp_path: Path) -> None:
    path = tmp_path / "listens.csv"
    path.write_text(
        "listener,song,when,ms,skip\n"
        "a,s1,2024-01-01T10:00:00Z,1000,true\n"
        "a,s2,1704103200,200000,false\n"
        "b,s1,2024-01-01 12:00:00,5000,1\n"
    )
    mapping = {"user_id": "listener", "item_id": "song", "ts": "when", "ms_played": "ms", "skipped": "skip"}
    summary = run_import(store, TABLE, path, ReadOptions(mapping=mapping))
    assert (summary.read, summary.accepted, summary.quarantined) == (3, 3, 0)
    ev = store.events().sort("user_id", "item_id").collect()
    assert ev["type"].to_list() == ["play"] * 3  # no type column: a listening log
    assert ev["ts"].to_list() == [datetime(2024, 1, 1, 10, tzinfo=UTC), datetime(2024, 1, 1, 10, tzinfo=UTC),
                                  datetime(2024, 1, 1, 12, tzinfo=UTC)]
    assert ev["skipped"].to_list() == [True, False, True]


def test_rows_that_do_not_convert_are_quarantined_with_the_column_named(store, tmp_path: Path) -> None:
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(
        b"user_id,ts,type,item_id,ms_played\n"
        b"a,2024-01-01T10:00:00Z,play,s1,1000\n"
        b"a,not-a-time,play,s2,1000\n"
        b"a,2024-01-01T10:00:00Z,play,s3,lots\n"
        b",2024-01-01T10:00:00Z,play,s4,1\n"
        b"a,2024-01-01T10:00:00Z,play,s5,1,extra\n"
        b"a,2024-01-01T11:00:00Z,dance,s6,1\n"
    ))
    summary = run_import(store, TABLE, path)
    assert (summary.read, summary.accepted, summary.quarantined) == (6, 1, 5)
    by_line = _quarantine(summary)
    assert "'ts'" in by_line[3] and "expected 5 fields" in by_line[6] and "event type" in by_line[7]
    reasons = " | ".join(by_line.values())
    for expected in ("'ts'", "'ms_played'", "missing user id", "expected 5 fields", "unknown event type"):
        assert expected in reasons
    row = store.events().collect().row(0, named=True)
    assert row["ts"] == datetime(2024, 1, 1, 10, tzinfo=UTC) and row["item_kind"] == "track"


def test_parquet_and_jsonl_load_and_reimport_adds_nothing(store, tmp_path: Path) -> None:
    frame = pl.DataFrame({"user_id": ["a", "b"], "ts": [datetime(2024, 1, 1, tzinfo=UTC)] * 2,
                          "type": ["play", "save"], "item_id": ["x", "y"], "ms_played": [1, None]})
    src = tmp_path / "in"
    src.mkdir()
    frame.write_parquet(src / "events.parquet")
    (src / "more.jsonl").write_bytes(
        b'{"user_id": "c", "ts": "2024-02-01T00:00:00Z", "type": "play", "item_id": "z", "ms_played": 7}\n'
        b"{broken\n"
        b'["a list"]\n'
    )
    first = run_import(store, TABLE, src)
    assert (first.read, first.accepted, first.quarantined) == (5, 3, 2)
    again = run_import(store, TABLE, src)
    assert (again.accepted, again.duplicates) == (0, 3)


def test_file_stem_picks_the_table_and_list_columns_split_on_bars(store, tmp_path: Path) -> None:
    (tmp_path / "tracks.tsv").write_text("track_id\tname\tgenres\tduration_ms\nt1\tSong\trock|indie\t180000\n\tNo id\t\t1\n")
    summary = run_import(store, TABLE, tmp_path / "tracks.tsv")
    assert (summary.accepted, summary.quarantined) == (1, 1)
    assert "missing track_id" in _quarantine(summary)[3]  # physical line: the header is line 1
    assert store.entities("tracks").row(0, named=True)["genres"] == ["rock", "indie"]


def test_mapping_to_an_unknown_column_is_a_clear_error(store, tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match="does not have"):
        run_import(store, TABLE, tmp_path / "e.csv", ReadOptions(mapping={"colour": "a"}))
