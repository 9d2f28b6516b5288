"""Next-track prediction on real listening logs: item2vec against two baselines.

    python bench/next_track.py [--datasets spotify-extended,spotify-basic]

Protocol, per dataset: a play is a stream of at least 30 s; per listener, plays in time order,
the first 80 % of that listener's time span is train, the rest test. For every test play the
models see the listener's previous 5 plays (train plays included) and rank every item heard in
train; the 5 context items are never ranked (so a replay of one of them is a miss for every
model; ``target_in_context`` says how often that happens). HitRate@10 and MRR@10 over all test
plays (a target never played in train is a miss too: ``target_unseen_in_train``), and per user.

Models, all fit on train only: ``popular`` (train play counts); ``cooccurrence`` (how many train
sessions hold both a context item and the candidate, summed with the same recency weights,
ties broken by popularity); ``item2vec`` (:class:`tastemaker.candidates.sequence.Item2Vec`).
Settings of item2vec (window, down-sampling, recency decay, whether candidates are matched by
their context or their item vectors) and the recency decay of co-occurrence are chosen on a validation
cut (fit on the first 70 % of each span, score the 70-80 % plays), then refit on the full 80 %.
Sessions break at gaps over 30 minutes. Writes bench/results/next_track.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.candidates.sequence import Item2Vec, sessionize

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "next_track.json"
CONTEXT, K, MIN_MS = 5, 10, 30_000
DECAYS = (1.0, 0.7, 0.4)
ITEM2VEC_GRID = [{"window": w, "sample": s, "dim": 64, "epochs": 20} for w in (3, 10) for s in (0.0, 1e-3)]
CHUNK = 1024


def spotify_extended() -> pl.DataFrame:
    """Tracks played >= 30 s in the extended export, item = track URI."""
    raw = pl.read_csv(DATA / "spotify-extended-streaming-history-sample" / "events.csv.gz", infer_schema_length=0)
    return raw.filter(pl.col("spotify_track_uri").is_not_null() & (pl.col("ms_played").cast(pl.Int64) >= MIN_MS)).select(
        "user_id", pl.col("spotify_track_uri").alias("item_id"), pl.col("ts").str.to_datetime(time_zone="UTC"))


def spotify_basic() -> pl.DataFrame:
    """Streams >= 30 s in the 26-listener account export, item = artist + U+241F + track (minute times)."""
    raw = pl.read_csv(DATA / "spotify-streaming-history-basic" / "streams.csv.gz", infer_schema_length=0)
    return raw.filter(pl.col("msPlayed").cast(pl.Int64) >= MIN_MS).select(
        "user_id", (pl.col("artistName") + "\u241f" + pl.col("trackName")).alias("item_id"),
        pl.col("endTime").str.to_datetime("%Y-%m-%d %H:%M", time_zone="UTC").alias("ts"))


DATASETS: dict[str, Callable[[], pl.DataFrame]] = {"spotify-extended": spotify_extended, "spotify-basic": spotify_basic}


def time_cut(plays: pl.DataFrame, start: float, end: float) -> pl.DataFrame:
    """Plays (ordered per user, with their position) whose time lies in [start, end) of the user's span."""
    first, last = pl.col("ts").min().over("user_id"), pl.col("ts").max().over("user_id")
    at = (pl.col("ts") - first).dt.total_seconds() / (last - first).dt.total_seconds()
    return plays.filter((at >= start) & ((at < end) | (end >= 1.0)))


def targets(plays: pl.DataFrame, part: pl.DataFrame) -> tuple[list[list[str]], np.ndarray, np.ndarray]:
    """(previous ``CONTEXT`` plays, target item, user) for each play of ``part`` that has that many before it."""
    items = plays.group_by("user_id", maintain_order=True).agg("item_id")
    history = dict(zip(items["user_id"].to_list(), items["item_id"].to_list(), strict=True))
    keep = part.filter(pl.col("pos") >= CONTEXT)
    contexts = [history[u][p - CONTEXT:p] for u, p in zip(keep["user_id"].to_list(), keep["pos"].to_list(),
                                                            strict=True)]
    return contexts, keep["item_id"].to_numpy().astype(str), keep["user_id"].to_numpy().astype(str)


