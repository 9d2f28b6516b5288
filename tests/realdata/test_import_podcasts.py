"""Import of podcast metadata CSVs (shows by category, episode samples): real data, malformed input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from summaries import counts as _counts, quarantine_rows as _quarantine
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.store import Store

PODCASTS = FORMATS["podcasts"]
SHOWS_HEADER = "Parent_Category,Category,Podcast_Name,Description,Publisher,Episode_Count,ID,Cover_URL"
EPISODES_HEADER = "Podcast Name,Podcast ID,Episode Name,Description"


def _show(store: Store, uri: str) -> dict[str, Any]:
    return store.entities("shows").filter(pl.col("uri") == uri).row(0, named=True)


@pytest.mark.realdata
def test_real_podcast_metadata_counts_and_values(store: Store, shared_data: Path) -> None:
    path = shared_data / "podcast-metadata"
    summary = run_import(store, PODCASTS, path)
    # 2,700 show rows (118 of them repeat an earlier row exactly) + 960 episode rows.
    assert summary.files == 2 and _counts(summary) == (3660, 3542, 118, 0)
    assert summary.tables == {
        "episodes": {"accepted": 960, "duplicates": 0},
        "shows": {"accepted": 2582, "duplicates": 118},
    }
    assert summary.read == summary.accepted + summary.duplicates + summary.quarantined

    again = run_import(store, PODCASTS, path)
    assert _counts(again) == (3660, 0, 3660, 0)

    shows = store.entities("shows")
    assert shows.filter(pl.col("category").is_not_null()).height == 2430  # distinct IDs in the category file
    assert shows.height == 2483  # + 53 shows known only from the episode sample

    episodes = store.entities("episodes")
    assert episodes.height == 960
    episode = episodes.filter(pl.col("name") == "#2104 - Chris Williamson").row(0, named=True)
    assert episode["description"].startswith("Chris Williamson is a podcaster, YouTuber, and club promoter.")
    rogan = shows.filter(pl.col("show_id") == episode["show_id"]).row(0, named=True)
    assert (rogan["name"], rogan["publisher"]) == ("The Joe Rogan Experience", "Joe Rogan")
    assert rogan["episode_count"] == 2412
    assert rogan["uri"] == "spotify:show:4rOoJ6Egrf8K2IrywzwOMk"
    assert episodes.join(shows, on="show_id").height == 960


@pytest.mark.realdata
def test_show_in_several_categories_keeps_every_row_and_last_wins(store: Store, shared_data: Path) -> None:
    run_import(store, PODCASTS, shared_data / "podcast-metadata" / "spotify_podcast_shows_by_category.csv")
    uri = "spotify:show:0XrOqvxlqQI6bmdYHuIVnr"  # "Modern Wisdom": 10 rows, 5 distinct categories
    versions = store.scan("shows").filter(pl.col("uri") == uri).collect()
    categories = sorted(versions["category"].to_list())
    assert categories == ["business", "culture", "entertainment", "health", "science"]
    # Its last row (record 1804) is "health", repeating an earlier row; that still wins.
    show = _show(store, uri)
    assert (show["name"], show["category"]) == ("Modern Wisdom", "health")
    assert show["parent_category"] == "Lifestyle & Health"


def test_malformed_rows_are_quarantined(store: Store, tmp_path: Path) -> None:
    (tmp_path / "podcast_shows.csv").write_text(
        SHOWS_HEADER + "\n"
        "News,news,Good Show,About things,Pub,12,AAA111,https://img/a\n"  # 1 ok
        "News,news,No Id,About things,Pub,3,,https://img/b\n"  # 2 empty ID
        "News,news,,Nameless,Pub,3,BBB222,https://img/c\n"  # 3 empty name
        "News,news,Counted,About,Pub,many,CCC333,https://img/d\n"  # 4 Episode_Count
        "Sports,sports,Good Show,About things,Pub,12,AAA111,https://img/a\n"  # 5 ok: a second category
        "News,news,Good Show,About things,Pub,12,AAA111,https://img/a\n"  # 6 duplicate of 1
    )
    wrapped = "The show description is: About things The episode description is:"
    (tmp_path / "podcast_episodes.csv").write_text(
        EPISODES_HEADER + "\n"
        f"Good Show,AAA111,Episode 1,{wrapped} First one\n"  # 1 ok
        f"Good Show,AAA111,,{wrapped} Nameless\n"  # 2 empty episode name
        "Other Show,,Episode 9,Plain description\n"  # 3 empty show ID
    )
    (tmp_path / "podcast_other.csv").write_text("title,id\nA,1\n")
    summary = run_import(store, PODCASTS, tmp_path)
    assert summary.files == 3 and _counts(summary) == (10, 3, 1, 6)

    rows = _quarantine(summary)
    got = {(Path(r["file"]).name, r["line"]): r["reason"] for r in rows}
    header_reason = got.pop(("podcast_other.csv", None))
    assert got == {
        ("podcast_shows.csv", 2): "empty 'ID'",
        ("podcast_shows.csv", 3): "empty 'Podcast_Name'",
        ("podcast_shows.csv", 4): "column 'Episode_Count' is not a whole number",
        ("podcast_episodes.csv", 2): "empty 'Episode Name'",
        ("podcast_episodes.csv", 3): "empty 'Podcast ID'",
    }
    assert "unknown podcast CSV header" in header_reason
    assert "Podcast_Name" in header_reason and "Episode Name" in header_reason
    no_id = next(r for r in rows if r["line"] == 2 and r["file"].endswith("podcast_shows.csv"))
    assert orjson.loads(no_id["record"])["name"] == "No Id"

    show = _show(store, "spotify:show:AAA111")
    assert (show["name"], show["category"], show["episode_count"]) == ("Good Show", "news", 12)
    episode = store.entities("episodes").row(0, named=True)
    assert (episode["name"], episode["description"]) == ("Episode 1", "First one")
    assert episode["show_id"] == show["show_id"]
