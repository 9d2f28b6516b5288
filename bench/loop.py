"""The operating loop, proven in the listener world: weeks of listening served by the serving runtime, watched
by monitoring every day, retrained, gated, promoted and rolled back by the loop.

    python bench/loop.py              # the four scenarios (about 25 minutes on 2 cores)
    python bench/loop.py --quick      # a smaller world and fewer weeks, for a look

One world (:class:`~tastemaker.simulate.World`, 28 days of history) is imported into a workspace and ALS
and popularity are trained on it, as ``tastemaker import`` and ``tastemaker train`` do, and 28 days are
served the way the scenarios' days are (so the monitor's reference window is served listening too). Each
scenario then runs on its own copy, day after day:

1. 35 % of the active listeners (:data:`OPEN_SHARE`) open their for-you list. The serving runtime answers
   (the server's :class:`~tastemaker.serving.runtime.Runtime`: its snapshot's recommendation service,
   hot-swapped by its :class:`~tastemaker.serving.reload.Reloader` when the registry moves); each answer is
   timed into the server's own latency histogram and logged as impressions (``impression_rows``, stamped
   with the simulated time);
2. the world's listeners respond (``World.respond``) and listen on their own (``World.step_day``); the
   events go through the server's ingest path (``simulate.loop.post_events``);
3. at the end of the day: ``tastemaker monitor`` (``monitoring.report.run`` at the simulated time),
   the loop's watch of a promotion (``loop.cycle.watch``), and on the loop's cadence (weekly) a cycle
   (``loop.cycle.cycle``): compact, train a candidate on all but the newest day, gate it against the live
   version, promote or keep.

Scenarios: (a) no change for five weeks; (b) a third of the listeners turn to other genres and a wave of
new albums comes out on day 10, run once with the weekly loop and once with an oracle that retrains every
day; (c) a candidate with shuffled item factors at the first cycle: refused by the gate, then forced live
and watched; (d) a version that answers one request in 25 after a 300 ms wait (a slow dependency) goes
live at the second cycle and is watched. Writes ``bench/results/loop.json``, ``docs/loop.png`` and the
*Operating loop* table of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from doc_section import replace_section  # noqa: E402

from tastemaker.api import Workspace  # noqa: E402
from tastemaker.engine.precomputed import PARQUET, PRECOMPUTED_DIR  # noqa: E402
from tastemaker.engine.snapshot import Sources  # noqa: E402
from tastemaker.engine.state import ListeningState  # noqa: E402
from tastemaker.loop.cycle import WatchConfig, cycle, watch  # noqa: E402
from tastemaker.loop.metrics import buckets  # noqa: E402
from tastemaker.monitoring.drift import SIGNALS  # noqa: E402
from tastemaker.monitoring.report import run as monitor  # noqa: E402
from tastemaker.serving.impressions import ImpressionLog, Shown, impression_rows  # noqa: E402
from tastemaker.serving.metrics import Metrics  # noqa: E402
from tastemaker.serving.reload import Reloader  # noqa: E402
from tastemaker.serving.runtime import Runtime  # noqa: E402
from tastemaker.simulate import World, WorldConfig, write_world  # noqa: E402
from tastemaker.simulate.exposure import day_start_ms, exposure_log, response_events  # noqa: E402
from tastemaker.simulate.loop import post_events  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "loop.json"
PLOT = ROOT / "docs" / "loop.png"
DOC = ROOT / "docs" / "benchmarks.md"

MODEL = "als"
LIST = 15
ROUTE = "/v1/users/{user_id}/recommendations"
#: the share of albums held back for scenario (b)'s wave (never released in the other scenarios)
WAVE_SHARE = 0.04
#: the share of listeners whose taste turns in scenario (b)
SHIFT_SHARE = 0.3
#: the slow version of scenario (d): one request in SLOW_EVERY waits SLOW_S first
SLOW_EVERY, SLOW_S = 25, 0.3
#: the share of active listeners who open their for-you list on a day (the rest listen on their own only)
OPEN_SHARE = 0.35
#: the watch's window in simulated time: the lists of the day after a promotion
WATCH = WatchConfig(window=timedelta(days=1))
_RESPONSES = 0x100F


@dataclass
class Scenario:
    name: str
    days: int
    cadence: int = 7  # days between two cycles (1: the oracle's daily retraining, without a gate)
    oracle: bool = False
    shift_day: int | None = None
    broken_day: int | None = None
    slow_day: int | None = None


@dataclass
class Day:
    day: int
    lists: int
    listeners: int
    minutes_per_listener: float
    play_rate: float
    failed: int
    fallbacks: int
    p99_ms: float
    live: str | None
    alerts: list[str] = field(default_factory=list)
    alert_messages: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class Operated:
    """One scenario's world and workspace, served by the serving runtime and operated by the loop."""

    def __init__(self, world: World, folder: Path) -> None:
        self.world = world
        self.ws = Workspace.open(folder)
        store = self.ws.store
        self.metrics = Metrics()
        self.sources = Sources(self.ws.models_dir, MODEL, "popularity", folder / PRECOMPUTED_DIR / PARQUET,
                               ranker=None)
        self.state = ListeningState.load(store)
        self.runtime = Runtime(store, self.metrics, ImpressionLog(store, self.metrics),
                               self.sources.build(store, self.state))
        self.reloader = Reloader(self.runtime, store, self.sources)
        self.slow: set[str] = set()
        self.requests = 0

    def latency(self) -> dict[str, float]:
        """The server's latency histogram now, as ``tastemaker loop --server`` scrapes it."""
        return buckets(self.metrics.exposition().decode())

    def live(self) -> str | None:
        return self.runtime.snapshot.models.personal.version

    def answer(self, user_id: str) -> tuple[Any | None, float]:
        """One for-you request, timed into the server's histogram; (None, seconds) when it failed."""
        started = time.perf_counter()
        snapshot = self.runtime.snapshot  # a request takes the snapshot once, as a route does
        try:
            served = snapshot.recommendations.recommend(user_id, "for-you", LIST)
        except Exception:  # a failed request: what the acceptance counts
            served = None
        self.requests += 1
        if snapshot.models.personal.version in self.slow and self.requests % SLOW_EVERY == 0:
            time.sleep(SLOW_S)
        elapsed = time.perf_counter() - started
        self.metrics.latency.labels("GET", ROUTE).observe(elapsed)
        return served, elapsed

    def swap(self) -> dict[str, Any]:
        """The reloader's check (the server runs it every few seconds), with requests answered meanwhile."""
        users = self.world.listeners.ids.to_pylist()
        done, result, answered, failed = threading.Event(), {}, 0, 0

        def check() -> None:
            result["reloaded"] = self.reloader.check()
            done.set()

        thread = threading.Thread(target=check)
        thread.start()
        rng = np.random.default_rng(len(users))
        while not done.is_set():
            served, _ = self.answer(users[int(rng.integers(len(users)))])
            answered += 1
            failed += served is None or served.cause == "error"
        thread.join()
        return {"changed": result["reloaded"].changed, "serving": self.live(),
                "requests_during_swap": answered, "failed_during_swap": failed}

    def one_day(self) -> Day:
        """Serve, respond, listen, ingest: the world's current day."""
        started, world = time.perf_counter(), self.world
        day = world.day
        opened = datetime.fromtimestamp(day_start_ms(world, day) / 1000, UTC) + timedelta(hours=6, minutes=59)
        active = (world.listeners.signup_day <= day) & (world.state.churn_day > day)
        rng = np.random.default_rng([world.config.seed, _RESPONSES, day])
        opens = active & (rng.random(active.size) < OPEN_SHARE)  # who opens for-you today
        users = world.listeners.ids.take(np.flatnonzero(opens)).to_pylist()
        shown, grid, levels, failed, fallbacks, times = [], [], [], 0, 0, []
        for user in users:
            served, elapsed = self.answer(user)
            times.append(elapsed)
            if served is None or served.cause == "error":
                failed += 1
            if served is None:
                grid.append([None] * LIST)
                levels.append("failed")
                continue
            fallbacks += served.level != "model"
            items = served.items[:LIST]
            shown.append(Shown(f"sim-{day}-{user}", user, "for-you", served.level, served.model,
                               served.version, served.cause, items, opened))
            grid.append([i["item_id"] for i in items] + [None] * (LIST - len(items)))
            levels.append(served.level)
        lists = np.array(grid, dtype=object).reshape(len(users), LIST)
        outcomes = world.respond(users, np.where(lists == None, "", lists), day, rng)  # noqa: E711
        log = exposure_log(world, day, users, ["live"] * len(users), levels, lists, outcomes)
        heard = response_events(world, day, log, "for-you", rng)
        organic = pl.from_arrow(world.step_day())
        assert isinstance(organic, pl.DataFrame)
        organic = organic.with_columns(pl.col("ts").dt.epoch("ms"))
        impressions = impression_rows(shown)
        self.ws.store.append({"events": impressions})  # what the server's impression log writes
        self.state.add_shown(impressions)
        post_events(self.ws.store, self.state, pl.concat([heard, organic], how="diagonal_relaxed"),
                    f"sim-{day}")
        minutes = log["ms_played"].sum() / 60_000
        return Day(day, len(shown), len(users), round(minutes / max(len(users), 1), 3),  # per listener served
                   round(float(log["played"].mean()), 4) if log.height else 0.0, failed, fallbacks,
                   round(float(np.percentile(times, 99)) * 1000, 1) if times else 0.0, self.live(),
                   seconds=round(time.perf_counter() - started, 1))


