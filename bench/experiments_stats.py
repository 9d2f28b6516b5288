"""Calibration of the experiment statistics on simulated listening minutes: error rates and power.

    python bench/experiments_stats.py [--seed 0]

Data: per-user weekly listening minutes, zero-inflated lognormal (15 % dormant users at zero, the
rest active in a week with probability 0.9, log-minutes with a per-user level shared between the
pre-period and the experiment week, so CUPED has a covariate with realistic correlation).

Measured with the library functions (``tastemaker.experiments``):

* A/A: 500 experiments of 5,000 users per arm; the false-positive rate of the fixed-horizon Welch
  test at alpha 0.05, of the mSPRT checked every 100 users per arm (50 looks), and of repeated
  Welch tests at the same looks (naive peeking).
* Power: a +3 % lift planted multiplicatively in treatment; the size per arm from
  ``power.sample_size`` for 80 % power with the sd of a separate pilot sample, then the predicted
  and the observed power over 500 experiments, for Welch and for CUPED (same size; predicted
  from the pilot's CUPED-adjusted sd), plus the mSPRT's power and mean stopping point there.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from tastemaker.experiments.power import power, sample_size
from tastemaker.experiments.sequential import msprt_path, planned_tau2
from tastemaker.experiments.stats import cuped, welch

ALPHA = 0.05
AA_RUNS, AA_USERS, LOOKS = 500, 5_000, 50
POWER_RUNS, LIFT = 500, 0.03
MEDIAN_MINUTES, LEVEL_SD, WEEK_SD, DORMANT, ACTIVE = 180.0, 0.8, 0.6, 0.15, 0.9


def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Experiment-week and pre-period minutes for ``n`` users."""
    level = np.log(MEDIAN_MINUTES) + rng.normal(0.0, LEVEL_SD, n)
    awake = rng.random(n) >= DORMANT
    weeks = []
    for _ in range(2):
        active = awake & (rng.random(n) < ACTIVE)
        weeks.append(active * np.exp(level + rng.normal(0.0, WEEK_SD, n)))
    return weeks[0], weeks[1]


def _aa(rng: np.random.Generator) -> dict[str, float]:
    fixed = seq = naive = 0
    step = AA_USERS // LOOKS
    for _ in range(AA_RUNS):
        (a, _), (b, _) = draw(rng, AA_USERS), draw(rng, AA_USERS)
        fixed += welch(a, b).p_value < ALPHA
        seq += msprt_path(a, b, looks=LOOKS, alpha=ALPHA).rejected
        naive += any(welch(a[:k], b[:k]).p_value < ALPHA for k in range(step, AA_USERS + 1, step))
    return {"aa_runs": AA_RUNS, "aa_users_per_arm": AA_USERS, "looks": LOOKS,
            "aa_false_positive_rate": fixed / AA_RUNS, "sequential_false_positive_rate": seq / AA_RUNS,
            "naive_peeking_false_positive_rate": naive / AA_RUNS}


def _pilot(rng: np.random.Generator) -> dict[str, float]:
    """Mean, sd and CUPED-adjusted sd of both arms under the planted lift, from a large pilot sample."""
    y, x = draw(rng, 1_000_000)
    y_t = y * (1 + LIFT)
    ys, xs = np.concatenate([y, y_t]), np.concatenate([x, x])
    theta = np.cov(ys, xs)[0, 1] / xs.var(ddof=1)
    adj = [np.var(v - theta * (x - xs.mean()), ddof=1) for v in (y, y_t)]
    return {"mean": float(y.mean()), "sd": float(np.sqrt((y.var() + y_t.var()) / 2)),
            "sd_cuped": float(np.sqrt(np.mean(adj))), "rho": float(np.corrcoef(y, x)[0, 1])}


def _power(rng: np.random.Generator) -> dict[str, float]:
    pilot = _pilot(rng)
    diff = LIFT * pilot["mean"]
    n = sample_size(pilot["sd"], diff, alpha=ALPHA, power=0.8)
    tau2 = planned_tau2(pilot["sd"], n, alpha=ALPHA)
    hits = hits_cuped = hits_seq = 0
    stops = []
    for _ in range(POWER_RUNS):
        (a, a_pre), (b, b_pre) = draw(rng, n), draw(rng, n)
        b = b * (1 + LIFT)
        hits += welch(a, b).p_value < ALPHA
        hits_cuped += cuped(a, a_pre, b, b_pre).p_value < ALPHA
        path = msprt_path(a, b, looks=LOOKS, tau2=tau2, alpha=ALPHA)
        hits_seq += path.rejected
        first = path.first_rejection
        stops.append(1.0 if first is None else float(path.n_a[first]) / n)
    return {"power_runs": POWER_RUNS, "planted_lift": LIFT, "power_users_per_arm": n,
            "pilot_mean_minutes": round(pilot["mean"], 2), "pilot_sd_minutes": round(pilot["sd"], 2),
            "pilot_rho_pre_post": round(pilot["rho"], 3),
            "power_predicted": power(n, pilot["sd"], diff, alpha=ALPHA), "power_observed": hits / POWER_RUNS,
            "cuped_power_predicted": power(n, pilot["sd_cuped"], diff, alpha=ALPHA),
            "cuped_power_observed": hits_cuped / POWER_RUNS,
            "sequential_power_observed": hits_seq / POWER_RUNS,
            "sequential_mean_users_fraction_at_stop": float(np.mean(stops))}


def run(seed: int = 0) -> dict[str, float]:
    """Run every measurement with one seed; returns a flat JSON-able dict (rates as fractions)."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {"seed": seed, "alpha": ALPHA}
    out |= _aa(rng)
    out |= _power(rng)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    print(json.dumps(run(parser.parse_args().seed), indent=1))
