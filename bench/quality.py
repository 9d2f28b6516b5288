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
import scipy.sparse as sp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from tastemaker.candidates.artist import ArtistDiscovery, artists_from_item_ids  # noqa: E402
from tastemaker.candidates.hybrid import Hybrid, coordinate_weights  # noqa: E402
from tastemaker.candidates.slim import SLIM  # noqa: E402
from tastemaker.ranking.candidate_features import (  # noqa: E402
    ArtistAffinity,
    CoListening,
    FeatureSource,
    FriendsListening,
)
from tastemaker.ranking.residual import CorrectionSearch, Corrections, candidate_pool, fit_corrections  # noqa: E402
from tastemaker.evaluation.fixed_split import (  # noqa: E402
    MATRIX_MODELS,
    FixedSplit,
    evaluate_model,
    evaluate_per_user,
)
from tastemaker.evaluation.significance import mean_interval, paired  # noqa: E402

from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data")) / "benchmarks"
RESULTS = ROOT / "bench" / "results" / "quality.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
FAMILIAR = {"spotify-basic-familiar"}
#: item-item models run only up to a catalog size: name -> (most items, why). RP3beta's walk matrix holds every
#: pair of items a user shares: on the Spotify splits (thousands of tracks per listener) that is hundreds of
#: millions of pairs, so it runs under EASE's guard; SLIM fits one regression per item (about 5 s on 1,682 films)
ITEM_MATRIX = (20_000, "memory guard: an item x item matrix")
MAX_ITEMS = {"ease": ITEM_MATRIX, "rp3beta": ITEM_MATRIX, "slim": (SLIM().max_items, "one regression per item")}

GRIDS: dict[str, list[dict[str, Any]]] = {
    "pop": [{}],
    "history": [{}],
    "itemknn": [{"k": k, "weighting": w} for k in (50, 100, 200) for w in ("cosine", "bm25")],
    "als": [{"factors": f, "regularization": r, "alpha": a} for f in (64, 128) for r in (10.0, 30.0)
            for a in (0.3, 1.0, 3.0, 10.0)],
    "ease": [{"l2": lam} for lam in (100.0, 250.0, 500.0, 1000.0)],
    # unheard tracks of the listener's own and similar artists (Spotify splits only: items name their artist)
    "artist": [{"similar_weight": w} for w in (0.0, 0.1, 0.3)],
    # ALS with listening-aware confidence: the star ratings where the split's source has them (MovieLens),
    # else log(1 + plays) where train counts plays (Last.fm, Spotify); the first part suits stars, the second counts
    "als-weighted": [{"factors": 64, "regularization": r, "alpha": a} for r in (10.0, 30.0, 60.0) for a in (0.5, 1.0, 2.0)]
    + [{"factors": f, "regularization": r, "alpha": a} for f in (128, 256) for r in (30.0, 50.0, 80.0) for a in (1.0, 2.0, 3.0)],
    # random walk item -> user -> item with a popularity penalty (Paudel et al. 2016)
    "rp3beta": [{"alpha": a, "beta": b, "k": k} for a in (0.5, 0.75, 1.0) for b in (0.0, 0.2, 0.4, 0.6)
                for k in (100, 400)],
    # sparse non-negative item-item regressions (Ning & Karypis 2011): elastic-net strength x L1 share
    "slim": [{"alpha": a, "l1_ratio": r} for a in (0.02, 0.05, 0.1) for r in (0.01, 0.05, 0.2)],
}
#: our models on a split: the evaluation module's table plus the ones only the bench runs so far
MODELS = MATRIX_MODELS
#: one EASE fit on 17,632 items takes about 210 s here: tune over the peers' valid-chosen value only
NARROW = {"lastfm2k": {"ease": [{"l2": 50.0}]},
          # ALS is far behind history and artist discovery there (tens of thousands of tracks per fit): a short grid
          **{name: {"als-weighted": [{"factors": 128, "regularization": r, "alpha": a} for r in (30.0, 50.0)
                                     for a in (1.0, 2.0)]} for name in ("spotify-basic-discovery", "spotify-basic-familiar")}}
PEER_TO_OURS = {"pop": "pop", "userpop": "history", "ease": "ease", "als": "als", "itemknn": "itemknn", "bpr": "bpr"}


