"""The operating loop: a sound candidate is promoted, a broken one refused, a bad promotion rolled back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from serving_support import copy_workspace, tm

from tastemaker.api import Workspace
from tastemaker.candidates import registry
from tastemaker.ingest.identity import row_ids
from tastemaker.loop.cycle import WatchConfig, _write_state, audit_log, cycle, watch, watched
from tastemaker.loop.gate import GateConfig, judge
from tastemaker.loop.metrics import p99_between
from tastemaker.store import conform


def _newest(ws: Workspace) -> datetime:
    return ws.store.events().filter(pl.col("type") != "impression").select(pl.col("ts").max()).collect().item()


def test_loop_once_promotes_a_sound_candidate_and_writes_down_why(trained: Path, tmp_path: Path) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    done = tm(ws, "loop", "--once", "--model", "als", "--holdout", "4", "--json")
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert (decision["action"], decision["version"], decision["live_before"]) == ("promoted", "v0002", "v0001")
    checks = decision["checks"]
    # v0001 learnt from the holdout; refit before the cut it would be this very candidate: nothing to compare
    assert checks["listeners"] >= 10 and checks["live_saw_test"] and checks["live_refit"].startswith("not needed")
    assert checks["quality"].startswith("not compared")
    assert checks["validity"]["short"] == 0 and checks["validity"]["heard_items"] == 0
    assert checks["latency_ms"]["p99"] <= 50 and checks["compacted"]["segments_after"] >= 1
    assert (ws / "models" / "als" / "LATEST").read_text().strip() == "v0002"
    meta = registry.describe(ws / "models", "als", "v0002")
    assert meta["gate"]["action"] == "promoted" and meta["data"]["until"]
    assert [d["action"] for d in audit_log(ws)] == ["promoted"]
    readable = tm(ws, "loop", "--once", "--model", "als", "--holdout", "4")  # v0002's data ends at the cut
    assert readable.returncode == 0 and "v0003: promoted" in readable.stdout and "NDCG@10" in readable.stdout
    judged = audit_log(ws)[-1]["checks"]
    assert not judged["live_saw_test"] and judged["quality"]["users"] == judged["listeners"]


def test_the_loop_stamps_a_simulated_time_and_the_live_version_keeps_its_data_clock(
        trained: Path, tmp_path: Path) -> None:
    ws = Workspace.open(copy_workspace(trained, tmp_path / "ws"))
    newest = registry.describe(ws.models_dir, "als", "v0001")["data"]["newest"]
    assert datetime.fromisoformat(newest) == _newest(ws)  # the data's clock: what the gate compares with the cut
    at = datetime(2030, 1, 1, tzinfo=UTC)
    same = cycle(ws, "als", timedelta(days=4), now=at)
    assert same.checks["live_saw_test"] and same.action == "promoted"
    assert same.at == "2030-01-01T00:00:00+00:00" and watched(ws.path)["promoted_at"] == at.isoformat()


def test_loop_judges_a_given_version_and_refuses_an_unknown_one(trained: Path, tmp_path: Path) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    mine = Workspace.open(ws).candidate("als", until=_newest(Workspace.open(ws)) - timedelta(days=4), factors=8)
    done = tm(ws, "loop", "--once", "--model", "als", "--holdout", "4", "--candidate", mine.version, "--json")
    decision = json.loads(done.stdout)
    assert decision["version"] == mine.version and decision["checks"]["trained"] == {"version": mine.version,
                                                                                    "given": True}
    # handed in, it is always compared: v0001 saw the holdout, so its configuration is refit before the cut
    assert decision["checks"]["live_refit"] is True and decision["checks"]["quality"]["users"] >= 10
    assert (ws / "models" / "als" / "LATEST").read_text().strip() == (
        mine.version if decision["action"] == "promoted" else "v0001")
    unknown = tm(ws, "loop", "--once", "--model", "als", "--candidate", "v0099")
    assert unknown.returncode != 0 and "no version 'v0099'" in unknown.stderr
    scheduled = tm(ws, "loop", "--model", "als", "--candidate", mine.version)
    assert scheduled.returncode != 0 and "--once" in scheduled.stderr


def test_the_gate_refuses_a_candidate_with_shuffled_factors_and_force_is_recorded(trained: Path, tmp_path: Path) -> None:
    ws = Workspace.open(copy_workspace(trained, tmp_path / "ws"))
    cut = _newest(ws) - timedelta(days=4)
    broken = ws.candidate("als", until=cut).version
    arrays = ws.models_dir / "als" / broken / "arrays.npz"
    with np.load(arrays) as held:
        saved = {k: held[k] for k in held.files}
    factors = saved["model.item_factors_"]
    saved["model.item_factors_"] = factors[np.random.default_rng(0).permutation(len(factors))]
    np.savez(arrays, **saved)

    verdict = judge(ws.store, ws.models_dir, "als", broken, "v0001", cut)
    assert not verdict.promote and verdict.reasons[0].startswith("quality: ndcg@10")
    assert verdict.checks["relative_drop"] > 0.05 and verdict.checks["quality"]["wilcoxon_p"] < 0.05
    assert (ws.models_dir / "als" / "LATEST").read_text().strip() == "v0001"  # judging promotes nothing
    tight = judge(ws.store, ws.models_dir, "als", broken, None, cut, GateConfig(latency_ms=0.001))
    assert not tight.promote and tight.reasons[0].startswith("latency: recommend p99")  # no live: no quality check


def _shown_and_played(at: datetime, user_prefix: str, lists: int, played_share: float) -> pl.DataFrame:
    """``lists`` for-you lists of 10 tracks shown at ``at``, the first track of ``played_share`` of them played."""
    rows = []
    for i in range(lists):
        user = f"{user_prefix}{i}"
        for position in range(1, 11):
            rows.append({"user_id": user, "ts": at, "type": "impression", "item_id": f"watch-t{position}",
                         "surface": "for-you", "session_id": f"{user_prefix}-r{i}", "position": position,
                         "reason_start": "model", "ms_played": None})
        if i < lists * played_share:
            rows.append({"user_id": user, "ts": at + timedelta(minutes=3), "type": "play", "item_id": "watch-t1",
                         "surface": None, "session_id": None, "position": None, "reason_start": None,
                         "ms_played": 200_000})
    frame = pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC"), "ms_played": pl.Int64,
                                                 "position": pl.Int32, "surface": pl.String,
                                                 "session_id": pl.String, "reason_start": pl.String})
    frame = frame.with_columns(pl.lit("test").alias("source"))
    return conform("events", frame).with_columns(row_ids(frame, ["user_id", "ts", "type", "item_id"]))


def test_a_promotion_whose_lists_stop_being_played_is_rolled_back(trained: Path, tmp_path: Path) -> None:
    ws = Workspace.open(copy_workspace(trained, tmp_path / "ws"))
    promoted = cycle(ws, "als", timedelta(days=4), compact=False)
    assert promoted.action == "promoted" and registry.live(ws.models_dir, "als") == "v0002"
    state = json.loads((ws.path / "loop" / "state.json").read_text())
    at = datetime.fromisoformat(state["promoted_at"])
    assert watch(ws).action == "watched"  # nothing served yet: nothing broke

    ws.store.append({"events": pl.concat([_shown_and_played(at - timedelta(minutes=30), "before", 80, 0.4),
                                          _shown_and_played(at + timedelta(minutes=1), "after", 80, 0.05)])})
    decision = watch(ws, WatchConfig(), now=at + timedelta(minutes=40))
    assert decision is not None and decision.action == "rolled_back"
    assert "for-you: play rate 0.005" in decision.reasons[0] and "0.040 before" in decision.reasons[0]
    assert registry.live(ws.models_dir, "als") == "v0001"
    assert registry.describe(ws.models_dir, "als", "v0002")["rolled_back"]["reasons"] == decision.reasons
    assert [d["action"] for d in audit_log(ws.path)] == ["promoted", "rolled_back"]
    assert watch(ws) is None  # the watch ended with the rollback

    _write_state(ws.path, {**state, "promoted_at": (at - timedelta(hours=7)).isoformat()})
    assert watch(ws) is None and not (ws.path / "loop" / "state.json").exists()  # past its window: it ends


def test_a_latency_regression_after_a_promotion_is_rolled_back(trained: Path, tmp_path: Path) -> None:
    then = {"0.01": 900.0, "0.05": 990.0, "0.25": 1000.0, "1.0": 1000.0, "+Inf": 1000.0}
    slow = {"0.01": 950.0, "0.05": 1045.0, "0.25": 1060.0, "1.0": 1200.0, "+Inf": 1200.0}
    assert p99_between(then, then) is None  # no request since: no p99
    assert 250 < p99_between(then, slow) <= 1000  # 200 requests, most of them between 0.25 and 1 s
    ws = Workspace.open(copy_workspace(trained, tmp_path / "ws"))
    snapshots = iter([then, slow])
    assert cycle(ws, "als", timedelta(days=4), compact=False, latency=lambda: next(snapshots)).action == "promoted"
    decision = watch(ws, latency=lambda: next(snapshots))
    assert decision is not None and decision.action == "rolled_back"
    assert decision.reasons[0].startswith("latency: p99") and registry.live(ws.models_dir, "als") == "v0001"