def build_base(config: WorldConfig, folder: Path, als: dict[str, Any], burn_in: int) -> None:
    """The world's history imported and the models trained, then ``burn_in`` days served as every scenario's
    days are (no monitoring, no loop) and the model retrained: so the monitor's reference window is a
    served one, like the days it is compared with. Once for every scenario; the world is kept pickled."""
    world = World(config)
    wave = world.hold_back(WAVE_SHARE)
    write_world(world, folder / "world", "parquet")
    ws = Workspace.create(folder / "ws")
    ws.import_(folder / "world", "table")
    ws.train("popularity")
    ws.train(MODEL, **als)
    op = Operated(world, folder / "ws")
    for d in range(1, burn_in + 1):
        op.one_day()
        if d % 7 == 0:
            ws.train(MODEL, **als)
            op.swap()
    ws.train("popularity")
    ws.train(MODEL, **als)
    (folder / "world.pickle").write_bytes(pickle.dumps((world, wave)))


def _shuffle_factors(ws: Workspace, version: str) -> None:
    """Break ``version``: its item factors permuted (every track gets another's vector)."""
    arrays = ws.models_dir / MODEL / version / "arrays.npz"
    with np.load(arrays) as held:
        saved = {k: held[k] for k in held.files}
    factors = saved["model.item_factors_"]
    saved["model.item_factors_"] = factors[np.random.default_rng(0).permutation(len(factors))]
    np.savez(arrays, **saved)


