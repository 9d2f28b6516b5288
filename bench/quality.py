"""Recommendation quality on the fixed benchmark splits, next to the tuned peers' numbers.

    python bench/quality.py [--splits ml100k-recbole,lastfm2k,...]

For every split in ../shared/data/benchmarks: each model is tuned on valid NDCG@10 over a small
grid, fit on train, and scored on test (full ranking, masks as the split's protocol says); then a
hybrid blends the best single models with weights tuned on valid. A paired t-test and a
Wilcoxon test over test users compare the hybrid with our run of the split's best peer model
(same parameters as the peer's file). Writes bench/results/quality.json
(split -> model -> test metrics) and the table between the markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from scipy import stats  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from tastemaker.candidates.artist import ArtistDiscovery, artists_from_item_ids  # noqa: E402
from tastemaker.candidates.hybrid import Hybrid, tune_weights  # noqa: E402
from tastemaker.ranking.ltr import Ranker, merge_candidates  # noqa: E402
from tastemaker.evaluation.fixed_split import (  # noqa: E402
    MATRIX_MODELS,
    FixedSplit,
    evaluate_model,
    evaluate_per_user,
)

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data")) / "benchmarks"
RESULTS = ROOT / "bench" / "results" / "quality.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
FAMILIAR = {"spotify-basic-familiar"}
MAX_EASE_ITEMS = 20_000

GRIDS: dict[str, list[dict[str, Any]]] = {
    "pop": [{}],
    "history": [{}],
    "itemknn": [{"k": k, "weighting": w} for k in (50, 100, 200) for w in ("cosine", "bm25")],
    "als": [{"factors": f, "regularization": r, "alpha": a} for f in (64, 128) for r in (10.0, 30.0)
            for a in (0.3, 1.0, 3.0, 10.0)],
    "ease": [{"l2": lam} for lam in (100.0, 250.0, 500.0, 1000.0)],
    # unheard tracks of the listener's own and similar artists (Spotify splits only: items name their artist)
    "artist": [{"similar_weight": w} for w in (0.0, 0.1, 0.3)],
    # ALS with the star ratings as confidence, where the split's source has them (MovieLens)
    "als-rated": [{"factors": 64, "regularization": r, "alpha": a} for r in (10.0, 30.0, 60.0) for a in (0.5, 1.0, 2.0)],
}
#: one EASE fit on 17,632 items takes about 210 s here: tune over the peers' valid-chosen value only
NARROW = {"lastfm2k": {"ease": [{"l2": 50.0}]}}
PEER_TO_OURS = {"pop": "pop", "userpop": "history", "ease": "ease", "als": "als", "itemknn": "itemknn", "bpr": "bpr"}


class PeerBPR:
    """The peers' BPR (``implicit``), rerun only to compare with it user by user; not one of our models."""

    name = "bpr"

    def __init__(self, factors: int, learning_rate: float, iterations: int) -> None:
        self.params = {"factors": factors, "learning_rate": learning_rate, "iterations": iterations}

    def fit(self, X: Any) -> PeerBPR:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.model = BayesianPersonalizedRanking(**self.params, random_state=0)
        self.model.fit(X, show_progress=False)
        return self

    def score(self, users: Any, X: Any) -> Any:
        return self.model.user_factors[users] @ self.model.item_factors.T


#: the Spotify splits' source: their train part is every >= 30 s play before 80 % of each user's span
STREAMS = BENCH.parent / "spotify-streaming-history-basic" / "streams.csv.gz"
HALF_LIVES = (7.0, 14.0, 30.0, 60.0, 120.0, 365.0)


def spotify_train_events(split: FixedSplit) -> pl.DataFrame | None:
    """The train part's plays with their times, rebuilt from the export the split was cut from.

    The split files hold counts only; :meth:`FixedSplit.recency_weights` checks these events
    reproduce every train count exactly before using their times.
    """
    if not split.name.startswith("spotify-basic") or not STREAMS.exists():
        return None
    plays = (pl.read_csv(STREAMS, infer_schema_length=0)
             .filter(pl.col("msPlayed").cast(pl.Int64) >= 30_000)
             .select("user_id", (pl.col("artistName") + "\u241f" + pl.col("trackName")).alias("item_id"),
                     pl.col("endTime").str.to_datetime().alias("ts")))
    cut = plays.group_by("user_id").agg((pl.col("ts").min() + (pl.col("ts").max() - pl.col("ts").min()) * 0.8)
                                        .alias("cut"))
    return plays.join(cut, on="user_id").filter(pl.col("ts") < pl.col("cut")).drop("cut")


