"""Forgetting is final: after `tastemaker forget`, a re-import and a retrain, nothing of the listener is on
disk (every file of the workspace read) and nothing is personalised for them; re-sending is refused."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from serving_support import Start, tm

pytestmark = pytest.mark.slow

USER = "tm:user:000007"


def _json(done) -> dict:  # type: ignore[no-untyped-def]
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _naming(path: Path, needle: str) -> bool:
    """Whether ``path`` holds ``needle``: Parquet text columns, NumPy text arrays, gzip and plain bytes."""
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        return any(frame[c].cast(pl.String).str.contains(needle, literal=True).any()
                   for c in frame.columns if frame[c].dtype in (pl.String, pl.Categorical))
    if path.suffix in (".npz", ".npy"):
        arrays = np.load(path, allow_pickle=False)
        values = [arrays] if path.suffix == ".npy" else [arrays[k] for k in arrays.files]
        return any(a.dtype.kind in "US" and bool(np.char.find(a.astype(str), needle).max(initial=-1) >= 0)
                   for a in values)
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            data += b"".join(archive.read(n) for n in archive.namelist())
    return needle.encode() in data


def _files_naming(root: Path, needle: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and _naming(p, needle))


def test_after_forget_reimport_and_retrain_nothing_of_the_listener_is_anywhere(tmp_path: Path,
                                                                               start: Start) -> None:
    ws, world = tmp_path / "ws", tmp_path / "world"
    for args in (("generate", "--users", "60", "--tracks", "600", "--days", "10", "--out", str(world)),
                 ("import", "table", str(world)), ("train", "popularity"), ("train", "als"), ("train", "als"),
                 ("train", "ranker"),
                 ("playlist", "discover-weekly", "--all", "--model", "als",
                  "--out", str(ws / "playlists" / "discover-weekly"))):
        done = tm(ws, *args)
        assert done.returncode == 0, (args, done.stderr)
    before = _files_naming(ws, USER)
    assert any(f.startswith("store/segments/") for f in before) and any(f.startswith("models/als/v0001") for f in before)
    assert any(f.startswith("playlists/") for f in before)  # the scan finds them where they are

    erased = _json(tm(ws, "forget", USER, "--json"))
    assert erased["rows"]["events"] > 0 and erased["playlist_rows"] == 30
    assert "als/v0001" in erased["model_versions_removed"] and "als/v0002" in erased["model_versions_in_use"]
    left = _files_naming(ws, USER)
    assert left and all(f.startswith("models/") for f in left)  # only the versions in use, until retrained

    again = _json(tm(ws, "import", "table", str(world), "--json"))
    assert again["accepted"] == 0 and again["forgotten"] == sum(erased["rows"].values())  # re-import refused
    for model in ("popularity", "als", "ranker"):
        assert tm(ws, "train", model).returncode == 0
    assert _files_naming(ws, USER) == []  # every file of the workspace, read

    server = start(ws)
    sent = server.client.post("/v1/events", json={"events": [
        {"user_id": USER, "ts": "2024-06-01T10:00:00Z", "type": "play", "item_id": "tm:track:000001"},
        {"user_id": "tm:user:000008", "ts": "2024-06-01T10:00:00Z", "type": "play", "item_id": "tm:track:000001"}]})
    assert sent.json()["forgotten"] == 1 and sent.json()["accepted"] == 1  # re-sending is refused, counted
    served = server.client.get(f"/v1/users/{USER}/recommendations", params={"n": 5}).json()
    assert served["served_by"]["level"] == "popularity" and served["served_by"]["cause"] == "unknown_user"
    server.stop()  # a clean stop flushes the impression log: none may name them
    assert _files_naming(ws / "store", USER) == []

    assert "accepted again" in tm(ws, "unforget", USER).stdout
    assert _json(tm(ws, "import", "table", str(world), "--json"))["accepted"] == sum(erased["rows"].values())