class Baselines:
    """Popularity and session co-occurrence over a catalogue of train items (sorted ids)."""

    def __init__(self, train: pl.DataFrame, catalogue: np.ndarray) -> None:
        self.catalogue = catalogue
        cols = np.searchsorted(catalogue, train["item_id"].to_numpy().astype(str))
        self.popularity = np.bincount(cols, minlength=len(catalogue)).astype(np.float64)
        sessions = sessionize(train).select("session", "item_id").unique()
        rows = sessions["session"].to_numpy()
        S = sp.csr_matrix((np.ones(len(rows), dtype=np.float32),
                           (rows - rows.min(), np.searchsorted(catalogue, sessions["item_id"].to_numpy().astype(str)))),
                          shape=(int(rows.max() - rows.min() + 1), len(catalogue)))
        C = (S.T @ S).tocsr()
        C.setdiag(0)
        C.eliminate_zeros()
        self.cooccurrence = C

    def popular(self, contexts: list[list[str]]) -> np.ndarray:
        return np.tile(self.popularity, (len(contexts), 1))

    def cooccurring(self, contexts: list[list[str]], decay: float) -> np.ndarray:
        W = context_weights(contexts, self.catalogue, decay)
        tie_break = self.popularity / (self.popularity.max() * 1e3)  # below one shared session
        return np.asarray((W @ self.cooccurrence).todense()) + tie_break


def context_weights(contexts: list[list[str]], catalogue: np.ndarray, decay: float) -> sp.csr_matrix:
    """Rows of recency weights (``decay ** steps_back``) on the known context items."""
    rows, cols, vals = [], [], []
    for r, items in enumerate(contexts):
        index = np.minimum(np.searchsorted(catalogue, np.asarray(items, dtype=str)), len(catalogue) - 1)
        known = catalogue[index] == np.asarray(items, dtype=str)
        back = len(items) - 1 - np.flatnonzero(known)
        rows += [r] * int(known.sum())
        cols += index[known].tolist()
        vals += (decay ** back.astype(np.float64)).tolist()
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(contexts), len(catalogue)))


def ranks(score: Callable[[list[list[str]]], np.ndarray], contexts: list[list[str]], target: np.ndarray,
          catalogue: np.ndarray) -> np.ndarray:
    """Rank of each target among the catalogue minus its context (ties counted against it); 0 = not rankable."""
    out = np.zeros(len(target), dtype=np.int64)
    for start in range(0, len(target), CHUNK):
        chunk = slice(start, start + CHUNK)
        scores = np.asarray(score(contexts[chunk]), dtype=np.float64)
        excluded = context_weights(contexts[chunk], catalogue, 1.0).nonzero()
        scores[excluded] = -np.inf
        col = np.minimum(np.searchsorted(catalogue, target[chunk]), len(catalogue) - 1)
        rankable = (catalogue[col] == target[chunk])
        mine = scores[np.arange(len(col)), col]
        rankable &= np.isfinite(mine)
        rank = (scores > mine[:, None]).sum(axis=1) + (scores == mine[:, None]).sum(axis=1)
        out[chunk] = np.where(rankable, rank, 0)
    return out


def metrics(rank: np.ndarray, users: np.ndarray | None = None) -> dict[str, Any]:
    hit = (rank >= 1) & (rank <= K)
    rr = np.where(hit, 1.0 / np.maximum(rank, 1), 0.0)
    result: dict[str, Any] = {f"hitrate@{K}": round(float(hit.mean()), 4), f"mrr@{K}": round(float(rr.mean()), 4)}
    if users is not None:
        result["per_user"] = {u: metrics(rank[users == u]) | {"plays": int((users == u).sum())}
                              for u in np.unique(users)}
    return result


