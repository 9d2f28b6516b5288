"""Forgetting is final: the store refuses a forgotten listener's rows until they are unforgotten, and one
listener-id grammar holds at import, ingest and every route."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from tastemaker.domain import USER_ID_PATTERN
from tastemaker.ingest import ReadOptions, run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.store import open_store


def _events(user: str, first_id: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"row_id": list(range(first_id, first_id + n)), "user_id": [user] * n,
                         "item_id": [f"t{i}" for i in range(n)], "type": ["play"] * n,
                         "item_kind": ["track"] * n})


def test_a_forgotten_listeners_rows_are_refused_until_unforget_and_everyone_elses_kept(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    store.append({"events": pl.concat([_events("u1", 0, 5), _events("u2", 100, 5)])})
    store.forget_user("u1")
    again = store.append({"events": pl.concat([_events("u1", 0, 5), _events("u2", 200, 2)]),
                          "edges": pl.DataFrame({"row_id": [1, 2], "src": ["u2", "u3"], "dst": ["u1", "u2"],
                                                 "kind": ["friend", "friend"]})})
    assert (again["events"].accepted, again["events"].duplicates, again["events"].forgotten) == (2, 0, 5)
    assert (again["edges"].accepted, again["edges"].forgotten) == (1, 1)  # a row naming them anywhere
    assert store.events().filter(pl.col("user_id") == "u1").collect().is_empty()
    assert store.refused(["u1", "u2", "nobody"]) == {"u1"}
    forgot_at = store.forgotten_at("u1")
    assert store.unforget("u1") and not store.unforget("u1")  # lifted once; nothing left to lift
    assert store.refused(["u1"]) == set() and store.forgotten_at("u1") == forgot_at  # models before it still held them
    assert store.append({"events": _events("u1", 500, 2)})["events"].accepted == 2  # they came back
    store.forget_user("u1")
    assert store.append({"events": _events("u1", 600, 1)})["events"].forgotten == 1  # forgotten again


def test_an_import_counts_a_forgotten_listeners_records_and_keeps_them_nowhere(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    path = tmp_path / "listens.csv"
    path.write_text("user_id,item_id,ts,ms_played\nu1,s1,2024-01-01T10:00:00Z,200000\n"
                    "u2,s1,2024-01-01T11:00:00Z,200000\nu1,s2,2024-01-02T10:00:00Z,200000\n")
    run_import(store, FORMATS["table"], path, ReadOptions())
    store.forget_user("u1")
    again = run_import(store, FORMATS["table"], path, ReadOptions())
    assert (again.read, again.accepted, again.duplicates, again.quarantined, again.forgotten) == (3, 0, 1, 0, 2)
    assert store.events().filter(pl.col("user_id") == "u1").collect().is_empty()
    assert not list((tmp_path / "store" / "quarantine").glob("*.jsonl"))  # refused is not quarantined


@pytest.mark.parametrize(("user", "ok"), [("u1", True), ("tm:user:000001", True), ("me@example.com", True),
                                          ("Ana María", True), ("x" * 256, True), ("x" * 257, False),
                                          ("../../etc/passwd", False), ("a/b", False), (" a", False),
                                          ("a ", False), ("a\tb", False), ("a\nb", False), ("", False)])
def test_one_listener_id_grammar_at_import(tmp_path: Path, user: str, ok: bool) -> None:
    assert bool(re.fullmatch(USER_ID_PATTERN.strip("^$"), user)) is ok
    store = open_store(tmp_path / "store")
    path = tmp_path / "listens.jsonl"
    path.write_text(f'{{"user_id": {__import__("json").dumps(user)}, "item_id": "s1", "ts": 1704103200, '
                    '"ms_played": 200000}\n')
    summary = run_import(store, FORMATS["table"], path, ReadOptions())
    assert (summary.accepted, summary.quarantined) == ((1, 0) if ok else (0, 1))
    if not ok and user:
        reason = (tmp_path / "store" / "quarantine").glob("*.jsonl").__next__().read_text()
        assert "user id must be 1 to 256 characters" in reason