RATINGS = BENCH.parent / "movielens-100k" / "u.data.gz"


def movielens_train_ratings(split: FixedSplit) -> Any:
    """The star rating of every train pair of the MovieLens split, as a matrix (side information).

    The split files say only that a user rated a film; the ratings come from the data set the
    split was dumped from, for train pairs only (:meth:`FixedSplit.pair_weights` checks that).
    """
    if not split.name.startswith("ml100k") or not RATINGS.exists():
        return None
    raw = pl.read_csv(RATINGS, separator="\t", has_header=False, new_columns=["user_id", "item_id", "value", "ts"],
                      schema_overrides={"user_id": pl.String, "item_id": pl.String})
    train = split.frames["train"].select("user_id", "item_id")
    return split.pair_weights(train.join(raw.select("user_id", "item_id", "value"), on=["user_id", "item_id"]))


def _fit(split: FixedSplit, name: str, params: dict[str, Any], side: dict[str, Any] | None = None) -> Any:
    side = side or {}
    if name == "artist":  # the Spotify splits' item ids name the artist: "artist\u241ftrack"
        return ArtistDiscovery(artists_from_item_ids(split.items), **params).fit(split.train_weights)
    model = MATRIX_MODELS[name.removesuffix("-rated")](**{k: v for k, v in params.items() if k != "half_life_days"})
    if name == "history":
        hl = params.get("half_life_days")
        return model.fit(split.train_weights if hl is None else split.recency_weights(side["events"], hl))
    if name.endswith("-rated"):
        return model.fit(side["ratings"])
    return model.fit(split.matrices["train"])


def _valid(split: FixedSplit, model: Any) -> float:
    return evaluate_model(split, model, "valid", (10,), split.name in FAMILIAR)["ndcg@10"]


def tune(split: FixedSplit, name: str, side: dict[str, Any]) -> tuple[dict[str, Any], Any, float] | None:
    if name == "ease" and len(split.items) > MAX_EASE_ITEMS:
        return None
    if name.endswith("-rated") and side.get("ratings") is None:
        return None
    if name == "artist" and not split.name.startswith("spotify"):
        return None
    grid = NARROW.get(split.name, {}).get(name, GRIDS[name])
    if name == "history" and side.get("events") is not None:  # recency-weighted re-listening, half-life on valid
        grid = grid + [{"half_life_days": hl} for hl in HALF_LIVES]
    best = None
    for params in grid:
        model = _fit(split, name, params, side)
        score = _valid(split, model)
        if best is None or score > best[2]:
            best = (params, model, score)
    return best


def peer_model(split: FixedSplit, peers: dict[str, Any]) -> tuple[str, Any]:
    """Our run of the peer model with the best test NDCG@10, with the peer's parameters."""
    name, entry = max(((n, e) for n, e in peers.items() if n in PEER_TO_OURS), key=lambda x: x[1]["test"]["ndcg@10"])
    p = entry["params"]
    params = {"ease": {"l2": float(p.get("lambda", 0))},
              "als": {"factors": p.get("factors"), "regularization": p.get("reg"), "alpha": p.get("alpha")},
              "itemknn": {"k": p.get("K"), "weighting": "bm25" if "BM25" in str(p.get("model")) else "cosine"},
              }.get(name, {})
    if name == "bpr":
        return name, PeerBPR(p["factors"], p["lr"], p["iterations"]).fit(split.matrices["train"])
    return name, _fit(split, PEER_TO_OURS[name], params)


