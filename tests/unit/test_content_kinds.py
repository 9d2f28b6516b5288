"""Content kinds: each rule's decision on small hand-built catalogues, the store round trip (decided at
import, re-decided when metadata arrives), music-only training data, the surfaces' guard and the CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tastemaker.candidates.data import TrainingData
from tastemaker.cli.main import app
from tastemaker.features.kinds import drop_not_music, music_events
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import artist_id, track_id
from tastemaker.ingest.kind_signals import KindRules, listening, show_key
from tastemaker.ingest.kinds import KindInputs, decide_kinds
from tastemaker.surfaces.discover_weekly import discover_weekly_batch

MIN = 60_000


def _tracks(rows: list[tuple[str, str]], uris: dict[str, str] | None = None) -> pl.DataFrame:
    """A tracks table of ``(artist, title)`` rows, ids as the importers make them."""
    uris = uris or {}
    return pl.DataFrame({
        "track_id": [track_id(a, t) for a, t in rows], "name": [t for _, t in rows],
        "artist_id": [artist_id(a) for a, _ in rows], "artist_name": [a for a, _ in rows],
        "uri": [uris.get(t) for _, t in rows]}, schema={c: pl.String for c in
                                                         ("track_id", "name", "artist_id", "artist_name", "uri")})


def _plays(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    """How the items of plays of ``(user, artist, title, ms_played)`` were listened to."""
    plays = pl.DataFrame({"user_id": [u for u, *_ in rows], "item_id": [track_id(a, t) for _, a, t, _ in rows],
                          "ms_played": [ms for *_, ms in rows]},
                         schema={"user_id": pl.String, "item_id": pl.String, "ms_played": pl.Int64})
    return listening(plays.lazy()).collect()


def _kinds(inputs: KindInputs) -> dict[tuple[str, str], tuple[str, str]]:
    """``(artist, title) -> (kind, rule)`` of every track of ``inputs``."""
    names = inputs.tracks.select(pl.col("track_id").alias("item_id"), "artist_name", "name")
    decided = decide_kinds(inputs).join(names, on="item_id")
    return {(a, t): (k, r) for a, t, k, r in decided.select("artist_name", "name", "content_kind",
                                                             "content_kind_rule").iter_rows()}


def _songs(artist: str, titles: list[str], users: int = 3,
           minutes: float = 3.5) -> list[tuple[str, str, str, int]]:
    """Each title played in full by ``users`` listeners, twice each."""
    return [(f"u{u}", artist, t, int(minutes * MIN)) for t in titles for u in range(users) for _ in range(2)]


def test_a_show_of_the_podcast_catalogue_is_a_podcast_and_a_band_of_the_same_name_stays_music() -> None:
    episodes = ["The Favorite Son", "Down the Back Staircase", "Under the Desert Sky"]
    songs = ["Night Vision", "Matrimony", "Needle And A Knife", "Origins", "Bad Girls"]
    tracks = _tracks([("Dateline NBC", t) for t in episodes] + [("Tennis", t) for t in songs])
    plays = _plays([("u1", "Dateline NBC", t, 40 * MIN) for t in episodes] + _songs("Tennis", songs))
    shows = pl.DataFrame({"name": ["Dateline NBC", "Tennis"]})
    kinds = _kinds(KindInputs(tracks, plays, shows=shows))
    listed = ("podcast", "evidence: show in the podcast catalogue")
    assert {kinds[("Dateline NBC", t)] for t in episodes} == {listed}
    assert {kinds[("Tennis", t)][0] for t in songs} == {"music"}


def test_numbered_and_named_episodes_of_a_show_no_catalogue_knows_are_podcasts() -> None:
    titles = ["Episode 163: Axe Murderers", "Ep. 49 - Contact", "#1742 - Jimmy Corsetti", "S01E33 - Stop Covid"]
    tracks = _tracks([("Unlisted Talk", t) for t in titles] + [("My Weekly Podcast", "Why we started")])
    plays = _plays([("u1", "Unlisted Talk", t, 2 * MIN) for t in titles] + [("u1", "My Weekly Podcast",
                                                                              "Why we started", MIN)])
    kinds = _kinds(KindInputs(tracks, plays))
    assert {kinds[("Unlisted Talk", t)][0] for t in titles} == {"podcast"}
    assert kinds[("My Weekly Podcast", "Why we started")] == ("podcast", "evidence: show name says podcast")


def test_numbered_song_titles_of_a_band_played_again_and_again_stay_music() -> None:
    titles = ["Untitled #4", "Skit #1", "Mambo No. 5", "Season 2 Episode 3", "Neighborhood #3 (Power Out)",
              "Wake Up", "Intervention"]
    tracks = _tracks([("Arcade Band", t) for t in titles])
    kinds = _kinds(KindInputs(tracks, _plays(_songs("Arcade Band", titles))))
    assert {kinds[("Arcade Band", t)][0] for t in titles} == {"music"}


def test_long_plays_of_many_titles_make_a_show_but_one_long_play_only_keeps_a_track_off_music() -> None:
    shows = [f"Conversation with guest {i}" for i in range(6)]
    tracks = _tracks([("Quiet Talks", t) for t in shows] + [("Drone Artist", "The Lonely Now")])
    plays = _plays([("u1", "Quiet Talks", t, 45 * MIN) for t in shows] + [("u2", "Drone Artist", "The Lonely Now",
                                                                           30 * MIN)])
    kinds = _kinds(KindInputs(tracks, plays))
    assert {kinds[("Quiet Talks", t)] for t in shows} == {("podcast", "evidence: long plays of its titles")}
    assert kinds[("Drone Artist", "The Lonely Now")][0] == "unknown"


def test_earlier_rules_win_export_fields_catalogue_episodes_track_uris_and_missing_names() -> None:
    rows = [("Crime Junkie", "MURDERED: Rosie Tapia"), ("Crime Junkie", "Busted"),
            ("Unknown Artist", "Unknown Track"), ("Quiet Show", "Welcome")]
    tracks = _tracks(rows, uris={"Busted": "spotify:track:4uLU6hMCjMI75M1A2tKUQC"})
    shows = pl.DataFrame({"name": ["Crime Junkie"]})
    episodes = pl.DataFrame({"show_name": ["Quiet Show"], "name": ["Welcome"]})
    spoken = pl.DataFrame({"item_id": ["ep:1", "ab:2"], "item_kind": ["episode", "audiobook"]})
    decided = decide_kinds(KindInputs(tracks, _plays([]), spoken, shows, episodes))
    by_id = {i: (k, r) for i, k, r, _ in decided.iter_rows()}
    assert by_id["ep:1"] == ("podcast", "export episode field")
    assert by_id["ab:2"] == ("audiobook", "export audiobook field")
    assert by_id[track_id("Crime Junkie", "Busted")] == ("music", "music catalogue")
    # a name the music catalogue knows is a music artist's, even where a show has the same name
    assert by_id[track_id("Crime Junkie", "MURDERED: Rosie Tapia")] == ("music", "no spoken-word evidence")
    assert by_id[track_id("Unknown Artist", "Unknown Track")] == ("unknown", "no names")
    assert by_id[track_id("Quiet Show", "Welcome")] == ("podcast", "podcast catalogue episode")
    assert decided.height == len(rows) + 2


def test_show_names_match_without_case_punctuation_or_spacing() -> None:
    keys = pl.DataFrame({"n": ["The Journal.", "the  journal", "THE JOURNAL"]}).select(show_key(pl.col("n")))
    assert keys["n"].unique().to_list() == ["the journal"]


def test_rules_refuse_thresholds_out_of_order() -> None:
    with pytest.raises(ValueError, match="unknown_at"):
        KindRules(podcast_at=1.0, unknown_at=2.0)
    with pytest.raises(ValueError, match="long_ms"):
        KindRules(long_ms=0)


def _account_export(folder: Path, user: str, rows: list[tuple[str, str, int]]) -> Path:
    """An account-data export (``StreamingHistory0.json.gz``) of ``(artist, title, ms)`` plays for ``user``."""
    path = folder / user / "StreamingHistory0.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [{"endTime": f"2021-03-{1 + i % 27:02d} 10:{i % 60:02d}", "artistName": a, "trackName": t,
                "msPlayed": ms} for i, (a, t, ms) in enumerate(rows)]
    path.write_bytes(gzip.compress(json.dumps(records).encode()))
    return folder


def _shows_csv(path: Path, names: list[str]) -> Path:
    """A podcast-metadata shows-by-category CSV naming ``names``."""
    pl.DataFrame({"Parent_Category": "Educational", "Category": "education", "Podcast_Name": names,
                  "Description": "talk", "Publisher": "p", "Episode_Count": "10",
                  "ID": [f"id{i}" for i in range(len(names))], "Cover_URL": ""}).write_csv(path)
    return path


SONGS = ["Hey Jude", "Let It Be", "Yesterday", "Help!", "Something", "Come Together"]


def _listening(tmp_path: Path) -> Path:
    """Three listeners of a band; one also plays three episodes of a show named nowhere as a show."""
    raw = tmp_path / "raw"
    for user in ("a", "b", "c"):
        _account_export(raw, user, [("The Band", s, 200_000) for s in SONGS for _ in range(2)]
                        + ([("Morning Chat", t, 300_000) for t in ("Monday", "Tuesday", "Wednesday")]
                           if user == "a" else []))
    return raw


def test_import_decides_kinds_and_a_later_metadata_import_re_decides_them(store, tmp_path: Path) -> None:
    summary = run_import(store, FORMATS["spotify-account"], _listening(tmp_path))
    assert summary.kinds == {"music": 9}
    _shows_csv(tmp_path / "podcasts_shows.csv", ["Morning Chat"])
    later = run_import(store, FORMATS["podcasts"], tmp_path / "podcasts_shows.csv")
    assert later.kinds == {"music": 6, "podcast": 3}
    tracks = store.entities("tracks")
    chat = tracks.filter(pl.col("artist_name") == "Morning Chat")
    assert chat["content_kind"].to_list() == ["podcast"] * 3
    assert set(chat["content_kind_rule"]) == {"evidence: show in the podcast catalogue"}


def test_music_models_learn_no_podcast_and_discover_weekly_shows_none(store, tmp_path: Path) -> None:
    run_import(store, FORMATS["spotify-account"], _listening(tmp_path))
    run_import(store, FORMATS["podcasts"], _shows_csv(tmp_path / "podcasts_shows.csv", ["Morning Chat"]))
    chat = {track_id("Morning Chat", t) for t in ("Monday", "Tuesday", "Wednesday")}
    assert chat.isdisjoint(TrainingData.from_store(store).interactions["item_id"])
    assert chat <= set(TrainingData.from_store(store, music_only=False).interactions["item_id"])
    assert chat.isdisjoint(music_events(store).collect()["item_id"])

    class EveryTrack:
        """A model trained before the decision: it ranks every stored track, episodes first."""

        name = "stale"

        def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
            ids = sorted(chat) + [track_id("The Band", s) for s in SONGS]
            return pl.DataFrame([(u, i, float(-r), r + 1) for u in user_ids for r, i in enumerate(ids)],
                                schema=["user_id", "item_id", "score", "rank"], orient="row")

        def item_vectors(self) -> None:
            return None

    lists = discover_weekly_batch(EveryTrack(), ["b"], pl.DataFrame(schema={"user_id": pl.String,
                                                                             "item_id": pl.String}),
                                  store.entities("tracks"), size=5)
    assert lists.height and chat.isdisjoint(lists["track_id"])


def test_drop_not_music_keeps_order_and_leaves_undecided_catalogues_alone() -> None:
    tracks = pl.DataFrame({"track_id": ["t1", "t2", "t3"], "content_kind": ["music", "podcast", None]})
    rows = pl.DataFrame({"item_id": ["t3", "t2", "t1", "t9"], "score": [4.0, 3.0, 2.0, 1.0]})
    assert drop_not_music(rows, tracks)["item_id"].to_list() == ["t3", "t1", "t9"]
    assert drop_not_music(rows, tracks.drop("content_kind")).equals(rows)


def test_cli_catalogue_kinds_re_decides_and_counts(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    runner = CliRunner()
    imported = runner.invoke(app, ["--workspace", str(workspace), "import", "spotify-account",
                                   str(_listening(tmp_path)), "--json"])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(app, ["--workspace", str(workspace), "catalogue", "kinds", "--show", "music", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["kinds"] == {"music": 9} and answer["changed"] == 0
    assert answer["artists"][0] == {"artist": "The Band", "tracks": 6, "example": "Come Together"}
    bad = runner.invoke(app, ["--workspace", str(workspace), "catalogue", "kinds", "--show", "jazz"])
    assert bad.exit_code != 0 and "--show" in bad.output


def test_the_servers_catalog_keeps_a_listeners_music_only(store, tmp_path: Path) -> None:
    from tastemaker.engine.catalog import Catalog
    from tastemaker.engine.state import ListeningState

    run_import(store, FORMATS["spotify-account"], _listening(tmp_path))
    run_import(store, FORMATS["podcasts"], _shows_csv(tmp_path / "podcasts_shows.csv", ["Morning Chat"]))
    history = ListeningState.load(store).get("a").history  # what Daily Mixes and reasons are seeded from
    chat = {track_id("Morning Chat", t) for t in ("Monday", "Tuesday", "Wednesday")}
    assert chat <= set(history["item_id"])
    music = Catalog.from_store(store).music(history)
    assert set(music["item_id"]) == set(history["item_id"]) - chat
    assert Catalog(pl.DataFrame()).music(history).equals(history)  # no catalog: nothing to decide with
