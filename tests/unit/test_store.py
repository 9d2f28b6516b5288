"""The embedded store: atomic de-duplicating appends, entity merge, snapshots, URL table."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest

from tastemaker.errors import StoreError
from tastemaker.store import open_store


def _events(ids: list[int], user: str = "u1") -> pl.DataFrame:
    return pl.DataFrame({"row_id": ids, "user_id": [user] * len(ids), "item_id": [f"t{i}" for i in ids],
                         "type": ["play"] * len(ids), "item_kind": ["track"] * len(ids)})


def test_append_drops_rows_already_stored_and_repeats_within_a_batch(store) -> None:
    first = store.append({"events": _events([1, 2, 3, 3])})["events"]
    assert (first.accepted, first.duplicates) == (3, 1)
    second = store.append({"events": _events([3, 4])})["events"]
    assert (second.accepted, second.duplicates) == (1, 1)
    ids = store.events().select("row_id").collect()["row_id"].sort().to_list()
    assert ids == [1, 2, 3, 4]
    assert store.count("events") == 4


def test_append_without_row_id_is_refused(store) -> None:
    frame = _events([1]).with_columns(pl.lit(None, dtype=pl.Int64).alias("row_id"))
    with pytest.raises(ValueError, match="row_id"):
        store.append({"events": frame})


def test_unknown_column_or_table_is_named_in_the_error(store) -> None:
    with pytest.raises(ValueError, match="no columns"):
        store.append({"events": _events([1]).with_columns(pl.lit(1).alias("bogus"))})
    with pytest.raises(ValueError, match="unknown table"):
        store.append({"nope": _events([1])})


def test_one_append_commits_several_tables_in_one_manifest_version(store) -> None:
    tracks = pl.DataFrame({"row_id": [10], "track_id": ["t1"], "name": ["Song"]})
    store.append({"events": _events([1]), "tracks": tracks})
    manifest = store.manifest()
    assert manifest["version"] == 1
    assert set(manifest["tables"]) == {"events", "tracks"}


def test_entities_keep_the_latest_non_null_value_per_column(store) -> None:
    store.append({"tracks": pl.DataFrame({"row_id": [1], "track_id": ["t1"], "name": ["Old"], "uri": ["spotify:track:x"]})})
    store.append({"tracks": pl.DataFrame({"row_id": [2], "track_id": ["t1"], "name": ["New"], "uri": [None]},
                                         schema_overrides={"uri": pl.String})})
    row = store.entities("tracks").row(0, named=True)
    assert row["name"] == "New" and row["uri"] == "spotify:track:x"


def test_a_reopened_store_sees_the_same_rows_and_still_deduplicates(tmp_path: Path) -> None:
    open_store(tmp_path / "s").append({"events": _events([1, 2])})
    again = open_store(f"parquet://{tmp_path / 's'}")
    assert again.count("events") == 2
    assert again.append({"events": _events([2, 5])})["events"].accepted == 1


def test_segments_left_by_a_crashed_writer_are_invisible_and_cleaned(store) -> None:
    store.append({"events": _events([1])})
    orphan = store.root / "segments" / "events-orphan.parquet"
    _events([99]).write_parquet(orphan)
    assert store.count("events") == 1 and 99 not in store.events().collect()["row_id"].to_list()
    store.append({"events": _events([2])})
    assert not orphan.exists()


def test_corrupt_manifest_raises_a_store_error_saying_what_to_do(store) -> None:
    (store.root / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="restore"):
        store.count("events")


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="parquet"):
        open_store("redis://localhost/0")


def test_quarantine_is_appended_as_json_lines(store) -> None:
    rows = pl.DataFrame({"file": ["a.json"], "line": [3], "reason": ["bad"], "record": ["{}"]})
    path = store.write_quarantine("imp1", rows)
    store.write_quarantine("imp1", rows)
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert len(lines) == 2 and lines[0]["reason"] == "bad" and lines[0]["line"] == 3
