"""``tastemaker monitor``: drift on the event stream and online quality per surface (``docs/monitoring.md``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from tastemaker.cli.invocation import fail, out, print_frame, print_json, settings

if TYPE_CHECKING:
    from tastemaker.monitoring.report import Report


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to ``app``."""
    app.command("monitor")(monitor)


def monitor(
    at: Annotated[str | None, typer.Option("--at", help="Judge the window ending here (ISO date or time, UTC; "
                                           "default: the newest event).")] = None,
    window: Annotated[float, typer.Option("--window", min=0.01, help="The window judged, in days.")] = 1.0,
    reference: Annotated[float, typer.Option("--reference", min=1.0, help="The reference window before it, "
                                             "in days.")] = 28.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check the last window's listening against the weeks before it (volume, listeners, skips, completion,
    new tracks, country/platform/surface mix) and what each surface's lists led to (plays, skips, saves,
    minutes, coverage, fallbacks), against the thresholds in ``<workspace>/monitoring.toml``. Writes
    ``monitoring/report.json``, appends alerts to ``monitoring/alerts.jsonl`` and Prometheus gauges to
    ``monitoring/metrics.prom``. Exit 1 when a guardrail broke."""
    from tastemaker.monitoring.report import run
    from tastemaker.store import open_store

    cfg = settings()
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise fail(f"--at takes an ISO date or time (2024-06-08, 2024-06-08T12:00), got {at!r}") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    try:
        report = run(open_store(cfg.store), cfg.workspace, when, window=timedelta(days=window),
                     reference=timedelta(days=reference))
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(report.as_dict())
    else:
        _show(report)
    if report.alerts:
        raise typer.Exit(1)


def _show(report: Report) -> None:
    import polars as pl

    out.print(f"[bold]monitoring at {report.at:%Y-%m-%d %H:%M} UTC[/]: the last {report.window_days:g} day(s) "
              f"against the {report.reference_days:g} before")
    drift = pl.DataFrame([{"signal": d.signal, "now": d.current, "before": d.reference,
                           "effect": d.effect, "measure": d.effect_name, "bound": d.bound,
                           "p": d.p_value, "drifted": "DRIFT" if d.drifted else "", "note": d.note}
                          for d in report.drift])
    print_frame("drift", drift)
    if report.quality.height:
        print_frame("what the lists led to, per surface", report.quality)
    else:
        out.print("no impressions in the window: nothing was served, or the server logs none")
    for alert in report.alerts:
        out.print(f"[red]alert[/] {alert.message}")
    if not report.alerts:
        out.print("no guardrail broke")