class PeerBPR:
    """The peers' BPR (``implicit``), rerun only to compare with it user by user; not one of our models."""

    name = "bpr"

    def __init__(self, factors: int, learning_rate: float, iterations: int) -> None:
        self.params = {"factors": factors, "learning_rate": learning_rate, "iterations": iterations}

    def fit(self, X: Any) -> PeerBPR:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        # one thread: implicit's BPR updates factors from several threads at once (Hogwild), so a
        # seeded multi-threaded fit still differs from run to run
        self.model = BayesianPersonalizedRanking(**self.params, random_state=0, num_threads=1)
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


FRIENDS = BENCH.parent / "lastfm-hetrec2011-2k" / "user_friends.dat"


def lastfm_friends(split: FixedSplit) -> Any:
    """The Last.fm split's social graph (users × users, row = whom the user befriended), or ``None``.

    Friendships are side information of the data set the split was cut from; they say nothing
    about what anyone played, so only train histories reach the ranker through them.
    """
    if split.name != "lastfm2k" or not FRIENDS.exists():
        return None
    pairs = pl.read_csv(FRIENDS, separator="\t", schema_overrides={"userID": pl.String, "friendID": pl.String})
    index = pl.DataFrame({"user_id": split.users, "u": np.arange(len(split.users))})
    pairs = (pairs.join(index, left_on="userID", right_on="user_id")
             .join(index.rename({"u": "f"}), left_on="friendID", right_on="user_id"))
    return sp.csr_matrix((np.ones(pairs.height), (pairs["u"].to_numpy(), pairs["f"].to_numpy())),
                         shape=(len(split.users), len(split.users)))


#: on the time-cut splits the ranker also learns from an earlier period: each listener's train span is cut at
#: this fraction (7/8 of the first 80 % is about 70 % of the whole span, as valid is the next 10 % after 80 %)
EARLIER = 7 / 8


def earlier_period(split: FixedSplit, events: pl.DataFrame | None, familiar: bool) -> tuple[FixedSplit, pl.DataFrame] | None:
    """The split as it stood at :data:`EARLIER` of each listener's train span, cut from train alone.

    Its train part is the plays before the cut (counts as ``weight``), its valid part what the
    listener played from the cut to the end of train (only tracks new to them, unless
    ``familiar``), its test part empty; the ids map is the split's. Returns that split and its
    train plays (the events of :func:`spotify_train_events` before the cut), or ``None`` where
    the split has no timed events.
    """
    if events is None:
        return None
    ts = pl.col("ts")
    cut = (ts.min() + (ts.max() - ts.min()) * EARLIER).over("user_id")
    timed = events.with_columns(cut.alias("cut"))
    before = timed.filter(ts < pl.col("cut")).drop("cut")
    train = before.group_by("user_id", "item_id").agg(pl.len().cast(pl.Int64).alias("weight"))
    later = timed.filter(ts >= pl.col("cut")).select("user_id", "item_id").unique()
    if not familiar:
        later = later.join(train, on=["user_id", "item_id"], how="anti")
    frames = {"train": train, "valid": later, "test": later.clear()}
    return FixedSplit.from_frames(f"{split.name}-earlier", frames, split.users, split.items), before


def listening_weights(split: FixedSplit) -> Any:
    """The confidence matrix of ``als-weighted``: the star ratings on MovieLens, else log(1 + plays) where
    the split's train counts plays (a weight column), else ``None``."""
    ratings = movielens_train_ratings(split)
    if ratings is not None or "weight" not in split.frames["train"].columns:
        return ratings
    weights = split.train_weights.tocsr().astype(np.float64)
    weights.data = np.log1p(weights.data)
    return weights


def _fit(split: FixedSplit, name: str, params: dict[str, Any], side: dict[str, Any] | None = None) -> Any:
    side = side or {}
    if name == "artist":  # the Spotify splits' item ids name the artist: "artist\u241ftrack"
        return ArtistDiscovery(artists_from_item_ids(split.items), **params).fit(split.train_weights)
    model = MODELS[name.removesuffix("-weighted")](**{k: v for k, v in params.items() if k != "half_life_days"})
    if name == "history":
        hl = params.get("half_life_days")
        return model.fit(split.train_weights if hl is None else split.recency_weights(side["events"], hl))
    if name.endswith("-weighted"):
        return model.fit(side["weights"])
    return model.fit(split.matrices["train"])


def _valid(split: FixedSplit, model: Any) -> float:
    return evaluate_model(split, model, "valid", (10,), split.name in FAMILIAR)["ndcg@10"]