def evaluate(plays: pl.DataFrame, train: pl.DataFrame, part: pl.DataFrame,
             choose: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit on ``train``, score ``part``; with ``choose`` None, every setting of the grids is scored."""
    catalogue = np.unique(train["item_id"].to_numpy().astype(str))
    contexts, target, users = targets(plays, part)
    base = Baselines(train, catalogue)
    out: dict[str, Any] = {"test_plays": len(target), "train_plays": train.height, "catalogue": len(catalogue),
                           "target_in_context": round(float(np.mean([t in c for t, c in zip(target, contexts,
                                                                                             strict=True)])), 4),
                           "target_unseen_in_train": round(float(np.mean(~np.isin(target, catalogue))), 4)}
    out["popular"] = metrics(ranks(base.popular, contexts, target, catalogue), users)
    decays = DECAYS if choose is None else (choose["cooccurrence_decay"],)
    out["cooccurrence"] = {str(d): metrics(ranks(lambda c, d=d: base.cooccurring(c, d), contexts, target, catalogue),
                                           users) | {"decay": d} for d in decays}
    grid = ITEM2VEC_GRID if choose is None else [choose["item2vec"]]
    out["item2vec"] = {}
    for params in grid:
        started = time.perf_counter()
        model = Item2Vec(**params).fit_plays(train)
        fit_s = round(time.perf_counter() - started, 1)
        assert np.array_equal(model.item_ids_, catalogue)
        scoring = ([{"recency_decay": d, "next_by": b} for d in DECAYS for b in ("context", "item")] if choose is None
                   else [{"recency_decay": params["recency_decay"], "next_by": params["next_by"]}])
        for how in scoring:
            model.params = replace(model.params, **how)  # only scoring reads these: no refit
            key = json.dumps({**params, **how})
            out["item2vec"][key] = metrics(ranks(model.score, contexts, target, catalogue), users) | {"fit_s": fit_s}
    return out


def run(name: str) -> dict[str, Any]:
    plays = DATASETS[name]().with_row_index("_file_order").sort("user_id", "ts", "_file_order").drop("_file_order")
    plays = plays.with_columns(pl.int_range(pl.len()).over("user_id").alias("pos"))
    started = time.perf_counter()
    valid = evaluate(plays, time_cut(plays, 0.0, 0.7), time_cut(plays, 0.7, 0.8))
    hit = f"hitrate@{K}"
    best_cooc = max(valid["cooccurrence"].values(), key=lambda r: r[hit])["decay"]
    best_key = max(valid["item2vec"], key=lambda key: valid["item2vec"][key][hit])
    choice = {"cooccurrence_decay": best_cooc, "item2vec": json.loads(best_key)}
    test = evaluate(plays, time_cut(plays, 0.0, 0.8), time_cut(plays, 0.8, 1.0), choice)
    summary = {"popular": test["popular"], "cooccurrence": next(iter(test["cooccurrence"].values())),
               "item2vec": next(iter(test["item2vec"].values()))}
    return {"users": plays["user_id"].n_unique(), "plays": plays.height, "chosen_on_valid": choice,
            "valid": {k: _drop_per_user(v) for k, v in valid.items()},
            "test": {k: v for k, v in test.items() if k not in summary} | summary,
            "seconds": round(time.perf_counter() - started, 1)}


def _drop_per_user(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_per_user(v) for k, v in value.items() if k != "per_user"}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated: {', '.join(DATASETS)}")
    names = parser.parse_args().datasets.split(",")
    unknown = set(names) - set(DATASETS)
    if unknown:
        parser.error(f"unknown datasets {sorted(unknown)}; known: {', '.join(DATASETS)}")
    results = {"protocol": {"context": CONTEXT, "k": K, "min_ms_played": MIN_MS, "train_share_of_time": 0.8,
                            "valid_cut": [0.7, 0.8], "session_gap_minutes": 30},
               "datasets": {name: run(name) for name in names}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({n: {**r["test"], "chosen_on_valid": r["chosen_on_valid"]} for n, r in results["datasets"].items()},
                     indent=1, default=str)[:6000])


if __name__ == "__main__":
    main()
