"""``tastemaker loop``: retrain, gate, promote or keep, watch, roll back (``docs/loop.md``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tastemaker.cli.invocation import err, fail, out, print_json, workspace

if TYPE_CHECKING:
    from tastemaker.loop.cycle import Decision


def register(app: typer.Typer) -> None:
    """Add ``loop`` to ``app``."""
    app.command("loop")(loop)


def loop(
    once: Annotated[bool, typer.Option("--once", help="Run one cycle now and exit (no schedule).")] = False,
    model: Annotated[str, typer.Option("--model", help="The model retrained and gated.")] = "pipeline",
    holdout: Annotated[float, typer.Option("--holdout", min=0.01, help="Days of the newest listening the "
                                           "candidate is judged on (and not trained on).")] = 1.0,
    max_drop: Annotated[float, typer.Option("--max-drop", min=0.0, help="The largest relative drop in NDCG@10 "
                                            "against the live version a promotion allows (when significant).")] = 0.05,
    latency_ms: Annotated[float, typer.Option("--latency-ms", min=0.1, help="The candidate's recommend p99 "
                                              "budget, in ms.")] = 50.0,
    force: Annotated[bool, typer.Option("--force", help="Promote even when the gate refuses (recorded as "
                                        "forced, with its reasons).")] = False,
    cron: Annotated[str, typer.Option("--cron", help="When to run a cycle, a crontab line (UTC).")] = "0 3 * * *",
    watch_every: Annotated[float, typer.Option("--watch-every", min=1.0, help="Seconds between two looks at a "
                                               "promotion being watched.")] = 600.0,
    watch_hours: Annotated[float, typer.Option("--watch-hours", min=0.01, help="How long a promotion is "
                                               "watched (and rolled back when a guardrail breaks).")] = 6.0,
    candidate: Annotated[str | None, typer.Option(
        "--candidate", help="Judge this registered version (trained on all but the newest --holdout days) "
                            "instead of training one; with --once.")] = None,
    server: Annotated[str | None, typer.Option("--server", help="The server's URL: its /metrics latency is "
                                               "watched after a promotion.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each decision as one JSON object.")] = False,
) -> None:
    """Operate the model: compact the store, train a candidate on all but the newest --holdout days, judge it
    against the live version on those days (quality, list validity, latency), promote it or keep the live
    one; after a promotion, watch what its lists lead to and the server's latency, and roll back when a
    guardrail breaks. Every decision goes to <workspace>/loop/audit.jsonl and the registry. With --once one
    cycle runs now (exit 1 when the candidate was kept); otherwise cycles run on --cron and the watch every
    --watch-every seconds, until stopped."""
    from tastemaker.loop.cycle import WatchConfig, cycle, watch
    from tastemaker.loop.gate import GateConfig

    ws = workspace()
    config = GateConfig(max_drop=max_drop, latency_ms=latency_ms)
    guard = WatchConfig(window=timedelta(hours=watch_hours))
    latency = _latency(server)

    def turn() -> Decision:
        decision = cycle(ws, model, timedelta(days=holdout), config, force=force, latency=latency,
                         candidate=candidate)
        _show(decision, as_json)
        return decision

    def look() -> None:
        decision = watch(ws, guard, latency=latency)
        if decision is not None and decision.action != "watched":
            _show(decision, as_json)

    if candidate is not None and not once:
        raise fail("--candidate judges one version: use it with --once")
    if once:
        try:
            decision = turn()
        except ValueError as exc:
            raise fail(str(exc)) from None
        if decision.action in ("kept", "failed"):
            raise typer.Exit(1)
        return
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(cron, timezone="UTC")
    except ValueError as exc:
        raise fail(f"--cron: {exc}") from None
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(turn, trigger, id="cycle", max_instances=1, coalesce=True)
    scheduler.add_job(look, "interval", seconds=watch_every, id="watch", max_instances=1, coalesce=True)
    err.print(f"loop: a cycle on '{cron}' (UTC), the watch every {watch_every:g} s; Ctrl-C stops")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


def _latency(server: str | None) -> Any:
    if server is None:
        return None
    from tastemaker.loop.metrics import scrape

    return lambda: scrape(server)


def _show(decision: Decision, as_json: bool) -> None:
    if as_json:
        print_json(asdict(decision))
        return
    verb = {"promoted": "[green]promoted[/]", "forced": "[yellow]promoted by force[/]", "kept": "[red]kept[/]",
            "rolled_back": "[red]rolled back[/]", "failed": "[red]failed[/]", "alarm": "[red]alarm[/]"}
    what = verb.get(decision.action, decision.action)
    quality = decision.checks.get("quality")
    line = f"{decision.model} {decision.version}: {what} (live before: {decision.live_before or 'none'})"
    if isinstance(quality, dict):
        line += (f"; NDCG@10 {quality['mean_b']:.4f} against {quality['mean_a']:.4f} over {quality['users']} "
                 f"listeners")
    elif isinstance(quality, str):  # not judged, or not compared: say why
        line += f"; quality {quality}"
    out.print(line)
    for reason in decision.reasons:
        out.print(f"  because {reason}")
