"""``tastemaker simulate`` and ``tastemaker experiment plan|report``: A/B tests, simulated and planned.

``simulate`` runs the closed loop (``simulate/loop.py``): a listener world served by each arm's
policy through the real serving code for some weeks, then analyses it and writes the experiment
folder (``result.json``, ``user_periods.parquet``, ``report.md``, ``report.html``, plots; the
run's own workspace under ``workspace/``). ``experiment report`` rebuilds the report from such a
folder; ``experiment plan`` sizes a test from a metric's standard deviation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from tastemaker.cli.invocation import err, fail, out, print_json, settings

experiment_app = typer.Typer(help="A/B experiments: plan one, or rebuild the report of one.",
                             no_args_is_help=True)

#: where ``experiment report NAME`` looks for NAME, relative to the workspace
EXPERIMENTS_DIR = "experiments"


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and the ``experiment`` group (report, plan) to ``app``."""
    app.command("simulate")(simulate)
    app.add_typer(experiment_app, name="experiment")


def _folder(exp: str) -> Path:
    """An experiment folder: ``exp`` itself when it is one, else ``<workspace>/experiments/<exp>``."""
    given = Path(exp)
    return given if given.is_dir() else settings().workspace / EXPERIMENTS_DIR / exp


@experiment_app.command("report")
def report(
    exp: Annotated[str, typer.Argument(help="An experiment folder, or a name under <workspace>/experiments.")
                   ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the written paths as one JSON object.")
                       ] = False,
) -> None:
    """Rebuild report.md and report.html (with plots) from an experiment folder's result.json."""
    from tastemaker.experiments.report import load_result, summary, write_report

    folder = _folder(exp)
    try:
        result = load_result(folder)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    paths = write_report(result, folder)
    if as_json:
        print_json({name: str(path) for name, path in paths.items()})
        return
    for line in summary(result):
        out.print(f"- {line}")
    out.print(f"report: {paths['html']} (and {paths['markdown'].name})")


@experiment_app.command("plan")
def plan(
    sd: Annotated[float, typer.Option(help="Per-listener standard deviation of the metric.")],
    mde: Annotated[float, typer.Option(help="Smallest absolute difference worth detecting.")],
    daily_users: Annotated[float, typer.Option(help="New eligible listeners per day.")],
    alpha: Annotated[float, typer.Option(help="Two-sided false-positive rate.")] = 0.05,
    power: Annotated[float, typer.Option(help="Probability of detecting an effect of size --mde.")] = 0.8,
    arms: Annotated[int, typer.Option(help="Arms, control included.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Listeners per arm and days needed to detect --mde on a metric with standard deviation --sd."""
    from tastemaker.experiments.power import duration_days, sample_size

    try:
        n = sample_size(sd, mde, alpha=alpha, power=power)
        days = duration_days(n, daily_users, arms)
        weeks = duration_days(n, daily_users, arms, whole_weeks=True)
    except ValueError as exc:
        raise fail(str(exc)) from None
    plan_ = {"n_per_arm": n, "arms": arms, "days": days, "days_whole_weeks": weeks, "sd": sd, "mde": mde,
             "alpha": alpha, "power": power, "daily_users": daily_users}
    if as_json:
        print_json(plan_)
        return
    out.print(f"{n:,} listeners per arm ({n * arms:,} in all): {days} days at {daily_users:,.0f} new "
              f"listeners a day, {weeks} days in whole weeks (alpha {alpha}, power {power})")


def simulate(
    users: Annotated[int, typer.Option(help="Listeners in the world.")] = 2_000,
    tracks: Annotated[int, typer.Option(help="Catalog tracks (about 20 per artist).")] = 3_000,
    weeks: Annotated[int, typer.Option(help="Experiment weeks.")] = 4,
    policies: Annotated[str, typer.Option(help="Arms, comma-separated, control first: popularity, personal (ALS), "
                                          "ranker (ALS + learning to rank), bpr, itemknn.")] = "popularity,ranker",
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Experiment folder (default: "
                                                  "<workspace>/experiments/<name>).")] = None,
    name: Annotated[str, typer.Option(help="Experiment name (its assignment salt).")] = "for-you-policy",
    seed: Annotated[int, typer.Option(help="World seed: the same seed gives the same run.")] = 0,
    history_days: Annotated[int, typer.Option(help="Days of organic history before the experiment.")] = 60,
    events_per_user: Annotated[float, typer.Option(help="Mean organic plays per listener over the history.")
                               ] = 100.0,
    list_size: Annotated[int, typer.Option(help="Tracks per served list.")] = 15,
    retrain_every: Annotated[int, typer.Option(help="Days between retrainings (0: never).")] = 7,
    organic: Annotated[bool, typer.Option(help="Simulate organic listening (and churn) between lists.")
                       ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run a closed-loop A/B test on a synthetic world and write its experiment folder and report.

    Example: tastemaker simulate --users 2000 --tracks 3000 --weeks 4 --policies popularity,ranker --out exp
    """
    from tastemaker.experiments.report import save_result, summary, write_report
    from tastemaker.simulate.analysis import analyse
    from tastemaker.simulate.config import WorldConfig
    from tastemaker.simulate.loop import LoopConfig, run_loop

    folder = out_dir or settings().workspace / EXPERIMENTS_DIR / name
    if (folder / "workspace").exists():
        raise fail(f"{folder} already holds a simulation: give another --out or remove it")
    try:
        config = LoopConfig(WorldConfig(seed=seed, n_users=users, n_tracks=tracks, days=history_days,
                                        events_per_user=events_per_user),
                            policies=tuple(p.strip() for p in policies.split(",") if p.strip()), weeks=weeks,
                            list_size=list_size, retrain_every=retrain_every, organic=organic,
                            experiment=name)
    except ValueError as exc:
        raise fail(str(exc)) from None
    began = time.perf_counter()

    def progress(done: int, total: int) -> None:
        err.print(f"day {done}/{total}" if not as_json else json.dumps({"day": done, "days": total}))

    run = run_loop(config, folder / "workspace", on_day=progress)
    result = analyse(run)
    result.meta["seconds"]["total"] = round(time.perf_counter() - began, 3)
    save_result(result, folder)
    paths = write_report(result, folder)
    if as_json:
        print_json({"folder": str(folder), "counts": result.counts, "srm": result.srm,
                    "effects": [e for e in result.effects if e["period"] == "overall"],
                    "seconds": result.meta["seconds"], "files": {k: str(v) for k, v in paths.items()}})
        return
    for line in summary(result):
        out.print(f"- {line}")
    out.print(f"report: {paths['html']}")