def run(scenario: Scenario, base: Path, scratch: Path, als: dict[str, Any],
        reference: timedelta) -> dict[str, Any]:
    folder = scratch / scenario.name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base / "ws", folder)
    world, wave = pickle.loads((base / "world.pickle").read_bytes())
    op = Operated(world, folder)
    days: list[Day] = []
    began = time.perf_counter()
    for d in range(1, scenario.days + 1):
        notes: list[dict[str, Any]] = []
        if scenario.shift_day == d:
            notes.append({"event": "taste shift and new releases",
                          "listeners_shifted": int(op.world.shift_taste(SHIFT_SHARE).size),
                          "tracks_released": op.world.release(wave)})
        today = op.one_day()
        today.day = d  # the scenario's day, from 1
        end = datetime.fromtimestamp(day_start_ms(op.world, op.world.day) / 1000, UTC)  # the day's midnight
        report = monitor(op.ws.store, op.ws.path, at=end, reference=reference)
        today.alerts = [f"{a.kind}:{a.name}" for a in report.alerts]
        today.alert_messages = [a.message for a in report.alerts]
        looked = watch(op.ws, WATCH, latency=op.latency, now=end)
        if looked is not None and looked.action != "watched":
            notes.append({"event": looked.action, "version": looked.version, "back_to": looked.live_before,
                          "reasons": looked.reasons, **op.swap()})
        elif looked is not None:
            notes.append({"event": "watched", "version": looked.version,
                          "latency_p99_ms": looked.checks.get("latency_p99_ms")})
        if scenario.oracle:
            trained = op.ws.train(MODEL, **als)
            notes.append({"event": "retrained", "version": trained.version, **op.swap()})
        elif d < scenario.days and (d % scenario.cadence == 0 or d in (scenario.broken_day,
                                                                          scenario.slow_day)):
            notes += _turn(op, scenario, d, end, als)
        today.decisions = notes
        days.append(today)
        print(json.dumps({"scenario": scenario.name, **asdict(today)}, default=str), flush=True)
    return {"scenario": asdict(scenario), "days": [asdict(d) for d in days],
            "seconds": round(time.perf_counter() - began, 1)}


