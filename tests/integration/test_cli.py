"""The `tastemaker` command as a user runs it: a real process, real files, JSON out, errors on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest


def tm(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(workspace), *args],
                          check=False, capture_output=True, text=True, timeout=300)


@pytest.mark.realdata
def test_import_stats_train_and_playlist_from_a_real_export(tmp_path: Path, shared_data: Path) -> None:
    ws = tmp_path / "ws"
    assert tm(ws, "init").returncode == 0
    raw = shared_data / "spotify-extended-streaming-history-sample" / "raw"
    done = tm(ws, "import", "spotify-extended", str(raw), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["read"] == 38_756 == summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    stats = json.loads(tm(ws, "stats", "--json").stdout)
    assert stats["events"] == summary["accepted"] and stats["users"] == 2
    assert stats["tracks"] > 1000 and stats["artists"] > 100
    assert tm(ws, "train", "popularity").returncode == 0
    recs = json.loads(tm(ws, "recommend", "--user", "e01", "-k", "5", "--json").stdout)
    assert len(recs["items"]) == 5
    playlist = json.loads(tm(ws, "playlist", "discover-weekly", "--user", "e01", "--json").stdout)
    tracks = playlist["tracks"]
    assert len(tracks) == 30 and all(t["reason"] for t in tracks)
    heard = tm(ws, "recommend", "--user", "e01", "-k", "500", "--json")
    assert heard.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "no-such-format", "."], "unknown format"),
        (["import", "table", "/does/not/exist"], "does not exist"),
        (["import", "table", ".", "--map", "nonsense"], "COLUMN=SOURCE_COLUMN"),
        (["recommend", "--user", "x"], "tastemaker train"),
        (["train", "no-such-model"], "unknown model"),
    ],
)
def test_errors_go_to_stderr_with_a_fix_and_a_non_zero_exit(tmp_path: Path, args: list[str], message: str) -> None:
    done = tm(tmp_path / "ws", *args)
    assert done.returncode != 0
    assert message in done.stderr and done.stdout == ""


def test_an_export_without_user_ids_asks_for_one(tmp_path: Path) -> None:
    export = tmp_path / "StreamingHistory0.json"
    export.write_text('[{"endTime": "2021-03-11 17:34", "artistName": "A", "trackName": "T", "msPlayed": 1}]')
    done = tm(tmp_path / "ws", "import", "spotify-account", str(export))
    assert done.returncode != 0 and "--user" in done.stderr
    ok = tm(tmp_path / "ws", "import", "spotify-account", str(export), "--user", "me", "--json")
    assert json.loads(ok.stdout)["accepted"] == 1


def test_demo_runs_the_whole_job_on_a_small_world(tmp_path: Path) -> None:
    done = tm(tmp_path / "ws", "demo", "--users", "300")
    assert done.returncode == 0, done.stderr
    for step in ("generate a listener world", "import it", "train the popularity baseline", "Discover Weekly for",
                 "offline evaluation", "ndcg@10", "popularity", "als"):
        assert step in done.stdout
    again = tm(tmp_path / "ws", "demo", "--users", "300")  # same seed, same files: the import adds nothing
    assert again.returncode == 0 and "accepted 0 " in again.stdout


@pytest.mark.realdata
def test_evaluate_split_scores_a_model_on_a_fixed_split_in_one_command(tmp_path: Path, shared_data: Path) -> None:
    split = shared_data / "benchmarks" / "ml100k-recbole"
    done = tm(tmp_path / "ws", "evaluate-split", str(split), "--model", "als", "--param", "factors=64",
              "--param", "regularization=30", "--param", "alpha=3", "--json")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)["metrics"]
    assert abs(metrics["ndcg@10"] - 0.3343) <= 0.002  # the peer's number for the same model and parameters
    bad = tm(tmp_path / "ws", "evaluate-split", str(split), "--model", "ease", "--param", "colour=red")
    assert bad.returncode != 0 and "colour" in bad.stderr


def test_models_are_versioned_and_roll_back_from_the_cli(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert tm(ws, "demo", "--users", "200").returncode == 0  # trains popularity and als v0001
    trained = json.loads(tm(ws, "train", "als", "--json").stdout)
    assert trained["version"] == "v0002"
    listed = json.loads(tm(ws, "models", "list", "--json").stdout)
    assert {(m["name"], m["version"]) for m in listed} >= {("als", "v0001"), ("als", "v0002"), ("popularity", "v0001")}
    assert all(m["data"]["store_version"] >= 1 and m["data"]["pairs"] > 0 for m in listed)
    assert tm(ws, "models", "rollback", "als", "v0001").returncode == 0
    assert json.loads(tm(ws, "models", "show", "als").stdout)["version"] == "v0001"
    missing = tm(ws, "models", "rollback", "als", "v0099")
    assert missing.returncode != 0 and "v0001, v0002" in missing.stderr


def test_every_model_trains_and_recommends_from_the_cli(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert tm(ws, "generate", "--users", "150", "--tracks", "2000", "--days", "20", "--json").returncode == 0
    assert tm(ws, "import", "table", str(ws / "world"), "--json").returncode == 0
    from tastemaker.candidates.catalogue import CATALOGUE

    models = [m for m in CATALOGUE if m != "pipeline"]  # the pipeline has a test of its own
    for model in models:
        trained = tm(ws, "train", model, "--json")
        assert trained.returncode == 0, (model, trained.stderr)
        recs = json.loads(tm(ws, "recommend", "--user", "tm:user:000001", "--model", model, "-k", "5", "--json").stdout)
        assert len(recs["items"]) == 5, model
    seed = json.loads(tm(ws, "recommend", "--user", "tm:user:000001", "--model", "als", "--json").stdout)["items"][0]
    queue = json.loads(tm(ws, "radio", "--seed", seed["item_id"], "--json").stdout)["tracks"]
    steered = json.loads(tm(ws, "radio", "--seed", seed["item_id"], "--skipped", queue[0]["item_id"], "--json").stdout)
    assert len(queue) == 10 and [t["item_id"] for t in steered["tracks"]] != [t["item_id"] for t in queue]
    evaluated = tm(ws, "evaluate", "--test-days", "5", *[a for m in models for a in ("--model", m)], "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    results = report["models"]
    assert report["protocol"] == "global" and not report["notes"]  # every generated listener shares one clock
    assert set(results) == set(models) and all(0.0 <= r["ndcg@10"] <= 1.0 for r in results.values())


@pytest.mark.realdata
def test_compare_reports_a_paired_test_between_two_models(tmp_path: Path, shared_data: Path) -> None:
    split = shared_data / "benchmarks" / "ml100k-recbole"
    done = tm(tmp_path / "ws", "compare", str(split), "--a", "popularity", "--b", "ease:l2=500", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["users"] == 943 and result["diff"] > 0.15 and result["ci_low"] > 0 and result["t_p"] < 1e-10


def test_daily_mix_home_and_similar_from_the_cli(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert tm(ws, "generate", "--users", "150", "--tracks", "2000", "--days", "30", "--json").returncode == 0
    assert tm(ws, "import", "table", str(ws / "world"), "--json").returncode == 0
    assert tm(ws, "train", "als").returncode == 0 and tm(ws, "train", "country").returncode == 0
    done = tm(ws, "playlist", "daily-mix", "--all", "--out", str(tmp_path / "mixes"), "--json")
    assert done.returncode == 0, done.stderr
    batch = json.loads(done.stdout)
    assert batch["mixes"] >= batch["users"] > 50
    rows = pl.read_parquet(tmp_path / "mixes" / "playlists.parquet")
    user = rows.group_by("user_id").len().sort("len", "user_id")["user_id"][-1].split(" / ")[0]
    mixes = json.loads(tm(ws, "playlist", "daily-mix", "--user", user, "--json").stdout)["mixes"]
    assert mixes and all(t["reason"] for m in mixes for t in m["tracks"])
    page = json.loads(tm(ws, "home", "--user", user, "--json").stdout)["shelves"]
    assert page[0]["shelf"] == "made-for-you" and len(page) >= 4
    cards = [(c["kind"], c["item_id"]) for s in page for c in s["cards"]]
    assert len(cards) == len(set(cards)) and all(c["reason"] for s in page for c in s["cards"])
    track = mixes[0]["tracks"][0]["item_id"]
    like = json.loads(tm(ws, "similar", "--track", track, "-k", "5", "--json").stdout)["similar"]
    assert len(like) == 5 and track not in [t["item_id"] for t in like]
    artist = mixes[0]["tracks"][0]["artist_id"]
    artists = json.loads(tm(ws, "similar", "--artist", artist, "-k", "3", "--json").stdout)["similar"]
    assert len(artists) == 3 and artist not in [a["artist_id"] for a in artists]
    unknown = tm(ws, "similar", "--track", "nope")  # neither an id nor a name: the closest names are listed
    assert unknown.returncode != 0 and "no track is named 'nope' (closest: " in unknown.stderr


@pytest.mark.realdata
def test_home_and_episodes_for_a_real_listener_with_podcasts(tmp_path: Path, shared_data: Path) -> None:
    ws = tmp_path / "ws"
    raw = shared_data / "spotify-extended-streaming-history-sample" / "raw"
    assert tm(ws, "import", "spotify-extended", str(raw)).returncode == 0
    assert tm(ws, "import", "podcasts", str(shared_data / "podcast-metadata")).returncode == 0
    assert tm(ws, "train", "als").returncode == 0
    done = tm(ws, "episodes", "--user", "e01", "-k", "10", "--json")
    assert done.returncode == 0, done.stderr
    shelf = json.loads(done.stdout)["episodes"]
    from tastemaker.store import open_store

    played = set(open_store(ws / "store").events().filter(pl.col("item_kind") == "episode")
                 .filter(pl.col("user_id") == "e01").collect()["item_id"])
    assert len(shelf) == 10 and played and not played & {e["item_id"] for e in shelf}
    page = json.loads(tm(ws, "home", "--user", "e01", "--json").stdout)["shelves"]
    keys = [s["shelf"] for s in page]
    assert keys[0] == "made-for-you" and "episodes" in keys and "recommended" in keys
    cards = [(c["kind"], c["item_id"]) for s in page for c in s["cards"]]
    assert len(cards) == len(set(cards))
