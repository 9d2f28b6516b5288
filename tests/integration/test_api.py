"""The Python API as a notebook uses it: the README's example runs as written on a small generated world, its
frames carry names, and a list from the API is the list the command prints for the same workspace and model
version."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tastemaker

README = Path(__file__).resolve().parents[2] / "README.md"
USER = "tm:user:000001"


def tm(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(workspace), *args],
                          check=False, capture_output=True, text=True, timeout=300)


def readme_example() -> tuple[list[str], str]:
    """The README's "Python API" section: its shell commands and its Python block."""
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```bash\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert shell and python, "the README's Python API section needs a ```bash and a ```python block"
    return [line for line in shell.group(1).splitlines() if line.strip()], python.group(1)


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The README example run as written in a fresh folder: its shell lines, then its Python; the names it
    leaves behind (``ws``, ``weekly``, ...)."""
    folder = tmp_path_factory.mktemp("notebook")
    shell, python = readme_example()
    for line in shell:
        words = shlex.split(line.split("#", 1)[0])
        assert words[0] == "tastemaker", line
        done = subprocess.run([sys.executable, "-m", "tastemaker", *words[1:]], cwd=folder, check=False,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (line, done.stderr)
    names: dict[str, Any] = {}
    with contextlib.chdir(folder):
        exec(compile(python, str(README), "exec"), names)  # noqa: S102 -- the README's own code is the test
    ws = names["ws"]
    names["ws"] = tastemaker.Workspace.open(folder / ws.path)  # absolute: later tests run from elsewhere
    return names


def _named(frame: pl.DataFrame, *columns: str) -> None:
    """Every row has each of ``columns``, and none of them is an internal id."""
    for column in columns:
        values = frame[column]
        assert values.null_count() == 0, column
        assert not values.str.starts_with("tm:").any(), (column, values.head(3).to_list())


def test_the_readme_example_runs_and_gives_a_named_discover_weekly(notebook: dict[str, Any]) -> None:
    ws, trained, weekly = notebook["ws"], notebook["trained"], notebook["weekly"]
    assert isinstance(ws, tastemaker.Workspace) and trained.model == "pipeline"
    assert ws.models().filter(pl.col("model") == "pipeline", pl.col("latest"))["version"].to_list() == [trained.version]
    assert weekly.height == 30 and weekly["track_id"].n_unique() == 30
    _named(weekly, "name", "artist_name", "reason")
    assert weekly.group_by("artist_name").len()["len"].max() <= 2  # at most two per artist
    heard = set(ws.store.events().filter(pl.col("user_id") == USER).collect()["item_id"])
    assert not heard & set(weekly["track_id"])
    scores = notebook["scores"]
    assert scores["model"].to_list() == ["popularity", "als"]
    assert scores["users"].min() > 0 and scores["ndcg@10"].is_between(0.0, 1.0).all()
    assert scores.filter(pl.col("model") == "als")["ndcg@10"].item() > 0.0


def test_every_list_comes_back_as_a_frame_with_names(notebook: dict[str, Any]) -> None:
    ws = notebook["ws"]
    recs = ws.recommend(USER, k=5)
    assert recs["rank"].to_list() == [1, 2, 3, 4, 5]
    _named(recs, "name", "artist_name")
    mixes = ws.daily_mixes(USER)
    assert mixes.height and mixes["mix_name"].str.starts_with("Daily Mix").all()
    _named(mixes, "name", "artist_name", "reason")
    seed = recs["item_id"][0]
    queue = ws.radio(seed, k=5)
    assert queue.height == 5 and seed not in queue["item_id"].to_list()
    _named(queue, "name", "artist_name", "reason")
    like = ws.similar(seed, k=5)
    assert like.height == 5 and seed not in like["item_id"].to_list()
    _named(like, "name", "artist_name", "reason")
    artist = mixes["artist_id"][0]
    artists = ws.similar(artist=artist, k=3)
    assert artists.height == 3 and artist not in artists["artist_id"].to_list()
    _named(artists, "name", "reason")
    by_name = mixes.filter(pl.col("artist_id") == artist)["artist_name"][0]
    found = ws.search(by_name, kind="artist", limit=3)
    assert found["id"][0] == artist and found["exact"][0]
    assert ws.radio(artist=by_name, k=5)["item_id"].to_list() == ws.radio(artist=artist, k=5)["item_id"].to_list()
    assert ws.similar(artist=by_name, k=3)["artist_id"].to_list() == artists["artist_id"].to_list()
    with pytest.raises(ValueError, match="no artist is named"):
        ws.radio(artist="qqqq zzzz xxxx")
    page = ws.home(USER, cards=5)
    assert page["shelf"][0] == "made-for-you" and page["shelf"].n_unique() >= 3
    _named(page, "title", "reason")
    assert page.select("kind", "item_id").is_unique().all()


def test_the_api_and_the_command_give_the_same_lists(notebook: dict[str, Any]) -> None:
    ws = notebook["ws"]
    shown = json.loads(tm(ws.path, "models", "show", "pipeline").stdout)
    assert shown["version"] == notebook["trained"].version  # the same model version for both
    cli_weekly = json.loads(tm(ws.path, "playlist", "discover-weekly", "--user", USER, "--json").stdout)["tracks"]
    assert [t["track_id"] for t in cli_weekly] == ws.discover_weekly(USER)["track_id"].to_list()
    assert [t["reason"] for t in cli_weekly] == ws.discover_weekly(USER)["reason"].to_list()
    cli_recs = json.loads(tm(ws.path, "recommend", "--user", USER, "-k", "20", "--json").stdout)
    assert cli_recs["model"] == "pipeline"
    assert [i["item_id"] for i in cli_recs["items"]] == ws.recommend(USER, k=20)["item_id"].to_list()
    seed = cli_recs["items"][0]["item_id"]
    skipped = cli_recs["items"][1]["item_id"]
    cli_radio = json.loads(tm(ws.path, "radio", "--seed", seed, "--skipped", skipped, "--json").stdout)["tracks"]
    api_radio = ws.radio(seed, skipped=[skipped])
    assert [t["item_id"] for t in cli_radio] == api_radio["item_id"].to_list()
    cli_mixes = json.loads(tm(ws.path, "playlist", "daily-mix", "--user", USER, "--json").stdout)["mixes"]
    assert [t["item_id"] for m in cli_mixes for t in m["tracks"]] == ws.daily_mixes(USER)["item_id"].to_list()


def test_evaluate_split_is_the_commands_report(notebook: dict[str, Any], tmp_path: Path) -> None:
    ws = notebook["ws"]
    split = tmp_path / "split"
    assert tm(ws.path, "split", "temporal-user", "--out", str(split), "--json").returncode == 0
    done = tm(ws.path, "evaluate-split", str(split), "--model", "itemknn", "--param", "k=50", "--json")
    assert done.returncode == 0, done.stderr
    report = tastemaker.evaluate_split(split, "itemknn", {"k": 50})
    assert report["model"] == "itemknn" and report["protocol"] == "fixed" and report["metrics"]["ndcg@10"] > 0
    assert report["metrics"] == pytest.approx(json.loads(done.stdout)["metrics"])
