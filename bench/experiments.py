"""The experiments layer's validation run: A/A error rates, power, off-policy evaluation, a 4-week A/B.

    python bench/experiments.py            # about 8 minutes on 2 cores
    python bench/experiments.py --no-ab    # the statistics and OPE studies only (under a minute)

1. ``bench/experiments_stats.py``: 500 simulated A/A tests (fixed-horizon Welch, mSPRT with 50 peeks,
   naive peeking), and the planner's predicted power against the observed power over 500 runs
   with a planted +3 % lift.
2. ``bench/experiments_ope.py``: IPS, SNIPS and DR estimates of three target policies from a logging
   policy's data in the listener world, next to each policy's true value measured on-policy.
3. ``bench/experiments_ab.py``: a 4-week closed-loop A/B of popularity against the ranker through the
   real serving code, with its report.

Writes ``bench/results/experiments.json`` (``aa_runs``, ``aa_false_positive_rate``,
``sequential_false_positive_rate``, ``power_predicted``, ``power_observed``, ``ope``, ``ab``) and
the table between the markers in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import experiments_ab  # noqa: E402
import experiments_ope  # noqa: E402
import experiments_stats  # noqa: E402
from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "experiments.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- experiments:begin -->", "<!-- experiments:end -->"
OPE_KEYS = ("policy", "estimator", "estimate", "true_value", "ci_low", "ci_high", "true_ci_low", "true_ci_high",
            "within_true_ci", "ci_covers_truth")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-ab", action="store_true", help="skip the 4-week closed-loop A/B")
    parser.add_argument("--out", type=Path, default=None, help="folder of the A/B's experiment and report")
    args = parser.parse_args()
    started = time.perf_counter()
    stats = experiments_stats.run(seed=0)
    print(json.dumps({k: v for k, v in stats.items() if not isinstance(v, dict | list)}), flush=True)
    ope = experiments_ope.run(seed=0)
    rows = [{k: r[k] for k in OPE_KEYS} for r in ope["ope"]]
    result: dict[str, Any] = {
        "aa_runs": stats["aa_runs"], "aa_false_positive_rate": stats["aa_false_positive_rate"],
        "sequential_false_positive_rate": stats["sequential_false_positive_rate"],
        "naive_peeking_false_positive_rate": stats["naive_peeking_false_positive_rate"],
        "power_predicted": stats["power_predicted"], "power_observed": stats["power_observed"],
        "ope": rows, "stats": stats, "ope_logging_value": ope["logging_value"], "ope_config": ope["config"]}
    if not args.no_ab:
        result["ab"] = experiments_ab.run(out=args.out)
        print(json.dumps({k: result["ab"][k] for k in ("counts", "srm_p", "loop_wall_s")}), flush=True)
    result["checks"] = {
        "aa_within_3.5_6.5": 0.035 <= result["aa_false_positive_rate"] <= 0.065,
        "sequential_at_most_5": result["sequential_false_positive_rate"] <= 0.05,
        "power_within_5_points": abs(result["power_observed"] - result["power_predicted"]) <= 0.05,
        "ope_policies_within_true_ci": sorted({r["policy"] for r in rows if r["within_true_ci"]}),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1, default=str) + "\n")
    write_doc(result)
    print(json.dumps(result["checks"]))


def write_doc(r: dict[str, Any]) -> None:
    s = r["stats"]
    lines = [BEGIN, "", f"`python bench/experiments.py` ({time.strftime('%Y-%m-%d')}, {r['seconds']:g} s). "
             "Simulated weekly listening minutes (15 % dormant listeners; `bench/experiments_stats.py`):", "",
             "| check | target | measured |", "|---|---|---:|",
             f"| A/A false positives, fixed-horizon Welch, α = 0.05, {r['aa_runs']} tests × "
             f"{s['aa_users_per_arm']:,} per arm | 3.5–6.5 % | {r['aa_false_positive_rate']:.1%} |",
             f"| the same A/A tests, mSPRT checked {s['looks']} times (always valid) | ≤ 5 % | "
             f"{r['sequential_false_positive_rate']:.1%} |",
             f"| the same, repeated Welch tests at those looks (naive peeking) | (what it prevents) | "
             f"{r['naive_peeking_false_positive_rate']:.1%} |",
             f"| power for +{s['planted_lift']:.0%} at {s['power_users_per_arm']:,} per arm: planned / observed over "
             f"{s['power_runs']} runs | within ±5 points | {r['power_predicted']:.3f} / {r['power_observed']:.3f} |",
             f"| the same with CUPED (ρ = {s['pilot_rho_pre_post']}): planned / observed | | "
             f"{s['cuped_power_predicted']:.3f} / {s['cuped_power_observed']:.3f} |", "",
             "Off-policy evaluation in the listener world (`bench/experiments_ope.py`; one track shown per "
             f"decision, logging policy value {r['ope_logging_value']:.3f}): the estimate, its 95 % interval, and "
             "the policy's true value measured on-policy with its 95 % interval.", "",
             "| policy | estimator | estimate [95 %] | true value [95 %] | estimate inside the true interval |",
             "|---|---|---|---|---|"]
    for o in r["ope"]:
        lines.append(f"| {o['policy']} | {o['estimator']} | {o['estimate']:.4f} [{o['ci_low']:.4f}, "
                     f"{o['ci_high']:.4f}] | {o['true_value']:.4f} [{o['true_ci_low']:.4f}, {o['true_ci_high']:.4f}] "
                     f"| {'yes' if o['within_true_ci'] else 'no'} |")
    ab = r.get("ab")
    if ab:
        lines += ["", f"Closed-loop A/B, popularity (A) against the ranker (B), {ab['weeks']} weeks, "
                  f"{ab['users']:,} listeners × {ab['tracks']:,} tracks (`bench/experiments_ab.py`, "
                  f"{ab['loop_wall_s']:g} s; arms {ab['counts']}, SRM p = {ab['srm_p']:.2f}):", "",
                  "| metric (per listener) | popularity | ranker | lift [95 %] | p (Holm) |",
                  "|---|---:|---:|---|---:|"]
        for metric, e in ab["overall"].items():
            lines.append(f"| {metric} | {e['mean_a']:.3f} | {e['mean_b']:.3f} | {e['rel_lift']:+.1%} "
                         f"[{e['rel_ci_low']:+.1%}, {e['rel_ci_high']:+.1%}] | {e['p_adjusted']:.2g} |")
        lines += ["", "Minutes from the list, lift by week: " + ", ".join(
            f"{w['period']} {w['rel_lift']:+.0%} [{w['rel_ci_low']:+.0%}, {w['rel_ci_high']:+.0%}]"
            for w in ab["minutes_by_week"]) + "."]
    lines += ["", END]
    replace_section(DOC, BEGIN, END, "Experiments: error rates, power, off-policy evaluation, a closed-loop A/B", lines)


if __name__ == "__main__":
    main()