def too_large(split: FixedSplit, name: str) -> str | None:
    """Why ``name`` is not run on ``split`` (its catalog is above the model's :data:`MAX_ITEMS`), else ``None``."""
    most, why = MAX_ITEMS.get(name, (len(split.items), ""))
    return f"not run on {len(split.items):,} items ({why})" if len(split.items) > most else None


def tune(split: FixedSplit, name: str, side: dict[str, Any]) -> tuple[dict[str, Any], Any, float] | None:
    if too_large(split, name):
        return None
    if name.endswith("-weighted") and side.get("weights") is None:
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
    side = {"events": spotify_train_events(split), "weights": listening_weights(split), "friends": lastfm_friends(split)}
    for name in GRIDS:
        start = time.perf_counter()
        best = tune(split, name, side)
        if best is None:
            if reason := too_large(split, name):
                out[name] = {"skipped": reason}
            continue
        params, model, valid = best
        fitted[name] = (model, valid)
        out[name] = {**evaluate_model(split, model, "test", (10, 20), familiar, beyond=True), "params": params,
                     "valid_ndcg@10": valid, "seconds": round(time.perf_counter() - start, 1)}
        print(split.name, name, out[name], flush=True)
    hybrid, out["hybrid"] = blend(split, {n: Memo(m) for n, (m, _) in fitted.items()},
                                  {n: v for n, (_, v) in fitted.items()})
    out["hybrid"] = {**evaluate_model(split, hybrid, "test", (10, 20), familiar, beyond=True), **out["hybrid"]}
    start = time.perf_counter()
    cut = earlier_period(split, side["events"], familiar)
    early = None if cut is None else (cut[0], {"events": cut[1], "weights": listening_weights(cut[0]), "friends": None},
                                      {name: out[name]["params"] for name in out["hybrid"]["members"]})
    ranked = Ranked(split, hybrid, out["hybrid"]["members"], familiar, feature_sources(split, side), early)
    mine = evaluate_per_user(split, ranked, "test", 10, familiar)
    ours = evaluate_per_user(split, hybrid, "test", 10, familiar)
    out["ranker"] = {**evaluate_model(split, ranked, "test", (10, 20), familiar), "ndcg@10_ci95": interval(mine),
                     **ranked.describe(), "seconds": round(time.perf_counter() - start, 1),
                     "vs_hybrid": comparison(ours, mine)}
    if not familiar:  # over the train catalog only, as for the hybrid below
        out["ranker"]["train_catalog_ndcg@10"] = round(float(evaluate_per_user(
            split, TrainCatalog(ranked, split), "test", 10)["ndcg@10"].mean()), 4)
    print(split.name, "ranker", out["ranker"], flush=True)
    peer_name, peer = peer_model(split, peers)
    theirs = evaluate_per_user(split, peer, "test", 10, familiar)
    out["hybrid"]["ndcg@10_ci95"] = interval(ours)
    out["hybrid"]["vs_best_peer"] = {
        "peer": peer_name, "peer_ndcg@10": peers[peer_name]["test"]["ndcg@10"],
        "peer_rerun_ndcg@10": round(float(theirs["ndcg@10"].mean()), 4), "users": theirs.height,
        **comparison(theirs, ours)}
    if not familiar:  # the same comparison over tracks someone played in train only (see docs/benchmarks.md)
        ours = evaluate_per_user(split, TrainCatalog(hybrid, split), "test", 10)
        theirs = evaluate_per_user(split, TrainCatalog(peer, split), "test", 10)
        out["hybrid"]["vs_best_peer"]["train_catalog"] = {
            "hybrid_ndcg@10": round(float(ours["ndcg@10"].mean()), 4),
            "peer_ndcg@10": round(float(theirs["ndcg@10"].mean()), 4), **comparison(theirs, ours)}
    print(split.name, "hybrid", out["hybrid"], flush=True)
    return out


def interval(per_user: pl.DataFrame) -> list[float]:
    """A bootstrap 95 % interval of the mean NDCG@10 over ``per_user``'s users (test users differ in luck)."""
    return [round(x, 4) for x in mean_interval(per_user["ndcg@10"].to_numpy())]


