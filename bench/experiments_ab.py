"""A four-week closed-loop A/B test, popularity vs the ranker (ALS + learning to rank), through the real serving code.

    python bench/experiments_ab.py [--users 2000] [--tracks 3000] [--weeks 4] [--out DIR]

The world: 2,000 listeners, 3,000 tracks, 60 days of organic history (seed 0). Every active
listener is served a *for-you* list of 15 tracks a day by their arm's policy
(``RecommendationService.recommend``), the world answers, the events go back through the server's
ingest path, organic listening goes on, and the models are retrained weekly (see
``docs/simulator.md``). Measures wall and CPU seconds per phase (one process; ``OPENBLAS_NUM_THREADS=1``),
the lists served per second, and the overall effects. Writes the experiment folder (report
included) to ``--out`` (default: a temporary folder) and prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from tastemaker.experiments.report import save_result, write_report  # noqa: E402
from tastemaker.simulate.analysis import analyse  # noqa: E402
from tastemaker.simulate.config import WorldConfig  # noqa: E402
from tastemaker.simulate.loop import LoopConfig, run_loop  # noqa: E402

HEADLINE = ("minutes", "total_minutes", "total_minutes_cuped", "skip_rate", "save_rate", "discovered_artists",
            "retained", "distinct_artists")


def run(users: int = 2_000, tracks: int = 3_000, weeks: int = 4, out: Path | None = None) -> dict[str, Any]:
    """Run the A/B, analyse it, write its folder; returns timings, counts and the overall effects."""
    folder = out or Path(tempfile.mkdtemp(prefix="tastemaker-ab-"))
    config = LoopConfig(WorldConfig(seed=0, n_users=users, n_tracks=tracks, days=60), weeks=weeks)
    wall, cpu = time.perf_counter(), time.process_time()
    loop = run_loop(config, folder / "workspace")
    loop_wall, loop_cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = analyse(loop)
    save_result(result, folder)
    write_report(result, folder)
    lists = loop.exposures.filter(loop.exposures["position"] == 1).height
    effects = {e["metric"]: {k: e[k] for k in ("mean_a", "mean_b", "rel_lift", "rel_ci_low", "rel_ci_high",
                                              "p_value", "p_adjusted")}
               for e in result.effects if e["period"] == "overall" and e["metric"] in HEADLINE}
    weekly_minutes = [{k: e[k] for k in ("period", "rel_lift", "rel_ci_low", "rel_ci_high")}
                      for e in result.effects if e["metric"] == "minutes" and e["period"] != "overall"]
    return {
        "users": users, "tracks": tracks, "weeks": weeks, "folder": str(folder),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_1m": round(os.getloadavg()[0], 1)},
        "loop_wall_s": round(loop_wall, 1), "loop_cpu_s": round(loop_cpu, 1),
        "total_wall_s": round(time.perf_counter() - wall, 1), "phases_s": loop.seconds,
        "lists_served": lists, "lists_per_s": round(lists / loop.seconds.get("serve", float("nan")), 1),
        "counts": result.counts, "srm_p": result.srm["p_value"], "served_by": result.meta["served_by"],
        "overall": effects, "minutes_by_week": weekly_minutes,
        "minutes_trend": [t for t in result.trends if t["metric"] == "minutes"],
        "arm_weeks": result.arm_periods,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--tracks", type=int, default=3_000)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    print(json.dumps(run(args.users, args.tracks, args.weeks, args.out), indent=1))
