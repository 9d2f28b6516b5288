"""One turn of the operating loop, and the watch after a promotion.

:func:`cycle`: compact the store, train a candidate on everything but the newest ``holdout``, judge it
against the version in use on that holdout (``gate.py``), then promote it or keep the live version.
:func:`watch`: for ``window`` after a promotion, compare what the served lists lead to since then with
the same span before it, and the server's latency; when a guardrail breaks, point the registry back at
the version that was live before (the server swaps it in by itself).

Every decision goes to ``<workspace>/loop/audit.jsonl`` (one JSON object a line, synced) and into the
candidate's ``meta.json`` in the registry; ``<workspace>/loop/state.json`` holds the promotion being
watched.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.loop.gate import GateConfig, judge

FOLDER = "loop"


@dataclass
class Decision:
    """One entry of the audit log."""

    at: str
    model: str
    action: str  # promoted, forced, kept, rolled_back, failed
    version: str | None
    live_before: str | None
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """The guardrails after a promotion: how long it is watched, and what rolls it back."""

    window: timedelta = timedelta(hours=6)
    min_lists: int = 50
    max_play_drop: float = 0.3
    max_fallback_rate: float = 0.25
    latency_ms: float = 250.0


def audit_log(workspace: Path) -> list[dict[str, Any]]:
    """Every decision the loop recorded, oldest first."""
    path = workspace / FOLDER / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def record(workspace: Path, decision: Decision) -> None:
    """Append ``decision`` to the audit log, synced before it returns."""
    folder = workspace / FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / "audit.jsonl", "a") as handle:
        handle.write(json.dumps(asdict(decision), default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _write_state(workspace: Path, state: dict[str, Any] | None) -> None:
    path = workspace / FOLDER / "state.json"
    if state is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, default=str))
    os.replace(tmp, path)


def watched(workspace: Path) -> dict[str, Any] | None:
    """The promotion being watched (model, version, previous version, when, until when, latency then)."""
    path = workspace / FOLDER / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def cycle(ws: Any, model: str = "pipeline", holdout: timedelta = timedelta(days=1),
          config: GateConfig = GateConfig(), *, force: bool = False, compact: bool = True,
          latency: Any = None, candidate: str | None = None, now: datetime | None = None) -> Decision:
    """One turn: compact, train a candidate on everything before the newest ``holdout``, gate, promote or keep.

    ``ws``: a :class:`~tastemaker.api.Workspace`; ``force``: promote even when the gate refuses (recorded as
    ``forced``, with the gate's reasons); ``latency``: a callable returning the server's latency histogram now
    (``metrics.scrape``), kept with the promotion so :func:`watch` measures what came after it;
    ``candidate``: judge this registered version (trained elsewhere, on the listens before the newest
    ``holdout``) instead of training one; ``now``: the time the decision is stamped with and a promotion
    is watched from (default: the clock; a simulation passes its own).
    """
    from tastemaker.candidates import registry

    started = time.perf_counter()
    moment = now or datetime.now(UTC)
    now_text = moment.isoformat(timespec="seconds")
    store = ws.store
    checks: dict[str, Any] = {}
    if compact and hasattr(store, "compact"):
        done = store.compact("events")
        checks["compacted"] = {"segments_before": done.before, "segments_after": done.after}
    newest = (store.events().filter(pl.col("type") != "impression").select(pl.col("ts").max()).collect().item())
    live_before = registry.live(ws.models_dir, model)
    if newest is None:
        decision = Decision(now_text, model, "failed", None, live_before, ["the store has no listens"],
                            checks)
        record(ws.path, decision)
        return decision
    cut = newest - holdout
    # the live version's configuration on newer data (the registry keeps it): retraining, not re-tuning
    params = ({k: v for k, v in registry.describe(ws.models_dir, model, live_before).get("params", {}).items()
               if k != "model"} if live_before is not None else {})
    if candidate is None:
        trained = ws.candidate(model, until=cut, **params)
        version = trained.version
        checks["trained"] = {"version": version, "pairs": trained.pairs, "seconds": trained.seconds}
    else:
        version = registry.resolve(ws.models_dir, model, candidate).name  # ValueError names what exists
        checks["trained"] = {"version": version, "given": True}
    verdict = judge(store, ws.models_dir, model, version, live_before, cut, config, fresh=candidate is None)
    checks.update(verdict.checks)
    action = "promoted" if verdict.promote else ("forced" if force else "kept")
    if action != "kept":
        registry.promote(ws.models_dir, model, version)
        _write_state(ws.path, {"model": model, "version": version, "previous": live_before,
                               "promoted_at": moment.isoformat(),
                               "latency_then": latency() if latency is not None else None})
    registry.annotate(ws.models_dir, model, version, gate={"action": action, "reasons": verdict.reasons,
                                                           "checks": verdict.checks, "at": now_text})
    decision = Decision(now_text, model, action, version, live_before, verdict.reasons, checks,
                        round(time.perf_counter() - started, 2))
    record(ws.path, decision)
    return decision


def watch(ws: Any, config: WatchConfig = WatchConfig(), *, latency: Any = None,
          now: datetime | None = None) -> Decision | None:
    """Judge the promotion being watched (None when there is none, or its window has passed, which ends it).

    Rolls back, and says why, when since the promotion: a surface's play rate fell by more than
    ``max_play_drop`` against the same span before it (both with ``min_lists`` lists), a surface's fallback
    rate passed ``max_fallback_rate``, or the server's p99 passed ``latency_ms`` (``latency``: the histogram
    now, compared with the one kept at the promotion).
    """
    from tastemaker.candidates import registry
    from tastemaker.monitoring.quality import per_surface

    state = watched(ws.path)
    if state is None:
        return None
    now = now or datetime.now(UTC)
    promoted_at = datetime.fromisoformat(state["promoted_at"])
    if now - promoted_at > config.window:
        _write_state(ws.path, None)
        return None
    span = max(now - promoted_at, timedelta(minutes=1))
    events = ws.store.events()
    after = per_surface(events, promoted_at, now)
    before = per_surface(events, promoted_at - span, promoted_at)
    reasons: list[str] = []
    checks: dict[str, Any] = {"since": promoted_at.isoformat(), "surfaces": after.to_dicts()}
    joined = after.join(before.select("surface", pl.col("lists").alias("lists_before"),
                                      pl.col("play_rate").alias("play_rate_before")), on="surface", how="left")
    for row in joined.iter_rows(named=True):
        if row["lists"] < config.min_lists:
            continue
        if (row["lists_before"] or 0) >= config.min_lists and row["play_rate_before"]:
            drop = 1 - row["play_rate"] / row["play_rate_before"]
            if drop > config.max_play_drop:
                reasons.append(f"{row['surface']}: play rate {row['play_rate']:.3f} since the promotion against "
                               f"{row['play_rate_before']:.3f} before, {drop:.0%} lower (bound "
                               f"{config.max_play_drop:.0%})")
        if row["fallback_rate"] > config.max_fallback_rate:
            reasons.append(f"{row['surface']}: {row['fallback_rate']:.0%} of lists answered by a fallback "
                           f"(bound {config.max_fallback_rate:.0%})")
    if latency is not None and state.get("latency_then") is not None:
        from tastemaker.loop.metrics import p99_between

        p99 = p99_between(state["latency_then"], latency())
        checks["latency_p99_ms"] = p99
        if p99 is not None and p99 > config.latency_ms:
            reasons.append(f"latency: p99 {p99:.0f} ms since the promotion (bound {config.latency_ms:g} ms)")
    at = now.isoformat(timespec="seconds")
    if not reasons:
        return Decision(at, state["model"], "watched", state["version"], state["previous"], [], checks)
    model, previous = state["model"], state["previous"]
    if previous is None:
        reasons.append("nothing to roll back to: it was the first version")
        decision = Decision(at, model, "alarm", state["version"], previous, reasons, checks)
    else:
        registry.rollback(ws.models_dir, model, previous)
        registry.annotate(ws.models_dir, model, state["version"], rolled_back={"at": at, "reasons": reasons})
        decision = Decision(at, model, "rolled_back", state["version"], previous, reasons, checks)
    _write_state(ws.path, None)
    record(ws.path, decision)
    return decision
