"""Import the real HetRec 2011 Last.fm-2k and Last.fm-1K files; malformed inputs are quarantined."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from summaries import balanced, quarantined
from tastemaker.errors import ImportFormatError
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import artist_id, track_id

HETREC_ROWS = {"user_artists": 92_834, "artists": 17_632, "user_taggedartists": 186_479, "user_friends": 25_434}
#: user_taggedartists.dat dates five assignments in 1956, 1957 and 1979: quarantined as before 1990.
HETREC_OLD_TAGS = 5


@pytest.mark.realdata
def test_hetrec_folder_imports_every_documented_row(store, shared_data: Path) -> None:
    summary = run_import(store, FORMATS["lastfm-hetrec"], shared_data / "lastfm-hetrec2011-2k")

    assert summary.files == 4  # tags.dat is a lookup, not a file of its own
    assert summary.read == sum(HETREC_ROWS.values())
    assert balanced(summary)
    assert summary.quarantined == HETREC_OLD_TAGS
    assert summary.tables["artists"] == {"accepted": 17_632, "duplicates": 0}
    assert summary.tables["edges"] == {"accepted": 25_434, "duplicates": 0}
    plays_and_tags = HETREC_ROWS["user_artists"] + HETREC_ROWS["user_taggedartists"] - HETREC_OLD_TAGS
    assert summary.tables["events"] == {"accepted": plays_and_tags, "duplicates": 0}
    assert {row["reason"] for row in quarantined(summary).values()} == {"timestamp before 1990"}

    events = store.events()
    plays = events.filter(pl.col("type") == "play").collect()
    assert plays.height == 92_834 and plays["user_id"].n_unique() == 1_892
    duran = plays.filter((pl.col("user_id") == "2") & (pl.col("item_id") == artist_id("Duran Duran")))
    assert duran.select("count", "item_kind", "ts").row(0) == (13_883, "artist", None)
    tags = events.filter(pl.col("type") == "tag").collect()
    first = tags.filter((pl.col("user_id") == "2") & (pl.col("item_id") == artist_id("Morcheeba")))
    assert "chillout" in first["tag"].to_list()
    assert first["ts"][0] == datetime(2009, 4, 1, tzinfo=UTC)
    french = tags.filter(pl.col("tag") == "rock français")  # tags.dat is latin-1
    assert french.height > 0 and "637" in french["user_id"].to_list()
    assert tags.filter(pl.col("item_id").str.starts_with("lfm2k-artist:")).height > 0  # not in artists.dat

    artists = store.entities("artists")
    royksopp = artists.filter(pl.col("artist_id") == artist_id("Röyksopp"))  # UTF-8 in this copy
    assert royksopp.select("name", "url").row(0) == ("Röyksopp", "http://www.last.fm/music/R%C3%B6yksopp")
    edges = store.scan("edges").collect()
    assert edges.filter((pl.col("src") == "2") & (pl.col("dst") == "275")).select("kind", "source").row(0) == (
        "friend",
        "lastfm-hetrec",
    )

    again = run_import(store, FORMATS["lastfm-hetrec"], shared_data / "lastfm-hetrec2011-2k")
    assert again.accepted == 0 and again.duplicates == summary.accepted and balanced(again)


@pytest.mark.realdata
def test_hetrec_single_file_resolves_siblings_and_prefixes_users(store, shared_data: Path) -> None:
    folder = shared_data / "lastfm-hetrec2011-2k"
    options = ReadOptions(user_prefix="lfm2k:")
    plays = run_import(store, FORMATS["lastfm-hetrec"], folder / "user_artists.dat.gz", options)
    friends = run_import(store, FORMATS["lastfm-hetrec"], folder / "user_friends.dat", options)

    assert (plays.read, plays.accepted, friends.read, friends.accepted) == (92_834, 92_834, 25_434, 25_434)
    events = store.events().collect()
    assert events["user_id"].str.starts_with("lfm2k:").all()
    assert events.filter(pl.col("item_id") == artist_id("Britney Spears")).height > 0
    edges = store.scan("edges").collect()
    assert edges["src"].str.starts_with("lfm2k:").all() and edges["dst"].str.starts_with("lfm2k:").all()
    assert store.count("artists") > 17_000  # the artists the plays name, as derived rows


@pytest.mark.realdata
def test_lastfm_1k_sample_and_profiles(store, shared_data: Path) -> None:
    summary = run_import(store, FORMATS["lastfm-1k"], shared_data / "lastfm-1k-sample")

    assert summary.files == 2
    assert (summary.read, summary.accepted, summary.quarantined) == (5_992, 5_992, 0)
    assert summary.tables["events"] == {"accepted": 5_000, "duplicates": 0}
    assert summary.tables["users"] == {"accepted": 992, "duplicates": 0}
    events = store.events().collect()
    assert events.group_by("user_id").len().sort("user_id").rows() == [("user_000001", 4_997), ("user_000002", 3)]
    first = events.filter(pl.col("ts") == datetime(2009, 5, 4, 23, 8, 57, tzinfo=UTC))
    assert first["item_id"].to_list() == [track_id("Deep Dish", "Fuck Me Im Famous (Pacha Ibiza)-09-28-2007")]
    assert first["artist_id"][0] == artist_id("Deep Dish")

    tracks = store.entities("tracks")
    quoted = tracks.filter(pl.col("track_id") == track_id('Johnny "Hammond" Smith', "Tell Me What To Do"))
    assert quoted.select("artist_name", "mbid").row(0) == (
        'Johnny "Hammond" Smith',
        "9383afaa-4f15-4871-8a33-553ba8dd5560",
    )
    artists = store.entities("artists")
    deep_dish = artists.filter(pl.col("artist_id") == artist_id("Deep Dish"))
    assert deep_dish["mbid"][0] == "f1b1cf71-bd35-4e99-8624-24a6e15f133a"

    users = store.entities("users")
    assert users.height == 992
    cols = ("gender", "age", "country", "signup_date")
    user_1 = users.filter(pl.col("user_id") == "user_000001").select(cols).row(0)
    assert user_1 == ("m", None, "Japan", date(2006, 8, 13))
    assert users.filter(pl.col("user_id") == "user_000003").select(cols).row(0) == (
        "m",
        22,
        "United States",
        date(2005, 10, 30),
    )

    again = run_import(store, FORMATS["lastfm-1k"], shared_data / "lastfm-1k-sample")
    assert (again.read, again.accepted, again.duplicates) == (5_992, 0, 5_992)


def _write(path: Path, lines: list[str], encoding: str = "utf-8") -> None:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def test_hetrec_malformed_lines_are_quarantined_with_reasons(store, tmp_path: Path) -> None:
    _write(
        tmp_path / "artists.dat",
        [
            "id\tname\turl\tpictureURL",
            "1\tCafé Tacvba\thttp://x/1\tp",
            "2\tBjörk\thttp://x/2\tp",
            "3\t\thttp://x/3\tp",
            "4\tToo\tMany\tFields\tHere",
        ],
        encoding="latin-1",
    )
    _write(tmp_path / "tags.dat", ["tagID\ttagValue", "1\trock français"], encoding="latin-1")
    _write(
        tmp_path / "user_artists.dat",
        [
            "userID\tartistID\tweight",
            "10\t1\t25",
            "10\t2\t7",
            "10\t99\t3",
            "11\t1\tlots",
            "\t2\t5",
            "11\t2",
            "11\t2\t0",
            "12\t1\t99999999999",
        ],
    )
    _write(
        tmp_path / "user_taggedartists.dat",
        [
            "userID\tartistID\ttagID\tday\tmonth\tyear",
            "10\t1\t1\t15\t3\t2009",
            "10\t2\t7\t1\t4\t2010",
            "10\t1\t1\t31\t2\t2009",
            "10\t1\t1\t1\t1\t1956",
            "x\t1\t1\t1\t1\t2009",
        ],
    )
    _write(tmp_path / "user_friends.dat", ["userID\tfriendID", "10\t11", "11\t10", "11", "11\tabc"])

    summary = run_import(store, FORMATS["lastfm-hetrec"], tmp_path, ReadOptions(user_prefix="t:"))

    assert (summary.files, summary.read, summary.accepted, summary.quarantined) == (4, 21, 9, 12)
    reasons = {key: row["reason"] for key, row in quarantined(summary).items()}
    assert reasons == {
        ("artists.dat", 4): "missing artist name",
        ("artists.dat", 5): "expected 4 tab-separated fields, found 5",
        ("user_artists.dat", 5): "weight is missing or not a whole number",
        ("user_artists.dat", 6): "userID is missing or not a whole number",
        ("user_artists.dat", 7): "expected 3 tab-separated fields, found 2",
        ("user_artists.dat", 8): "count must be at least 1",
        ("user_artists.dat", 9): "weight is too large",
        ("user_taggedartists.dat", 4): "day/month/year is not a valid date",
        ("user_taggedartists.dat", 5): "timestamp before 1990",
        ("user_taggedartists.dat", 6): "userID is missing or not a whole number",
        ("user_friends.dat", 4): "expected 2 tab-separated fields, found 1",
        ("user_friends.dat", 5): "friendID is missing or not a whole number",
    }
    assert quarantined(summary)[("user_artists.dat", 7)]["record"] == "11\t2"  # the raw line
    events = store.events().collect()
    assert set(events["user_id"]) == {"t:10"}
    assert set(events["item_id"]) == {artist_id("Café Tacvba"), artist_id("Björk"), "lfm2k-artist:99"}
    assert sorted(events["tag"].drop_nulls()) == ["lfm2k-tag:7", "rock français"]
    edges = store.scan("edges").collect().select("src", "dst").sort("src")
    assert edges.rows() == [("t:10", "t:11"), ("t:11", "t:10")]


def test_hetrec_unreadable_and_foreign_files(store, tmp_path: Path) -> None:
    broken = tmp_path / "user_artists.dat.gz"
    broken.write_bytes(b"this is not gzip")
    summary = run_import(store, FORMATS["lastfm-hetrec"], broken)
    (row,) = quarantined(summary).values()
    assert (summary.read, summary.quarantined, row["line"]) == (1, 1, None)
    assert str(row["reason"]).startswith("cannot read file")

    other = tmp_path / "other.dat"
    _write(other, ["a\tb", "1\t2"])
    summary = run_import(store, FORMATS["lastfm-hetrec"], other)
    (row,) = quarantined(summary).values()
    assert summary.read == 1 and str(row["reason"]).startswith("not a HetRec Last.fm-2k file")

    tags = tmp_path / "tags.dat"
    _write(tags, ["tagID\ttagValue", "1\trock"])
    with pytest.raises(ImportFormatError, match="tags.dat only names tags"):
        run_import(store, FORMATS["lastfm-hetrec"], tags)


def test_lastfm_1k_malformed_lines_are_quarantined_with_reasons(store, tmp_path: Path) -> None:
    _write(
        tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv",
        [
            "u1\t2009-05-04T23:08:57Z\tmb-a\tArtist \"Q\" One\tmb-t\tSong 'A'",
            "u1\t2009-05-04T23:10:00Z\t\tArtist Two\t\tSong B",
            "u1\t2009-05-04 23:12:00\t\tArtist Two\t\tSong B",
            "\t2009-05-04T23:14:00Z\t\tArtist Two\t\tSong B",
            "u1\t2009-05-04T23:16:00Z\tx\tArtist\ty",
            "u1\t2009-05-04T23:18:00Z\t\t\t\tSong C",
        ],
    )
    _write(
        tmp_path / "userid-profile.tsv",
        [
            "#id\tgender\tage\tcountry\tregistered",
            "u1\tm\t25\tNorway\tAug 13, 2006",
            "u2\tf\t\tPeru\t",
            "u3\tm\told\tChile\tFeb 24, 2006",
            "u4\tf\t30\tChile\t2006-02-24",
            "u5\tm\t30\tChile",
        ],
    )

    summary = run_import(store, FORMATS["lastfm-1k"], tmp_path)

    assert (summary.read, summary.accepted, summary.quarantined) == (11, 4, 7)
    reasons = {key: row["reason"] for key, row in quarantined(summary).items()}
    scrobbles = "userid-timestamp-artid-artname-traid-traname.tsv"
    assert reasons == {
        (scrobbles, 3): "timestamp is missing or not ISO-8601 UTC (YYYY-MM-DDTHH:MM:SSZ)",
        (scrobbles, 4): "missing user id",
        (scrobbles, 5): "expected 6 tab-separated fields, found 5",
        (scrobbles, 6): "missing artist or track name",
        ("userid-profile.tsv", 4): "age is not a whole number",
        ("userid-profile.tsv", 5): "registered is not a date like 'Aug 13, 2006'",
        ("userid-profile.tsv", 6): "expected 5 tab-separated fields, found 4",
    }
    events = store.events().collect()
    expected = [track_id('Artist "Q" One', "Song 'A'"), track_id("Artist Two", "Song B")]
    assert events["item_id"].to_list() == expected
    assert store.entities("tracks").filter(pl.col("mbid") == "mb-t")["name"].to_list() == ["Song 'A'"]
    users = store.entities("users").sort("user_id")
    rows = users.select("user_id", "age", "signup_date").rows()
    assert rows == [("u1", 25, date(2006, 8, 13)), ("u2", None, None)]


def test_lastfm_1k_gzip_and_not_this_format(store, tmp_path: Path) -> None:
    log = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv.gz"
    log.write_bytes(gzip.compress(b"u9\t2009-05-04T23:08:57Z\t\tA\t\tB\r\n"))
    summary = run_import(store, FORMATS["lastfm-1k"], log)
    assert (summary.read, summary.accepted) == (1, 1)

    csv = tmp_path / "userid-timestamp-artid-artname-traid-traname.csv.tsv"
    _write(csv, ["user,ts,artist,track", "u1,2009-05-04T23:08:57Z,A,B"])
    summary = run_import(store, FORMATS["lastfm-1k"], csv)
    (row,) = quarantined(summary).values()
    assert summary.read == 1 and row["line"] is None and str(row["reason"]).startswith("not this format")
