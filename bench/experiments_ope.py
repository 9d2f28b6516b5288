"""Off-policy evaluation in the listener world: do IPS, SNIPS and DR recover a policy's true value?

    python bench/experiments_ope.py [--seed 0] [--seeds 1] [--users 2000] [--candidates 100]
                                    [--log-rounds 50] [--true-rounds 100]

World ``WorldConfig(seed, n_users, n_tracks=3000, days=14)``: its 14-day organic history gives
track popularity and a quick ALS (factors 32). Every listener with a play in the history is a
context; the actions are the ``--candidates`` most played tracks (the same set for everyone).
Each decision shows a listener one track on day 14; the reward is a play of at least 30 s
(``World.respond(..., update=False)``, so the world stays stationary and decisions are i.i.d.).

Policies over the candidates (all softmaxes over z-scored scores):

- ``logging``: 0.7 · softmax(popularity) + 0.3 · uniform (explores every candidate);
- ``popularity-sharp``: softmax(3 · popularity), a greedier popularity ranker;
- ``als``: softmax(2 · ALS score), a personal model;
- ``uniform``: every candidate alike.

The logging policy is run for ``--log-rounds`` rounds (one decision per listener and round);
only these logs feed the estimators. DR's reward model is additive (shrunk listener and track
mean rewards plus a slope on the ALS score), cross-fitted over two halves of the rounds. The
true value of each target is measured on-policy, ``--true-rounds`` rounds of the same listeners,
with a 95 % normal interval.
Prints ``{"ope": [...], "config": ...}`` as JSON; with ``--seeds K``, K runs and their summary.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from tastemaker.candidates.als import ALS  # noqa: E402
from tastemaker.experiments.ope import Estimate, dr, ips, snips  # noqa: E402
from tastemaker.simulate import World, WorldConfig  # noqa: E402

MIN_MS = 30_000


@dataclass(frozen=True, slots=True)
class Setting:
    """The world, its listeners (indices) and the candidate tracks (indices) with their scores."""

    world: World
    users: np.ndarray
    candidates: np.ndarray
    popularity: np.ndarray  # (C,) z-scored log play counts
    als: np.ndarray  # (n_users, C) z-scored per listener


def _z(x: np.ndarray, axis: int = -1) -> np.ndarray:
    sd = x.std(axis=axis, keepdims=True)
    return (x - x.mean(axis=axis, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def setting(seed: int, n_users: int, n_candidates: int) -> Setting:
    """Generate the history, pick the candidates and fit ALS on the plays."""
    world = World(WorldConfig(seed=seed, n_users=n_users, n_tracks=3000, days=14))
    events = pa.concat_tables(world.generate_events())
    plays = events.filter(pc.equal(events["type"], "play"))
    u = world.user_index(plays["user_id"].to_numpy(zero_copy_only=False))
    t = world.track_index(plays["item_id"].to_numpy(zero_copy_only=False))
    counts = np.bincount(t, minlength=world.catalog.n_tracks)
    candidates = np.argsort(-counts, kind="stable")[:n_candidates]
    users = np.unique(u)
    shape = (world.listeners.n, world.catalog.n_tracks)
    X = sp.csr_matrix((np.ones(u.size, np.float32), (u, t)), shape=shape)
    X.data[:] = 1.0  # binary: played at least once
    model = ALS(factors=32, regularization=10.0, alpha=3.0, iterations=10, random_state=seed).fit(X)
    als = model.score(users, X)[:, candidates]
    return Setting(world, users, candidates, _z(np.log1p(counts[candidates].astype(float))), _z(als))


def policies(s: Setting) -> dict[str, np.ndarray]:
    """Each policy's ``(n_users, C)`` probabilities over the candidates."""
    n, c = s.users.size, s.candidates.size
    pop = np.broadcast_to(s.popularity, (n, c))
    uniform = np.full((n, c), 1.0 / c)
    return {"logging": 0.7 * _softmax(pop) + 0.3 * uniform, "popularity-sharp": _softmax(3.0 * pop),
            "als": _softmax(2.0 * s.als), "uniform": uniform}


