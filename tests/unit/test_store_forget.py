"""LakeStore.forget_user: a listener's rows leave every table, the quarantine and the disk; nothing else does."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tastemaker.store import open_store


def _events(user: str, first_id: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"row_id": list(range(first_id, first_id + n)), "user_id": [user] * n,
                         "item_id": [f"t{i}" for i in range(n)], "type": ["play"] * n,
                         "item_kind": ["track"] * n})


def _user(row_id: int, user: str, country: str) -> pl.DataFrame:
    return pl.DataFrame({"row_id": [row_id], "user_id": [user], "country": [country]})


def _store_with_two_listeners(root: Path):  # type: ignore[no-untyped-def]
    store = open_store(root)
    store.append({"events": pl.concat([_events("u1", 0, 5), _events("u2", 100, 5)]),
                  "users": pl.concat([_user(1000, "u1", "SE"), _user(1001, "u2", "NO")])})
    store.append({"events": _events("u2", 200, 3), "users": _user(1002, "u2", "DK"),
                  "edges": pl.DataFrame({"row_id": [1, 2], "src": ["u1", "u2"], "dst": ["u2", "u3"],
                                         "kind": ["friend", "friend"]})})
    store.append({"events": _events("u1", 300, 2)})
    for user in ("u1", "u2"):
        bad = pl.DataFrame({"file": ["f"], "line": [1], "reason": ["unknown event type"],
                            "record": [f'{{"user_id": "{user}", "type": "dance"}}']})
        store.write_quarantine("import-1", bad)
    return store


def test_forgetting_removes_the_listener_everywhere_and_keeps_everyone_else(tmp_path: Path) -> None:
    store = _store_with_two_listeners(tmp_path / "store")
    version = store.version()
    result = store.forget_user("u1")
    assert result.rows == {"events": 7, "users": 1, "edges": 1} and result.quarantined == 1
    assert result.version == version + 1 == store.version()
    events = store.events().collect()
    assert set(events["user_id"]) == {"u2"} and events.height == 8
    assert store.entities("users").select("user_id", "country").rows() == [("u2", "DK")]  # latest kept latest
    assert store.scan("edges").collect()["src"].to_list() == ["u2"]
    lines = (tmp_path / "store" / "quarantine" / "import-1.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '\\"u2\\"' in lines[0]
    on_disk = sorted((tmp_path / "store" / "segments").iterdir())
    listed = {s["file"] for segs in store.manifest()["tables"].values() for s in segs}  # type: ignore[union-attr]
    assert {p.name for p in on_disk} == listed  # the old segments are gone, not just unlisted
    for path in on_disk:
        frame = pl.read_parquet(path)
        names = [c for c in ("user_id", "src", "dst") if c in frame.columns]
        assert frame.filter(pl.any_horizontal([pl.col(c) == "u1" for c in names])).is_empty(), path.name


def test_a_forgotten_listener_has_a_tombstone_and_deduplication_still_holds(tmp_path: Path) -> None:
    store = _store_with_two_listeners(tmp_path / "store")
    assert store.forgotten_at("u1") is None
    version = store.forget_user("u1").version
    assert store.forgotten_at("u1") == version and store.forgotten_at("u2") is None
    assert "u1" not in (tmp_path / "store" / "forgotten.jsonl").read_text()  # a hash, not the id
    again = store.append({"events": pl.concat([_events("u2", 100, 5), _events("u2", 200, 3)])})["events"]
    assert (again.accepted, again.duplicates) == (0, 8)  # rewritten segments still de-duplicate
    reopened = open_store(tmp_path / "store")  # a new process: ids read from the rewritten files
    assert reopened.append({"events": _events("u2", 100, 5)})["events"].duplicates == 5
    assert reopened.forgotten_at("u1") == version


def test_forgetting_someone_the_store_never_saw_changes_nothing(tmp_path: Path) -> None:
    store = _store_with_two_listeners(tmp_path / "store")
    version, files = store.version(), sorted((tmp_path / "store" / "segments").iterdir())
    result = store.forget_user("nobody")
    assert result.rows == {"events": 0, "users": 0, "edges": 0} and result.quarantined == 0
    assert result.version == version == store.version()
    assert sorted((tmp_path / "store" / "segments").iterdir()) == files
    assert store.forgotten_at("nobody") == version