def _turn(op: Operated, scenario: Scenario, d: int, end: datetime,
          als: dict[str, Any]) -> list[dict[str, Any]]:
    """The loop's cycle at the end of day ``d`` (and the scenario's deliberate faults)."""
    notes: list[dict[str, Any]] = []
    if scenario.broken_day == d:
        newest = (op.ws.store.events().filter(pl.col("type") != "impression").select(pl.col("ts").max())
                  .collect().item())
        broken = op.ws.candidate(MODEL, until=newest - timedelta(days=1), **als).version
        _shuffle_factors(op.ws, broken)
        refused = cycle(op.ws, MODEL, candidate=broken, latency=op.latency, now=end)
        notes.append({"event": "cycle (broken candidate)", "action": refused.action, "version": broken,
                      "reasons": refused.reasons})
        forced = cycle(op.ws, MODEL, candidate=broken, force=True, latency=op.latency, now=end)
        notes.append({"event": "forced live", "action": forced.action, "version": broken, **op.swap()})
        return notes
    decision = cycle(op.ws, MODEL, latency=op.latency, now=end)
    note: dict[str, Any] = {"event": "cycle", "action": decision.action, "version": decision.version,
                            "reasons": decision.reasons, "seconds": decision.seconds,
                            "ndcg": decision.checks.get("quality")}
    if scenario.slow_day == d:
        if decision.action == "kept":  # the regression must reach service: forced, as an operator could
            decision = cycle(op.ws, MODEL, candidate=decision.version, force=True, latency=op.latency,
                             now=end)
            note["forced"] = decision.action
        op.slow.add(str(decision.version))
        note["slow_in_service"] = True
    if decision.action in ("promoted", "forced"):
        note.update(op.swap())
    notes.append(note)
    return notes


def _mean(days: list[dict[str, Any]], key: str = "minutes_per_listener") -> float | None:
    return round(float(np.mean([d[key] for d in days])), 3) if days else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a and b else None


