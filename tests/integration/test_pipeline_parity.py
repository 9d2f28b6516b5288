"""The pipeline trained by `tastemaker train pipeline` is the model `serve` answers with by default, and the
HTTP server's list for a listener is the list the CLI computes offline from the same registry version and store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serving_support import Start, copy_workspace, tm

#: a quick pipeline (one setting per member, three members) with its ranker step
QUICK = ("--param", "max_grid=1", "--param", 'only=["history", "itemknn", "als"]', "--param", "candidates=50")


@pytest.fixture(scope="module")
def piped(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the trained workspace with a quick pipeline trained by the CLI, and its version."""
    ws = copy_workspace(trained, tmp_path_factory.mktemp("piped") / "ws")
    done = tm(ws, "train", "pipeline", *QUICK, "--json")
    assert done.returncode == 0, done.stderr
    return ws, json.loads(done.stdout)["version"]


def test_served_for_you_equals_the_offline_list_of_the_same_pipeline(piped: tuple[Path, str], start: Start) -> None:
    ws, version = piped
    shown = json.loads(tm(ws, "models", "show", "pipeline").stdout)
    assert shown["params"]["max_grid"] == 1 and shown["version"] == version
    assert set(shown["metrics"]["oof_ndcg@10"]) == {"best-single", "blend-zscore", "blend-rrf"}  # what it chose on
    assert shown["metrics"]["serving_members"] and "history" in shown["metrics"]["members"]
    server = start(ws)  # no --model: the pipeline, since it is trained
    users = [f"tm:user:{n:06d}" for n in (1, 7, 42)]
    for user in users:
        served = server.client.get(f"/v1/users/{user}/recommendations", params={"surface": "for-you", "n": 10})
        assert served.status_code == 200, served.text
        body = served.json()
        assert (body["served_by"]["model"], body["served_by"]["version"]) == ("pipeline", version), body["served_by"]
        offline = json.loads(tm(ws, "recommend", "--user", user, "-k", "10", "--json").stdout)
        assert offline["model"] == "pipeline"
        assert [i["item_id"] for i in body["items"]] == [i["item_id"] for i in offline["items"]], user


def test_the_pipelines_lists_give_reasons_by_name(piped: tuple[Path, str]) -> None:
    ws, _ = piped
    user = "tm:user:000007"
    weekly = json.loads(tm(ws, "playlist", "discover-weekly", "--user", user, "--json").stdout)["tracks"]
    mixes = json.loads(tm(ws, "playlist", "daily-mix", "--user", user, "--model", "pipeline", "--json").stdout)
    seed = weekly[0]["track_id"]
    radio = json.loads(tm(ws, "radio", "--seed", seed, "--model", "pipeline", "--json").stdout)["tracks"]
    mix_rows = [row for mix in mixes["mixes"] for row in mix["tracks"]] if "mixes" in mixes else mixes["tracks"]
    assert len(weekly) == 30 and mix_rows and len(radio) == 10
    for rows in (weekly, mix_rows, radio):
        reasons = [row["reason"] for row in rows]
        assert all(reasons) and not any("tm:" in r for r in reasons), reasons[:3]
    assert sum(r["reason"].startswith("because you played ") for r in weekly) >= 20  # a track named in each
