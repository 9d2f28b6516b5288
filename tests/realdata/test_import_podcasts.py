"""Import of podcast metadata CSVs (shows by category, episode samples): real data, malformed input."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest

from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS

PODCASTS = FORMATS["podcasts"]
SHOWS_HEADER = "Parent_Category,Category,Podcast_Name,Description,Publisher,Episode_Count,ID,Cover_URL"
EPISODES_HEADER = "Podcast Name,Podcast ID,Episode Name,Description"


def _quarantine(summary) -> list[dict]:  # type: ignore[no-untyped-def]
    assert summary.quarantine_file is not None
    return [orjson.loads(line) for line in Path(summary.quarantine_file).read_bytes().splitlines()]


def _show(store, uri: str) -> dict:  # type: ignore[no-untyped-def]
    return store.entities("shows").filter(pl.col("uri") == uri).row(0, named=True)


@pytest.mark.realdata
def test_real_podcast_metadata_counts_and_values(store, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    path = shared_data / "podcast-metadata"
    summary = run_import(store, PODCASTS, path)
    # 2,700 show rows (118 of them repeat an earlier row exactly) + 960 episode rows.
    assert (summary.files, summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (2, 3660, 3542, 118, 0)
    assert summary.tables == {"episodes": {"accepted": 960, "duplicates": 0}, "shows": {"accepted": 2582, "duplicates": 118}}
    assert summary.read == summary.accepted + summary.duplicates + summary.quarantined

    again = run_import(store, PODCASTS, path)
    assert (again.read, again.accepted, again.duplicates) == (3660, 0, 3660)

    shows = store.entities("shows")
    assert shows.filter(pl.col("category").is_not_null()).height == 2430  # distinct show IDs in the category file
    assert shows.height == 2483  # + 53 shows known only from the episode sample

    episodes = store.entities("episodes")
    assert episodes.height == 960
    episode = episodes.filter(pl.col("name") == "#2104 - Chris Williamson").row(0, named=True)
    assert episode["description"].startswith("Chris Williamson is a podcaster, YouTuber, and club promoter.")
    rogan = shows.filter(pl.col("show_id") == episode["show_id"]).row(0, named=True)
    assert rogan["name"] == "The Joe Rogan Experience" and rogan["uri"] == "spotify:show:4rOoJ6Egrf8K2IrywzwOMk"
    assert (rogan["publisher"], rogan["episode_count"]) == ("Joe Rogan", 2412)
    assert episodes.join(shows, on="show_id").height == 960


@pytest.mark.realdata
def test_show_under_several_categories_keeps_every_row_and_last_wins(store, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    run_import(store, PODCASTS, shared_data / "podcast-metadata" / "spotify_podcast_shows_by_category.csv")
    uri = "spotify:show:" + "0XrOqvxlqQI6bmdYHuIVnr"  # "Modern Wisdom": 10 rows, 5 distinct categories
    versions = store.scan("shows").filter(pl.col("uri") == uri).collect()
    assert sorted(versions["category"].to_list()) == ["business", "culture", "entertainment", "health", "science"]
    # Its last row (line 1804 of the file) is "health", repeating an earlier row; that still wins.
    show = _show(store, uri)
    assert (show["name"], show["category"], show["parent_category"]) == ("Modern Wisdom", "health", "Lifestyle & Health")


def test_malformed_rows_are_quarantined(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "podcast_shows.csv").write_text(
        SHOWS_HEADER + "\n"
        "News,news,Good Show,About things,Pub,12,AAA111,https://img/a\n"  # 1 ok
        "News,news,No Id,About things,Pub,3,,https://img/b\n"  # 2 empty ID
        "News,news,,Nameless,Pub,3,BBB222,https://img/c\n"  # 3 empty name
        "News,news,Counted,About,Pub,many,CCC333,https://img/d\n"  # 4 Episode_Count
        "Sports,sports,Good Show,About things,Pub,12,AAA111,https://img/a\n"  # 5 ok: a second category
        "News,news,Good Show,About things,Pub,12,AAA111,https://img/a\n"  # 6 duplicate of 1
    )
    (tmp_path / "podcast_episodes.csv").write_text(
        EPISODES_HEADER + "\n"
        "Good Show,AAA111,Episode 1,The show description is: About things The episode description is: First one\n"
        "Good Show,AAA111,,The show description is: About things The episode description is: Nameless\n"
        "Other Show,,Episode 9,Plain description\n"
    )
    (tmp_path / "podcast_other.csv").write_text("title,id\nA,1\n")
    summary = run_import(store, PODCASTS, tmp_path)
    assert summary.files == 3
    assert (summary.read, summary.accepted, summary.duplicates, summary.quarantined) == (10, 3, 1, 6)

    rows = _quarantine(summary)
    got = {(Path(r["file"]).name, r["line"]): r["reason"] for r in rows}
    assert {k: v for k, v in got.items() if k[0] != "podcast_other.csv"} == {
        ("podcast_shows.csv", 2): "empty 'ID'",
        ("podcast_shows.csv", 3): "empty 'Podcast_Name'",
        ("podcast_shows.csv", 4): "column 'Episode_Count' is not a whole number",
        ("podcast_episodes.csv", 2): "empty 'Episode Name'",
        ("podcast_episodes.csv", 3): "empty 'Podcast ID'",
    }
    header_reason = got[("podcast_other.csv", None)]
    assert "unknown podcast CSV header" in header_reason and "Podcast_Name" in header_reason and "Episode Name" in header_reason
    no_id = next(r for r in rows if r["line"] == 2 and r["file"].endswith("podcast_shows.csv"))
    assert orjson.loads(no_id["record"])["name"] == "No Id"

    show = _show(store, "spotify:show:AAA111")
    assert (show["name"], show["category"], show["episode_count"]) == ("Good Show", "news", 12)
    episode = store.entities("episodes").row(0, named=True)
    assert (episode["name"], episode["description"], episode["show_id"]) == ("Episode 1", "First one", show["show_id"])