def run_split(folder: Path) -> dict[str, Any]:
    split = FixedSplit.load(folder)
    familiar = split.name in FAMILIAR
    peers = json.loads((BENCH / "peers" / f"{split.name}.json").read_text())["models"]
    out: dict[str, Any] = {}
    fitted: dict[str, tuple[Any, float]] = {}
    side = {"events": spotify_train_events(split), "ratings": movielens_train_ratings(split)}
    for name in GRIDS:
        start = time.perf_counter()
        best = tune(split, name, side)
        if best is None:
            if name == "ease":
                out[name] = {"skipped": f"EASE refuses {len(split.items):,} items (memory guard)"}
            continue
        params, model, valid = best
        fitted[name] = (model, valid)
        out[name] = {**evaluate_model(split, model, "test", (10, 20), familiar, beyond=True), "params": params,
                     "valid_ndcg@10": valid, "seconds": round(time.perf_counter() - start, 1)}
        print(split.name, name, out[name], flush=True)
    members = [n for n, _ in sorted(fitted.items(), key=lambda kv: -kv[1][1]) if n != "pop"][:3]
    candidates = []
    for fusion in ("zscore", "rrf"):  # the fusion, like the weights, is chosen on valid
        weights, valid = tune_weights([fitted[n][0] for n in members], lambda h: _valid(split, h), fusion=fusion)
        candidates.append((valid, fusion, weights))
    valid, fusion, weights = max(candidates, key=lambda c: c[0])
    hybrid = Hybrid([fitted[n][0] for n in members], weights, fusion)
    out["hybrid"] = {**evaluate_model(split, hybrid, "test", (10, 20), familiar, beyond=True),
                     "params": {"fusion": fusion, **dict(zip(members, weights, strict=True))}, "valid_ndcg@10": valid}
    start = time.perf_counter()
    ranked = Ranked(split, {n: fitted[n][0] for n in members}, familiar)
    mine = evaluate_per_user(split, ranked, "test", 10, familiar)["ndcg@10"].to_numpy()
    blend = evaluate_per_user(split, hybrid, "test", 10, familiar)["ndcg@10"].to_numpy()
    out["ranker"] = {**evaluate_model(split, ranked, "test", (10, 20), familiar), "rounds": ranked.rounds,
                     "members": members, "seconds": round(time.perf_counter() - start, 1),
                     "vs_hybrid": {"mean_diff": round(float((mine - blend).mean()), 4),
                                   "paired_t_p": float(stats.ttest_rel(mine, blend).pvalue) if (mine - blend).any()
                                   else 1.0}}
    if not familiar:  # over the train catalog only, as for the hybrid below
        out["ranker"]["train_catalog_ndcg@10"] = round(float(evaluate_per_user(
            split, TrainCatalog(ranked, split), "test", 10)["ndcg@10"].mean()), 4)
    print(split.name, "ranker", out["ranker"], flush=True)
    peer_name, peer = peer_model(split, peers)
    ours = evaluate_per_user(split, hybrid, "test", 10, familiar)["ndcg@10"].to_numpy()
    theirs = evaluate_per_user(split, peer, "test", 10, familiar)["ndcg@10"].to_numpy()
    diff = ours - theirs
    out["hybrid"]["vs_best_peer"] = {
        "peer": peer_name, "peer_ndcg@10": peers[peer_name]["test"]["ndcg@10"],
        "peer_rerun_ndcg@10": round(float(theirs.mean()), 4), "users": int(len(diff)),
        "mean_diff": round(float(diff.mean()), 4),
        "paired_t_p": float(stats.ttest_rel(ours, theirs).pvalue) if diff.any() else 1.0,
        "wilcoxon_p": float(stats.wilcoxon(ours, theirs).pvalue) if diff.any() else 1.0,
    }
    if not familiar:  # the same comparison over tracks someone played in train only (see docs/benchmarks.md)
        ours = evaluate_per_user(split, TrainCatalog(hybrid, split), "test", 10)["ndcg@10"].to_numpy()
        theirs = evaluate_per_user(split, TrainCatalog(peer, split), "test", 10)["ndcg@10"].to_numpy()
        out["hybrid"]["vs_best_peer"]["train_catalog"] = {
            "hybrid_ndcg@10": round(float(ours.mean()), 4), "peer_ndcg@10": round(float(theirs.mean()), 4),
            "paired_t_p": float(stats.ttest_rel(ours, theirs).pvalue) if (ours - theirs).any() else 1.0}
    print(split.name, "hybrid", out["hybrid"], flush=True)
    return out


