"""Import the real MovieLens ml-100k and ml-latest-small ratings; malformed inputs are quarantined."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from summaries import balanced, quarantined
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS

FORMAT = FORMATS["movielens"]


@pytest.mark.realdata
def test_ml100k_folder_reads_u_data_only(store, shared_data: Path) -> None:
    folder = shared_data / "movielens-100k"
    summary = run_import(store, FORMAT, folder)

    assert summary.files == 1  # u.data.gz; not the u1..ub splits, u.item, u.user ...
    assert (summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (100_000, 100_000, 0, 0)
    events = store.events().collect()
    assert events["user_id"].n_unique() == 943 and events["item_id"].n_unique() == 1_682
    assert set(events["type"]) == {"rate"} and set(events["item_kind"]) == {"movie"}
    assert sorted(events["value"].unique()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    first = events.filter((pl.col("user_id") == "196") & (pl.col("item_id") == "ml100k:242"))  # u.data line 1
    assert first.select("value", "ts").row(0) == (3.0, datetime(1997, 12, 4, 15, 55, 49, tzinfo=UTC))

    again = run_import(store, FORMAT, folder)
    assert (again.read, again.accepted, again.duplicates) == (100_000, 0, 100_000)
    split = run_import(store, FORMAT, folder / "u1.base.gz")  # the same ratings, given directly
    assert (split.read, split.accepted, split.duplicates) == (80_000, 0, 80_000) and balanced(split)


@pytest.mark.realdata
def test_ml_latest_small_ratings_csv(store, shared_data: Path) -> None:
    folder = shared_data / "movielens-latest-small"
    summary = run_import(store, FORMAT, folder, ReadOptions(user_prefix="mls:"))

    assert summary.files == 1  # ratings.csv.gz; not movies/links/tags
    assert (summary.read, summary.accepted, summary.quarantined) == (100_836, 100_836, 0) and balanced(summary)
    events = store.events().collect()
    assert events["user_id"].n_unique() == 610 and events["item_id"].n_unique() == 9_724
    assert events["user_id"].str.starts_with("mls:").all() and events["item_id"].str.starts_with("ml:").all()
    assert events["value"].min() == 0.5 and events["value"].max() == 5.0
    first = events.filter((pl.col("user_id") == "mls:1") & (pl.col("item_id") == "ml:1"))  # ratings.csv line 2
    assert first.select("value", "ts").row(0) == (4.0, datetime(2000, 7, 30, 18, 45, 3, tzinfo=UTC))

    again = run_import(store, FORMAT, folder, ReadOptions(user_prefix="mls:"))
    assert (again.read, again.accepted, again.duplicates) == (100_836, 0, 100_836)


def test_u_data_malformed_lines_are_quarantined_with_reasons(store, tmp_path: Path) -> None:
    lines = [
        "1\t10\t4\t881250949",
        "1\t11\t4.5\t881250950",
        "1\t12\tfive\t881250951",
        "1\t13\t4",
        "x\t14\t4\t881250952",
        "1\t15\t4\tyesterday",
        "1\t16\t9\t881250953",
        "",
        "1\t17\t3\t881250954",
    ]
    (tmp_path / "u.data").write_text("\n".join(lines) + "\n")

    summary = run_import(store, FORMAT, tmp_path)

    assert (summary.read, summary.accepted, summary.quarantined) == (8, 3, 5)  # the blank line is no record
    assert {key: row["reason"] for key, row in quarantined(summary).items()} == {
        ("u.data", 3): "rating is missing or not a number",
        ("u.data", 4): "expected 4 tab-separated fields, found 3",
        ("u.data", 5): "user is missing or not a whole number",
        ("u.data", 6): "timestamp is missing or not unix seconds",
        ("u.data", 7): "rating is outside 0.5-5.0",
    }
    assert quarantined(summary)[("u.data", 4)]["record"] == "1\t13\t4"
    events = store.events().collect().sort("item_id")
    assert events.select("item_id", "value").rows() == [("ml100k:10", 4.0), ("ml100k:11", 4.5), ("ml100k:17", 3.0)]


def test_ratings_csv_malformed_lines_and_wrong_header(store, tmp_path: Path) -> None:
    good = tmp_path / "ratings.csv.gz"
    rows = [
        "userId,movieId,rating,timestamp",
        "1,31,2.5,1260759144",
        "1,1029,,1260759179",
        "2,x1,3,1260759182",
        "1,1061,3",
    ]
    good.write_bytes(gzip.compress("".join(f"{row}\r\n" for row in rows).encode()))
    summary = run_import(store, FORMAT, good)
    assert (summary.read, summary.accepted, summary.quarantined) == (4, 1, 3)
    assert {key: row["reason"] for key, row in quarantined(summary).items()} == {
        ("ratings.csv.gz", 3): "rating is missing or not a number",
        ("ratings.csv.gz", 4): "movieId is missing or not a whole number",
        ("ratings.csv.gz", 5): "expected 4 ','-separated fields, found 3",
    }
    assert store.events().collect()["item_id"].to_list() == ["ml:31"]

    tags = tmp_path / "tags" / "ratings.csv"
    tags.parent.mkdir()
    tags.write_text("userId,movieId,tag,timestamp\n2,60756,funny,1445714994\n")
    summary = run_import(store, FORMAT, tags)
    (row,) = quarantined(summary).values()
    assert (summary.read, summary.quarantined, row["line"]) == (1, 1, None)
    assert str(row["reason"]).startswith("not a MovieLens ratings.csv")
