"""The pipeline trained by `tastemaker train pipeline` is the model `serve` answers with by default, and the
HTTP server's list for a listener is the list the CLI computes offline from the same registry version and store."""

from __future__ import annotations

import json
from pathlib import Path

from serving_support import Start, copy_workspace, tm

#: a quick pipeline (one setting per member, three members) with its ranker step
QUICK = ("--param", "max_grid=1", "--param", 'only=["history", "itemknn", "als"]', "--param", "candidates=50")


def test_served_for_you_equals_the_offline_list_of_the_same_pipeline(trained: Path, tmp_path: Path,
                                                                    start: Start) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    done = tm(ws, "train", "pipeline", *QUICK, "--json")
    assert done.returncode == 0, done.stderr
    version = json.loads(done.stdout)["version"]
    shown = json.loads(tm(ws, "models", "show", "pipeline").stdout)
    assert shown["params"]["max_grid"] == 1 and shown["version"] == version
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