def _draw(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One candidate column per row of ``probs`` (inverse-CDF sampling)."""
    return np.minimum((rng.random(probs.shape[0])[:, None] > np.cumsum(probs, axis=1)).sum(axis=1),
                      probs.shape[1] - 1)


def rounds(s: Setting, probs: np.ndarray, n_rounds: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run a policy: ``(actions, rewards)``, each ``(n_rounds, n_users)``."""
    actions = np.empty((n_rounds, s.users.size), np.int64)
    rewards = np.empty((n_rounds, s.users.size))
    for r in range(n_rounds):
        actions[r] = _draw(rng, probs)
        out = s.world.respond(s.users, s.candidates[actions[r]][:, None], s.world.day, rng, update=False)
        rewards[r] = (out.ms_played[:, 0] >= MIN_MS).astype(float)
    return actions, rewards


def reward_model(actions: np.ndarray, rewards: np.ndarray, als: np.ndarray,
                 shrink: float = 5.0) -> np.ndarray:
    """``(n_users, C)`` predictions: mean + listener effect + track effect + slope · ALS score, clipped."""
    n_rounds, n_candidates = actions.shape[0], als.shape[1]
    mean = rewards.mean()
    user = (rewards - mean).sum(axis=0) / (n_rounds + shrink)
    resid = rewards - mean - user[None, :]
    track = (np.bincount(actions.ravel(), resid.ravel(), n_candidates)
             / (np.bincount(actions.ravel(), minlength=n_candidates) + shrink))
    resid = resid - track[actions]
    score = np.take_along_axis(als, actions.T, axis=1).T
    slope = float((score * resid).sum() / max((score**2).sum(), 1e-12))
    return np.clip(mean + user[:, None] + track[None, :] + slope * als, 0.0, 1.0)


def estimates(probs: dict[str, np.ndarray], als: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
              target: str) -> list[Estimate]:
    """IPS, SNIPS and cross-fitted DR of ``target`` from the logged rounds."""
    n_rounds, n_users = actions.shape
    users = np.tile(np.arange(n_users), n_rounds)
    a, r = actions.ravel(), rewards.ravel()
    p0, pi = probs["logging"][users, a], probs[target][users, a]
    half = np.repeat(np.arange(n_rounds) % 2, n_users)
    preds = np.empty((a.size, als.shape[1]))
    for fold in (0, 1):  # predictions for one half come from a model fit on the other half
        other = np.arange(n_rounds) % 2 != fold
        preds[half == fold] = reward_model(actions[other], rewards[other], als)[users[half == fold]]
    return [ips(r, p0, pi), snips(r, p0, pi), dr(r, p0, a, probs[target][users], preds)]


def _row(target: str, est: Estimate, truth: float, t_lo: float, t_hi: float) -> dict[str, Any]:
    return {"policy": target, "estimator": est.estimator, "estimate": est.value, "true_value": truth,
            "ci_low": est.ci_low, "ci_high": est.ci_high, "true_ci_low": t_lo, "true_ci_high": t_hi,
            "std_err": est.std_err, "ess": est.ess, "within_true_ci": t_lo <= est.value <= t_hi,
            "ci_covers_truth": est.ci_low <= truth <= est.ci_high}


def run(seed: int = 0, n_users: int = 2000, n_candidates: int = 100, log_rounds: int = 50,
        true_rounds: int = 100) -> dict[str, Any]:
    """The OPE study: one row per (target policy, estimator)."""
    started = time.perf_counter()
    s = setting(seed, n_users, n_candidates)
    probs = policies(s)
    rng = np.random.default_rng([seed, 1])
    actions, rewards = rounds(s, probs["logging"], log_rounds, rng)
    rows: list[dict[str, Any]] = []
    for target in ("popularity-sharp", "als", "uniform"):
        _, on_policy = rounds(s, probs[target], true_rounds, rng)
        truth, se = float(on_policy.mean()), float(on_policy.std(ddof=1) / np.sqrt(on_policy.size))
        t_lo, t_hi = truth - 1.959964 * se, truth + 1.959964 * se
        found = estimates(probs, s.als, actions, rewards, target)
        rows += [_row(target, est, truth, t_lo, t_hi) for est in found]
    config = {"seed": seed, "n_users": n_users, "listeners": int(s.users.size), "candidates": n_candidates,
              "logged_decisions": int(actions.size), "on_policy_decisions": int(true_rounds * s.users.size),
              "seconds": round(time.perf_counter() - started, 1)}
    return {"ope": rows, "logging_value": float(rewards.mean()), "config": config}


def across_seeds(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (policy, estimator): share of seeds whose interval covers the truth / whose estimate is in
    the true interval, and the mean and spread of ``(estimate - truth) / combined standard error``."""
    out = []
    for first in runs[0]["ope"]:
        key = (first["policy"], first["estimator"])
        rows = [r for run_ in runs for r in run_["ope"] if (r["policy"], r["estimator"]) == key]
        z = [(r["estimate"] - r["true_value"])
             / np.hypot(r["std_err"], (r["true_ci_high"] - r["true_ci_low"]) / (2 * 1.959964)) for r in rows]
        out.append({"policy": key[0], "estimator": key[1], "seeds": len(rows),
                    "ci_covers_truth": float(np.mean([r["ci_covers_truth"] for r in rows])),
                    "within_true_ci": float(np.mean([r["within_true_ci"] for r in rows])),
                    "z_mean": float(np.mean(z)), "z_sd": float(np.std(z, ddof=1)) if len(z) > 1 else 0.0})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="run seeds seed .. seed+seeds-1, summarise")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--log-rounds", type=int, default=50)
    parser.add_argument("--true-rounds", type=int, default=100)
    args = parser.parse_args()
    runs = [run(args.seed + i, args.users, args.candidates, args.log_rounds, args.true_rounds)
            for i in range(args.seeds)]
    result = runs[0] if args.seeds == 1 else {"runs": runs, "across_seeds": across_seeds(runs)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