def comparison(a: pl.DataFrame, b: pl.DataFrame) -> dict[str, Any]:
    """B minus A on NDCG@10, user by user: the mean, its bootstrap 95 % interval, a paired t-test and a Wilcoxon test."""
    result = paired(a, b)
    return {"mean_diff": round(result.diff, 4), "diff_ci95": [round(result.ci_low, 4), round(result.ci_high, 4)],
            "paired_t_p": result.t_p, "wilcoxon_p": result.wilcoxon_p}


class Memo:
    """A fitted model whose scores are kept per batch of users: blend tuning asks for the same batches often."""

    def __init__(self, model: Any) -> None:
        self.model, self.name, self.cache = model, getattr(model, "name", "model"), {}

    def score(self, users: Any, X: Any) -> Any:
        key = (np.asarray(users).tobytes(), X.shape, X.nnz)
        if key not in self.cache:
            self.cache[key] = np.asarray(self.model.score(users, X), dtype=np.float64)
        return self.cache[key]


def blend(split: FixedSplit, models: dict[str, Any], valid: dict[str, float]) -> tuple[Hybrid, dict[str, Any]]:
    """The hybrid: every fitted model but popularity may join, weights by coordinate ascent on valid.

    The best single model on valid starts at weight 1; the others, best first, are tried one at
    a time over a grid (0 leaves a model out), for z-score and for reciprocal-rank fusion.
    """
    names = [n for n in sorted(valid, key=lambda n: -valid[n]) if n != "pop"]
    best = None
    for fusion in ("zscore", "rrf"):
        weights, score = coordinate_weights([models[n] for n in names], lambda h: _valid(split, h), fusion=fusion)
        if best is None or score > best[0]:
            best = (score, fusion, weights)
    score, fusion, weights = best
    members = [n for n, w in zip(names, weights, strict=True) if w]
    hybrid = Hybrid([models[n].model for n in members], [w for w in weights if w], fusion)
    for model in models.values():
        model.cache.clear()
    return hybrid, {"params": {"fusion": fusion, **{n: w for n, w in zip(names, weights, strict=True)}},
                    "members": members, "valid_ndcg@10": score}


def feature_sources(split: FixedSplit, side: dict[str, Any]) -> list[FeatureSource]:
    """The ranker's features beyond the members' scores: co-listening (also weighted by the user's own
    ratings or log plays where the split has them); on Last.fm, the user's friends; on Spotify, the artist."""
    X = split.matrices["train"]
    sources: list[FeatureSource] = [CoListening(X, side.get("weights"))]
    if side.get("friends") is not None:
        sources.append(FriendsListening(X, side["friends"]))
    if split.name.startswith("spotify"):
        artists = artists_from_item_ids(split.items)
        sources.append(ArtistAffinity(split.train_weights, artists, artist_days_since(split, side["events"], artists)))
    return sources


def artist_days_since(split: FixedSplit, events: pl.DataFrame | None, artists: Any) -> Any:
    """Users × artists: days from the user's last train play of the artist to their last train play (NaN: never)."""
    if events is None:
        return None
    split.recency_weights(events, 30.0)  # refuses events that are not exactly the train part's plays
    plays = (events.join(pl.DataFrame({"user_id": split.users, "u": np.arange(len(split.users))}), on="user_id")
             .join(pl.DataFrame({"item_id": split.items, "a": artists}), on="item_id").filter(pl.col("a") >= 0)
             .group_by("u", "a").agg(pl.col("ts").max())
             .with_columns(((pl.col("ts").max().over("u") - pl.col("ts")).dt.total_seconds() / 86400.0).alias("d")))
    days = np.full((len(split.users), int(artists.max()) + 1), np.nan)
    days[plays["u"].to_numpy(), plays["a"].to_numpy()] = plays["d"].to_numpy()
    return days