def summarise(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The acceptance numbers of each scenario (days are numbered from 1 within a scenario)."""
    out: dict[str, Any] = {}
    if a := runs.get("no_change"):
        weeks = len(a["days"]) / 7
        counts: dict[str, int] = {}
        for day in a["days"]:
            for name in day["alerts"]:
                counts[name] = counts.get(name, 0) + 1
        notes = [n for day in a["days"] for n in day["decisions"]]
        out["a"] = {"weeks": round(weeks, 1), "alerts": sum(counts.values()),
                    "alerts_per_signal_per_week": {k: round(v / weeks, 2) for k, v in sorted(counts.items())},
                    "signals": len(SIGNALS),
                    "rollbacks": sum(n["event"] == "rolled_back" for n in notes),
                    "cycles": [n["action"] for n in notes if n["event"] == "cycle"]}
    if (b := runs.get("shift")) and (oracle := runs.get("shift_oracle")):
        shift = b["scenario"]["shift_day"]
        first = next((day for day in b["days"] if day["day"] >= shift and day["alerts"]), None)
        retrain = next((day["day"] for day in b["days"] if day["day"] > shift and any(
            n["event"] == "cycle" and n["action"] == "promoted" for n in day["decisions"])), None)
        after = (lambda r: [d for d in r["days"] if retrain is not None and d["day"] > retrain])  # noqa: E731
        between = (lambda r: [d for d in r["days"] if shift <= d["day"] <= (retrain or 10**6)])  # noqa: E731
        loop_after, oracle_after = _mean(after(b)), _mean(after(oracle))
        out["b"] = {"shift_on_day": shift, "first_alert_day": first["day"] if first else None,
                    "first_alerts": first["alerts"] if first else [], "retrained_after_day": retrain,
                    "minutes_after_retrain": {"loop": loop_after, "oracle": oracle_after},
                    "loop_over_oracle_after_retrain": _ratio(loop_after, oracle_after),
                    "loop_over_oracle_shift_to_retrain": _ratio(_mean(between(b)), _mean(between(oracle))),
                    "minutes_before_shift": {name: _mean([d for d in r["days"] if d["day"] < shift])
                                             for name, r in (("loop", b), ("oracle", oracle))}}
    if cd := runs.get("faults"):
        broken, slow = cd["scenario"]["broken_day"], cd["scenario"]["slow_day"]
        notes = [(day["day"], n) for day in cd["days"] for n in day["decisions"]]
        refused = next((n for _, n in notes if n["event"] == "cycle (broken candidate)"), {})
        rolled = [(d, n) for d, n in notes if n["event"] == "rolled_back"]
        first = next(((d, n) for d, n in rolled if broken < d <= slow), (None, {}))
        late = next(((d, n) for d, n in rolled if d > slow), (None, {}))
        out["c"] = {"gate": refused.get("action"), "gate_reasons": refused.get("reasons"),
                    "forced_on_day": broken,
                    "rolled_back_on_day": first[0], "rollback_reasons": first[1].get("reasons"),
                    "failed_requests": sum(day["failed"] for day in cd["days"])
                    + sum(n.get("failed_during_swap", 0) for _, n in notes),
                    "requests_during_swaps": sum(n.get("requests_during_swap", 0) for _, n in notes),
                    "requests": sum(day["lists"] for day in cd["days"])}
        out["d"] = {"slow_live_on_day": slow, "rolled_back_on_day": late[0], "reasons": late[1].get("reasons"),
                    "p99_ms_of_the_slow_day": next((day["p99_ms"] for day in cd["days"]
                                                    if day["day"] == slow + 1), None),
                    "p99_ms_median_other_days": round(float(np.median([day["p99_ms"] for day in cd["days"]
                                                                       if day["day"] != slow + 1])), 1)}
    return out


def plot(runs: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 9))
    titles = {"no_change": "(a) no change", "shift": "(b) shift and releases, weekly loop",
              "shift_oracle": "(b) the same, retrained daily (oracle)",
              "faults": "(c, d) broken and slow versions"}
    for name, axis in (("no_change", 0), ("shift", 1), ("shift_oracle", 1), ("faults", 2)):
        run_ = runs.get(name)
        if not run_:
            continue
        ax = axes[axis]
        days = [i + 1 for i in range(len(run_["days"]))]
        ax.plot(days, [d["minutes_per_listener"] for d in run_["days"]], marker=".", label=titles[name])
        for i, day in enumerate(run_["days"]):
            if day["alerts"]:
                ax.axvline(i + 1, color="tab:red", alpha=0.25)
            for n in day["decisions"]:
                if n["event"] in ("rolled_back",):
                    ax.annotate("rollback", (i + 1, day["minutes_per_listener"]), fontsize=7)
                if n["event"] == "cycle" and n["action"] == "promoted":
                    ax.annotate("promoted", (i + 1, day["minutes_per_listener"]), fontsize=7,
                                color="tab:green")
        ax.set_ylabel("list minutes / listener")
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("simulated day (red: a monitoring alert at its end)")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=80)


def write_doc(result: dict[str, Any]) -> None:
    s, w = result["summary"], result["world"]
    a, b, c, d = s.get("a", {}), s.get("b", {}), s.get("c", {}), s.get("d", {})
    met = lambda ok: "met" if ok else "**NOT met**"  # noqa: E731
    per_signal = ", ".join(f"{k} {v}" for k, v in a.get("alerts_per_signal_per_week", {}).items()) or (
        f"0 for each of the {a.get('signals')} drift signals and the quality guardrails")
    minutes, ratio = b.get("minutes_after_retrain", {}), b.get("loop_over_oracle_after_retrain")
    clip = lambda reasons, n=240: "; ".join(reasons or [])[:n]  # noqa: E731
    rows = [
        (f"(a) no change, {a.get('weeks')} weeks",
         f"{a.get('alerts')} alerts (per signal and week: {per_signal}); {a.get('rollbacks')} rollbacks; "
         f"cycles: {', '.join(a.get('cycles', []))}",
         f"no alert, no rollback: {met(a.get('alerts') == 0 and a.get('rollbacks') == 0)}"),
        (f"(b) a third of the listeners change taste and {WAVE_SHARE:.0%} of the albums come out on day "
         f"{b.get('shift_on_day')}",
         f"first alert at the end of day {b.get('first_alert_day')}: {', '.join(b.get('first_alerts', []))}",
         f"within a day: {met(b.get('first_alert_day') == b.get('shift_on_day'))}"),
        (f"(b) after the next weekly retrain (day {b.get('retrained_after_day')})",
         f"list minutes per listener served {minutes.get('loop')}, retrained daily {minutes.get('oracle')} "
         f"(×{ratio}); from the shift to the retrain ×{b.get('loop_over_oracle_shift_to_retrain')}",
         f"within 5 % of daily: {met(ratio is not None and ratio >= 0.95)}"),
        ("(c) shuffled item factors, judged at a cycle",
         f"gate: {c.get('gate')} ({clip(c.get('gate_reasons'))})",
         f"refused: {met(c.get('gate') == 'kept')}"),
        (f"(c) the same forced live on day {c.get('forced_on_day')}",
         f"rolled back at the end of day {c.get('rolled_back_on_day')} ({clip(c.get('rollback_reasons'))}); "
         f"failed requests: {c.get('failed_requests')} of {c.get('requests'):,} lists and "
         f"{c.get('requests_during_swaps')} requests answered while versions were swapped",
         "rolled back within the 1-day window, no failed request: " + met(
             c.get('rolled_back_on_day') == (c.get('forced_on_day') or 0) + 1 and c.get('failed_requests') == 0)),
        (f"(d) a version slow in service (1 request in {SLOW_EVERY} waits {SLOW_S * 1000:.0f} ms), live from "
         f"day {d.get('slow_live_on_day')}",
         f"that day's p99 {d.get('p99_ms_of_the_slow_day')} ms (other days' median "
         f"{d.get('p99_ms_median_other_days')} ms); rolled back at the end of day {d.get('rolled_back_on_day')} ({clip(d.get('reasons'))})",
         f"fires and rolls back: {met(d.get('rolled_back_on_day') == (d.get('slow_live_on_day') or 0) + 1)}"),
    ]
    text = [
        "",
        f"`python bench/loop.py` ({result['date']}, {result['machine']['cpus']} cores, "
        f"{result['seconds'] / 60:.0f} minutes). A world of {w['n_users']:,} listeners × {w['n_tracks']:,} "
        f"tracks: 28 days of history, then {result['burn_in']} days served the same way before any scenario",
        "starts, so the monitor's reference is served listening too. Each scenario then runs day by day:",
        f"- {OPEN_SHARE:.0%} of the active listeners open their for-you list ({LIST} tracks). The serving",
        "  runtime answers (hot-swapped by its reloader), each answer timed into the server's latency histogram",
        "  and logged as impressions.",
        "- The listeners' answers and their own listening go through the ingest path.",
        f"- At each day's end: `monitor` ({result['reference_days']}-day reference), then the watch after a "
        "promotion (a 1-day window),",
        f"  then, every 7 days, the loop's cycle ({MODEL.upper()}, holdout 1 day).",
        "",
        "Plot: `docs/loop.png`; every day of every scenario: `bench/results/loop.json`.",
        "",
        "| scenario | measured | acceptance |",
        "|---|---|---|",
        *[f"| {x} | {y} | {z} |" for x, y, z in rows],
        "",
    ]
    begin, end = "<!-- loop:begin -->", "<!-- loop:end -->"
    replace_section(DOC, begin, end, "Operating loop: monitoring, gate, rollback in the listener world",
                    [begin, *text, end])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller world and fewer weeks")
    parser.add_argument("--only", nargs="*", help="scenarios to run (no_change shift shift_oracle faults)")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "tastemaker-bench-loop")
    args = parser.parse_args()
    if args.quick:
        config = WorldConfig(seed=11, n_users=400, n_tracks=2_000, days=28, events_per_user=80,
                             churn_rate=0.001, new_user_share=0.05)
        scenarios = [Scenario("no_change", 14), Scenario("shift", 12, shift_day=4, cadence=7),
                     Scenario("shift_oracle", 12, shift_day=4, oracle=True),
                     Scenario("faults", 10, broken_day=3, slow_day=7)]
    else:
        config = WorldConfig(seed=11, n_users=1_500, n_tracks=6_000, days=28, events_per_user=100,
                             churn_rate=0.001, new_user_share=0.05)
        scenarios = [Scenario("no_change", 35), Scenario("shift", 21, shift_day=10),
                     Scenario("shift_oracle", 21, shift_day=10, oracle=True),
                     Scenario("faults", 16, broken_day=7, slow_day=14)]
    als = {"factors": 32, "iterations": 15}
    burn_in = 14 if args.quick else 28
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]
    started = time.perf_counter()
    base = args.scratch / "base"
    shutil.rmtree(args.scratch, ignore_errors=True)
    build_base(config, base, als, burn_in)
    reference = timedelta(days=min(28, burn_in))  # the monitor's reference: served days only
    runs = {s.name: run(s, base, args.scratch, als, reference) for s in scenarios}
    result = {"world": config.to_dict(), "als": als, "burn_in": burn_in, "reference_days": reference.days,
              "scenarios": runs,
              "summary": summarise(runs),
              "seconds": round(time.perf_counter() - started, 1), "quick": args.quick,
              "machine": {"cpus": os.cpu_count()}, "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(result["summary"], indent=1, default=str), flush=True)
    (args.scratch / "loop.json").write_text(json.dumps(result, indent=1, default=str))
    if args.quick or args.only:
        return  # a look: the recorded results are the full run's
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1, default=str))
    plot(runs)
    write_doc(result)


if __name__ == "__main__":
    main()