class Ranked:
    """A LightGBM ranker over merged candidates, trained on valid labels (models fit on train only).

    The number of boosting rounds comes from 4-fold early stopping over valid users; the final
    ranker then learns from all valid users. Test lists: the candidates re-scored by the ranker.
    """

    name = "ranker"
    N = 200

    def __init__(self, split: FixedSplit, members: dict[str, Any], familiar: bool) -> None:
        X, V = split.matrices["train"], split.matrices["valid"]
        self.members, self.n = members, min(self.N, X.shape[1] - 1)
        users = np.flatnonzero(np.diff(V.indptr) > 0)
        items, feats, self.names = merge_candidates(members, users, X, None if familiar else X, self.n)
        labels = np.take_along_axis(V[users].toarray(), items, axis=1)
        folds = np.array_split(np.random.default_rng(0).permutation(len(users)), 4)
        rounds = []
        for f, held in enumerate(folds):
            rest = np.concatenate([folds[j] for j in range(4) if j != f])
            r = Ranker(rounds=1000).fit(*self._rows(feats, labels, rest), valid=self._rows(feats, labels, held))
            rounds.append(r.booster_.num_trees())
        self.rounds = max(int(np.mean(rounds)), 1)
        self.ranker = Ranker(rounds=self.rounds).fit(*self._rows(feats, labels, np.arange(len(users))))
        self.mask = None if familiar else X + V  # what test lists may not contain

    def _rows(self, feats: Any, labels: Any, idx: Any) -> tuple[Any, Any, Any]:
        return feats[idx].reshape(-1, feats.shape[-1]), labels[idx].ravel(), np.full(len(idx), self.n)

    def score(self, users: Any, X: Any) -> Any:
        items, feats, _ = merge_candidates(self.members, users, X, self.mask, self.n)
        out = np.full((len(users), X.shape[1]), -np.inf)
        np.put_along_axis(out, items, self.ranker.predict(feats.reshape(-1, feats.shape[-1])).reshape(items.shape), 1)
        return out


class TrainCatalog:
    """A fitted model restricted to items with at least one train interaction.

    A split's catalog is every item of train, valid and test, so an item nobody played in train
    is more likely than not a future play; models that can reach such items (artist discovery,
    via the artist in the id) gain from that. This view takes them away from every model alike.
    """

    def __init__(self, model: Any, split: FixedSplit) -> None:
        self.model, self.name = model, getattr(model, "name", "model")
        self.unseen = np.flatnonzero(np.diff(split.matrices["train"].tocsc().indptr) == 0)

    def score(self, users: Any, X: Any) -> Any:
        scores = np.array(self.model.score(users, X), dtype=np.float64)
        scores[:, self.unseen] = -np.inf
        return scores


def write_doc(results: dict[str, Any]) -> None:
    lines = [BEGIN, "", f"`python bench/quality.py` ({time.strftime('%Y-%m-%d')}). Test NDCG@10 / Recall@10; "
             "each model tuned on valid NDCG@10; best peer = the best tuned peer in "
             "`../shared/data/benchmarks/README.md`. p = paired t-test over test users, hybrid vs our run of "
             "that peer model with its parameters.", "",
             "| split | pop | history | item-kNN | ALS | ALS on ratings | EASE | artist discovery | **hybrid** | ranker | "
             "best peer | hybrid vs peer (p) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for split, models in results.items():
        cell = lambda m: f"{models[m]['ndcg@10']:.4f} / {models[m]['recall@10']:.4f}" if "ndcg@10" in models.get(m, {}) else "—"  # noqa: E731
        vs = models["hybrid"]["vs_best_peer"]
        lines.append(f"| {split} | {cell('pop')} | {cell('history')} | {cell('itemknn')} | {cell('als')} | {cell('als-rated')} | "
                     f"{cell('ease')} | {cell('artist')} | **{cell('hybrid')}** | {cell('ranker')} | {vs['peer']} {vs['peer_ndcg@10']:.4f} | "
                     f"{vs['mean_diff']:+.4f} (p={vs['paired_t_p']:.2g}) |")
    text = DOC.read_text()
    if BEGIN not in text:
        text += "\n## Recommendation quality (fixed splits)\n\n" + BEGIN + "\n" + END + "\n"
    head, _, rest = text.partition(BEGIN)
    DOC.write_text(head + "\n".join(lines + ["", END]) + rest.partition(END)[2])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--splits", default="ml100k-recbole,spotify-basic-discovery,spotify-basic-familiar,lastfm2k")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with threadpool_limits(2, "blas"):
        for name in args.splits.split(","):
            results[name] = run_split(BENCH / name)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_doc(results)


if __name__ == "__main__":
    main()
