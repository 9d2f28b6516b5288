"""The model registry: numbered versions, atomic LATEST, rollback, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tastemaker.candidates.registry import catalogue, describe, register, resolve, rollback


class Tiny:
    def __init__(self, value: int) -> None:
        self.value = value

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": "tiny", "value": self.value}))


def test_versions_count_up_and_the_latest_is_used_until_rolled_back(tmp_path: Path) -> None:
    data = {"store_version": 3, "pairs": 10}
    assert register(tmp_path, "tiny", Tiny(1), data) == "v0001"
    assert register(tmp_path, "tiny", Tiny(2), data, {"ndcg@10": 0.1}) == "v0002"
    assert resolve(tmp_path, "tiny").name == "v0002"
    meta = describe(tmp_path, "tiny")
    assert meta["params"]["value"] == 2 and meta["metrics"] == {"ndcg@10": 0.1} and meta["data"] == data
    rollback(tmp_path, "tiny", "v0001")
    assert resolve(tmp_path, "tiny").name == "v0001" and describe(tmp_path, "tiny")["params"]["value"] == 1
    assert [(m["version"], m["latest"]) for m in catalogue(tmp_path)] == [("v0001", True), ("v0002", False)]


def test_missing_models_and_versions_say_what_exists(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tastemaker train tiny"):
        resolve(tmp_path, "tiny")
    register(tmp_path, "tiny", Tiny(1), {})
    with pytest.raises(ValueError, match="versions: v0001"):
        rollback(tmp_path, "tiny", "v0007")
    assert catalogue(tmp_path / "nowhere") == []