class Ranked:
    """The hybrid's order with LightGBM corrections learnt from valid labels (models fit on train only).

    Candidates: each user's top ``N`` by the hybrid; the trees start from the hybrid's score
    (``init_score``) and learn corrections; their settings and rounds come from 4-fold over
    valid users, and when the out-of-fold NDCG@10 does not beat the hybrid's own order on
    valid the corrections are dropped (test lists are then the hybrid's). Items nobody played
    in train are never moved (see :mod:`tastemaker.ranking.residual`). On the time-cut splits
    the lists of an earlier period cut from train (:func:`earlier_period`, the members refit on
    what came before it) join every training fold; settings are still judged on valid alone.
    """

    name = "ranker"
    N = 200

    def __init__(self, split: FixedSplit, hybrid: Hybrid, members: list[str], familiar: bool,
                 sources: list[FeatureSource], earlier: tuple[FixedSplit, dict[str, Any], dict[str, Any]] | None = None
                 ) -> None:
        self.hybrid, self.members, self.sources = hybrid, dict(zip(members, hybrid.models, strict=True)), sources
        self.n = min(self.N, split.matrices["train"].shape[1] - 1)
        pool, labels, targets = self.lists(split, hybrid, self.members, familiar, sources)
        extra, self.earlier = None, None
        if earlier is not None:  # the same members, refit on the earlier period's train, with its features
            early, side, params = earlier
            refit = {name: _fit(early, name, params[name], side) for name in members}
            extra = self.lists(early, Hybrid(list(refit.values()), hybrid.weights, hybrid.fusion), refit, familiar,
                               feature_sources(early, side))[:2]
            self.earlier = {"users": int(len(extra[0].items)), "labels": int(early.matrices["valid"].nnz),
                            "train_pairs": int(early.matrices["train"].nnz)}
        search = CorrectionSearch(scales=(1.0, 4.0), leaves=(7,))  # 31 leaves did no better on ml100k valid
        self.corrections: Corrections = fit_corrections(pool, labels, targets, search, extra)
        self.mask = None if familiar else split.matrices["train"] + split.matrices["valid"]  # kept out of test lists

    def lists(self, split: FixedSplit, hybrid: Hybrid, members: dict[str, Any], familiar: bool,
              sources: list[FeatureSource]) -> tuple[Any, np.ndarray, np.ndarray]:
        """The labelled candidate lists of ``split``'s valid users: pool, labels, each user's number of targets."""
        X, V = split.matrices["train"], split.matrices["valid"]
        users = np.flatnonzero(np.diff(V.indptr) > 0)
        pool = candidate_pool(hybrid, members, users, X, None if familiar else X, self.n, sources)
        return pool, np.take_along_axis(V[users].toarray(), pool.items, axis=1), np.diff(V.indptr)[users]

    def describe(self) -> dict[str, Any]:
        c = self.corrections
        return {"members": list(self.members), "fallback_to_hybrid": c.ranker is None, "rounds": c.rounds,
                "scale": c.scale, "leaves": c.leaves, "valid_oof_ndcg@10": round(c.oof_ndcg, 4),
                "valid_hybrid_pool_ndcg@10": round(c.blend_ndcg, 4), "tried": c.tried,
                **({"earlier_period": self.earlier} if self.earlier else {})}

    def score(self, users: Any, X: Any) -> Any:
        pool = candidate_pool(self.hybrid, self.members, users, X, self.mask, self.n, self.sources)
        out = np.full((len(users), X.shape[1]), -np.inf)
        np.put_along_axis(out, pool.items, self.corrections.score(pool), 1)
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
             "that peer model with its parameters; [a, b] = bootstrap 95 % interval over test users (of the hybrid's "
             "NDCG@10, and of its difference from the peer).", "",
             "| split | pop | history | item-kNN | ALS | ALS on ratings / log plays | EASE | SLIM | RP3beta | artist discovery | **hybrid** | "
             "hybrid NDCG@10 interval | ranker | best peer | hybrid vs peer (p) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    span = lambda ci: f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "—"  # noqa: E731
    for split, models in results.items():
        cell = lambda m: f"{models[m]['ndcg@10']:.4f} / {models[m]['recall@10']:.4f}" if "ndcg@10" in models.get(m, {}) else "—"  # noqa: E731
        vs = models["hybrid"]["vs_best_peer"]
        lines.append(f"| {split} | {cell('pop')} | {cell('history')} | {cell('itemknn')} | {cell('als')} | {cell('als-weighted')} | "
                     f"{cell('ease')} | {cell('slim')} | {cell('rp3beta')} | {cell('artist')} | **{cell('hybrid')}** | "
                     f"{span(models['hybrid'].get('ndcg@10_ci95'))} | {cell('ranker')} | {vs['peer']} {vs['peer_ndcg@10']:.4f} | "
                     f"{vs['mean_diff']:+.4f} {span(vs.get('diff_ci95'))} (p={vs['paired_t_p']:.2g}) |")
    replace_section(DOC, BEGIN, END, "Recommendation quality (fixed splits)", lines + ["", END])


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
