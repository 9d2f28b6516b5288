"""One monitoring run: drift and per-surface quality at a time, the guardrails judged, alerts logged.

:func:`run` reads the store, writes ``<workspace>/monitoring/report.json`` (the latest run),
appends each alert to ``<workspace>/monitoring/alerts.jsonl`` (one JSON object a line, written
and synced before the run returns), the run's numbers to ``history.jsonl`` (what the dashboard plots) and the run's gauges to ``<workspace>/monitoring/metrics.prom``
(Prometheus text format, for node_exporter's textfile collector or any scraper;
``monitoring/rules.yml`` alerts on them and on the server's own metrics).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.monitoring.config import Bounds
from tastemaker.monitoring.drift import Drift, check
from tastemaker.monitoring.quality import per_surface

FOLDER = "monitoring"


@dataclass(frozen=True, slots=True)
class Alert:
    """A guardrail that broke: ``kind`` drift or quality, ``name`` the signal (``skip_rate``) or the surface's
    metric (``for-you.play_rate``)."""

    at: str
    kind: str
    name: str
    value: float | None
    bound: float
    message: str


@dataclass
class Report:
    """What one run found."""

    at: datetime
    window_days: float
    reference_days: float
    drift: list[Drift]
    quality: pl.DataFrame
    alerts: list[Alert] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "window_days": self.window_days, "reference_days": self.reference_days,
                "drift": [d.as_dict() for d in self.drift], "quality": self.quality.to_dicts(),
                "alerts": [asdict(a) for a in self.alerts]}


def judge(drift: list[Drift], quality: pl.DataFrame, bounds: Bounds, at: datetime) -> list[Alert]:
    """The alerts of one run: every drifted signal, every surface (with enough lists) past a quality bound."""
    stamp = at.isoformat()
    alerts = [Alert(stamp, "drift", d.signal, d.effect, d.bound,
                    f"{d.signal} drifted: {d.effect_name} {d.effect} (bound {d.bound}, p {d.p_value:.2g}); "
                    f"now {d.current}, before {d.reference}" + (f"; {d.note}" if d.note else ""))
              for d in drift if d.drifted]
    q = bounds.quality
    limits = (("play_rate", q.min_play_rate, "under"), ("skip_rate", q.max_skip_rate, "over"),
              ("fallback_rate", q.max_fallback_rate, "over"))
    for row in quality.filter(pl.col("lists") >= q.min_lists).iter_rows(named=True):
        for metric, bound, side in limits:
            value = row[metric]
            if value is None:
                continue
            if (side == "under" and value < bound) or (side == "over" and value > bound):
                alerts.append(Alert(stamp, "quality", f"{row['surface']}.{metric}", round(value, 4), bound,
                                    f"{row['surface']}: {metric} {value:.3f} is {side} its bound {bound} "
                                    f"({row['lists']:,} lists)"))
    return alerts


def run(store: Any, workspace: Path, at: datetime | None = None, *, window: timedelta = timedelta(days=1),
        reference: timedelta = timedelta(days=28), bounds: Bounds | None = None, write: bool = True) -> Report:
    """Drift and quality at ``at``, judged against ``bounds`` (default: the workspace's ``monitoring.toml``).
    Without ``at``, drift is judged up to the newest listen and quality up to the newest list served (the same
    time in service; an imported history is judged at its own end)."""
    bounds = bounds or Bounds.read(workspace)
    events = store.events()
    shown_at = at
    if at is None:  # drift up to the newest listen, quality up to the newest list served (in service: the same)
        at, shown_at = (_after(events.filter(pl.col("type") != "impression")),
                        _after(events.filter(pl.col("type") == "impression")))
        shown_at = max(at, shown_at) if shown_at is not None else at
        at = at or shown_at or datetime.now(UTC)
        shown_at = shown_at or at
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    shown_at = shown_at if shown_at.tzinfo else shown_at.replace(tzinfo=UTC)
    drift = check(events, at, window=window, reference=reference, bounds=bounds)
    tracks = store.entities("tracks") if "tracks" in store.table_names() else None
    quality = per_surface(events, shown_at - window, shown_at, tracks=tracks)
    report = Report(at, window / timedelta(days=1), reference / timedelta(days=1), drift, quality)
    report.alerts = judge(drift, quality, bounds, at)
    if write:
        save(report, workspace / FOLDER)
    return report


def _after(events: pl.LazyFrame) -> datetime | None:
    """Just after the newest of ``events``, at the store's precision (a millisecond: a microsecond would be cast
    away when compared with millisecond times); None without any."""
    newest = events.select(pl.col("ts").max()).collect().item()
    return newest + timedelta(milliseconds=1) if newest is not None else None


def save(report: Report, folder: Path) -> None:
    """``report.json`` (replaced atomically), the alerts appended to ``alerts.jsonl`` and synced, the gauges."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / "report.json.tmp"
    tmp.write_text(json.dumps(report.as_dict(), indent=1, default=str))
    os.replace(tmp, folder / "report.json")
    if report.alerts:
        _append(folder / "alerts.jsonl", [asdict(a) for a in report.alerts])
    _append(folder / "history.jsonl", [{
        "at": report.at.isoformat(),
        "drift": {d.signal: {"effect": d.effect, "bound": d.bound, "drifted": d.drifted, "current": d.current}
                  for d in report.drift},
        "quality": {row["surface"]: {k: v for k, v in row.items() if k != "surface"}
                    for row in report.quality.iter_rows(named=True)},
        "alerts": len(report.alerts)}])
    write_gauges(report, folder / "metrics.prom")


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "a") as handle:
        handle.write("".join(json.dumps(r, default=str) + "\n" for r in rows))
        handle.flush()
        os.fsync(handle.fileno())


def history(folder: Path) -> list[dict[str, Any]]:
    """Every run's drift effects and per-surface quality, oldest first (what the dashboard plots)."""
    path = folder / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def alerts(folder: Path) -> list[dict[str, Any]]:
    """Every alert logged in ``folder``, oldest first."""
    path = folder / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_gauges(report: Report, path: Path) -> None:
    """The run's numbers as Prometheus gauges (``tastemaker_drift_*``, ``tastemaker_surface_*``)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    effect = Gauge("tastemaker_drift_effect", "A drift signal's effect (z, PSI or difference) at the last "
                   "monitoring run", ["signal"], registry=registry)
    drifted = Gauge("tastemaker_drift_alert", "1 when the signal drifted at the last monitoring run",
                    ["signal"], registry=registry)
    for d in report.drift:
        if d.effect is not None:
            effect.labels(d.signal).set(d.effect)
        drifted.labels(d.signal).set(1 if d.drifted else 0)
    surface = Gauge("tastemaker_surface_quality", "A surface's online quality over the last monitoring window",
                    ["surface", "metric"], registry=registry)
    for row in report.quality.iter_rows(named=True):
        for metric in ("play_rate", "skip_rate", "save_rate", "minutes_per_impression", "fallback_rate"):
            if row[metric] is not None:
                surface.labels(row["surface"], metric).set(row[metric])
    ran = Gauge("tastemaker_monitoring_last_run_timestamp_seconds", "When monitoring last ran", registry=registry)
    ran.set(datetime.now(UTC).timestamp())
    write_to_textfile(str(path), registry)
