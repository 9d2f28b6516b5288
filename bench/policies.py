"""Re-ranking policies on Discover Weekly: the diversity each one buys and the accuracy it costs.

    python bench/policies.py [--users 5000] [--seed 0] [--pool 300] [--size 30]

Generated world (``World(WorldConfig(seed, n_users))``, used in memory, nothing written to disk):
the last 7 days are the test period and the targets are tracks each warm listener had not played
before (``temporal_split``, discovery). ALS (factors 64, reg 10, alpha 3, as in
``bench/confidence.py``) is fit on the training listens. Every test listener's top ``--pool``
tracks not streamed before the cut are the candidates, and every policy of
``tastemaker.rerank.policies`` builds a ``--size`` list from the same candidates: ``none`` is the
plain top of the list, the un-reranked baseline. Scores are z-scored per listener first (the
hybrid's scale, which ``freshness`` expects; the order is unchanged).

Then the cap + MMR comparison on the real ``spotify-basic-discovery`` split (26 listeners; the
artist is read off the item id), for ALS and for artist discovery, the split's best single model.

Accuracy: NDCG@10, Recall@30, HitRate@30 on the test targets, its relative change against
``none`` and a paired test against ``none`` over listeners on NDCG@10. Diversity: the
``intra_list_diversity`` measures of the lists (artist, genre, ALS-vector, audio-feature),
catalog coverage, novelty and popularity lift (``beyond_accuracy``). Writes
bench/results/policies.json and the tables between the markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

from tastemaker.candidates.als import ALS  # noqa: E402
from tastemaker.candidates.artist import ArtistDiscovery, artists_from_item_ids  # noqa: E402
from tastemaker.candidates.content import audio_vectors  # noqa: E402
from tastemaker.candidates.catalogue import create  # noqa: E402
from tastemaker.candidates.data import TrainingData  # noqa: E402
from tastemaker.candidates.recommender import MatrixRecommender  # noqa: E402
from tastemaker.evaluation.fixed_split import FixedSplit, top_k  # noqa: E402
from tastemaker.evaluation.metrics import (  # noqa: E402
    ItemInfo,
    beyond_accuracy,
    intra_list_diversity,
    per_user,
)
from tastemaker.evaluation.significance import paired  # noqa: E402
from tastemaker.evaluation.split import TemporalSplit, temporal_split  # noqa: E402
from tastemaker.rerank.policies import calibrate, cap, explore, freshness, mmr, quota  # noqa: E402
from tastemaker.simulate import World, WorldConfig  # noqa: E402
from tastemaker.simulate.tables import audio_features_table, tracks_table  # noqa: E402
from tastemaker.store.tables import conform  # noqa: E402
from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data")) / "benchmarks"
REAL_SPLIT = BENCH / "spotify-basic-discovery"
RESULTS = ROOT / "bench" / "results" / "policies.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- policies:begin -->", "<!-- policies:end -->"
ALS_PARAMS = {"factors": 64, "regularization": 10.0, "alpha": 3.0}
#: the split's ALS as tuned on valid by bench/quality.py (bench/results/quality.json)
REAL_ALS_PARAMS = {"factors": 64, "regularization": 10.0, "alpha": 0.3}
REAL_POLICIES = ("none", "artist cap 2", "mmr λ=0.7", "discover weekly (cap 2 + mmr 0.7)")
EXPLORE_SLOTS = (4, 14, 24)  # list positions 5, 15 and 25
COLD_MAX = 5  # the exploration pool: tracks at most this many training listeners had
HEAD_SHARE = 0.8  # artists outside the head holding this share of training listens are long-tail
NEW_ARTIST_DAYS = 90  # an artist whose first release is this recent is new

#: (one listener's candidates, their item vectors, the listener's context) -> the re-ranked list
Policy = Callable[[pl.DataFrame, np.ndarray, dict[str, Any]], pl.DataFrame]
#: measures of a set of lists that only the generated world can give
Extra = Callable[[pl.DataFrame], dict[str, float]]


def discover_weekly_chain(c: pl.DataFrame, v: np.ndarray, size: int) -> pl.DataFrame:
    """``cap(mmr(c, λ 0.7), artist, 2)``; MMR picks only as far as the capped list needs (same list)."""
    picked = cap(mmr(c, v, 0.7, k=3 * size), "artist_id", 2)
    return picked if picked.height >= size else cap(mmr(c, v, 0.7), "artist_id", 2)


def policies(size: int, today: date, rng: np.random.Generator) -> dict[str, Policy]:
    """Every policy compared, by its name in the tables."""
    return {
        "none": lambda c, v, x: c,
        "artist cap 2": lambda c, v, x: cap(c, "artist_id", 2),
        "album cap 1": lambda c, v, x: cap(c, "album_id", 1),
        "mmr λ=0.7": lambda c, v, x: mmr(c, v, 0.7, k=size),
        "mmr λ=0.5": lambda c, v, x: mmr(c, v, 0.5, k=size),
        "calibrate (genres)": lambda c, v, x: calibrate(c, x["genres"], k=size),
        "quota 20% new/long-tail": lambda c, v, x: quota(c, "is_new_artist", 0.2, size),
        "freshness": lambda c, v, x: freshness(c, today),
        "explore ε=0.1, 3 slots": lambda c, v, x: explore(c.head(size), x["pool"], EXPLORE_SLOTS, 0.1, rng),
        "discover weekly (cap 2 + mmr 0.7)": lambda c, v, x: discover_weekly_chain(c, v, size),
    }


def rerank_all(cands: pl.DataFrame, vectors: np.ndarray, context: dict[str, dict[str, Any]],
               chosen: dict[str, Policy], size: int) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    """Each policy's top ``size`` per listener as ``user_id, item_id, rank``, and its seconds in all.

    ``cands``: ``user_id`` and the policies' columns, best first per listener; ``_row`` is the
    row of ``vectors`` of each candidate.
    """
    picked: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
    owners: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
    seconds = dict.fromkeys(chosen, 0.0)
    for (user,), frame in cands.group_by("user_id", maintain_order=True):
        rows = vectors[frame["_row"].to_numpy()]
        for name, policy in chosen.items():
            start = time.perf_counter()
            ranked = policy(frame, rows, context.get(str(user), {}))["item_id"].head(size).to_numpy()
            seconds[name] += time.perf_counter() - start
            picked[name].append(ranked)
            owners[name].append(np.full(len(ranked), user, dtype=object))
    lists = {}
    for name in chosen:
        items = pl.Series(np.concatenate(picked[name]), dtype=cands.schema["item_id"])
        frame = pl.DataFrame({"user_id": np.concatenate(owners[name]).astype(str), "item_id": items})
        lists[name] = frame.with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("rank"))
    return lists, seconds


def score_lists(lists: dict[str, pl.DataFrame], truth: pl.DataFrame, train: pl.DataFrame, n_items: int,
                size: int, info: dict[str, Any], extra: Extra | None = None) -> dict[str, dict[str, Any]]:
    """Per policy: accuracy, its change and a paired test against ``none``, and the diversity measures."""
    base = per_user(lists["none"], truth, 10)
    out: dict[str, dict[str, Any]] = {}
    for name, recs in lists.items():
        at10, at_size = per_user(recs, truth, 10), per_user(recs, truth, size)
        row: dict[str, Any] = {"ndcg@10": float(at10["ndcg@10"].mean()), "users": at10.height}
        row |= {f"{m}@{size}": float(at_size[f"{m}@{size}"].mean()) for m in ("recall", "hitrate")}
        row |= beyond_accuracy(recs, train, n_items, size, **info.get("beyond", {}))
        if "audio" in info:
            audio = intra_list_diversity(recs, size, vectors=info["audio"])
            row[f"audio_ild@{size}"] = audio[f"vector_ild@{size}"]
        row |= extra(recs) if extra else {}
        row = {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}
        first = out.get("none", row)
        for metric in ("ndcg@10", f"recall@{size}"):
            row[f"{metric} change"] = round(row[metric] / first[metric] - 1, 4) if first[metric] else None
        test = paired(base, at10, "ndcg@10").as_dict()
        row["vs none"] = {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in test.items()}
        out[name] = row
        print(f"  {name}: ndcg@10 {row['ndcg@10']:.4f}, artist ILD {row[f'artist_ild@{size}']:.3f}",
              flush=True)
    return out


@dataclass(frozen=True)
class WorldData:
    """A generated world's split, what each listener streamed before the cut, and the catalog's columns."""

    world: World
    events: int
    split: TemporalSplit
    heard: pl.DataFrame  # user_id, item_id: every track streamed before the cut, skipped or not
    catalog: pl.DataFrame  # item_id, artist_id, album_id, release_date, explicit, genre, is_new_artist


def world_data(users: int, seed: int) -> WorldData:
    """Generate the world in memory and cut the last 7 days off as the discovery test period."""
    world = World(WorldConfig(seed=seed, n_users=users))
    raw = pl.DataFrame(pa.concat_tables(world.generate_events())).filter(pl.col("item_kind") == "track")
    events = conform("events", raw.with_columns(pl.int_range(pl.len()).alias("row_id")))
    split = temporal_split(events.lazy(), test_days=7.0, discovery=True)
    heard = events.filter(pl.col("ts") < split.cutoff).select("user_id", "item_id").unique()
    tracks = pl.DataFrame(tracks_table(world.catalog, world.config.start))
    catalog = tracks.select(pl.col("track_id").alias("item_id"), "artist_id", "album_id", "release_date",
                            "explicit", pl.col("genres").list.first().alias("genre"))
    flags = artist_flags(tracks, split.train, split.cutoff.date())
    return WorldData(world, events.height, split, heard, catalog.join(flags, on="artist_id", how="left"))


def artist_flags(tracks: pl.DataFrame, train: pl.DataFrame, cutoff: date) -> pl.DataFrame:
    """``artist_id, is_new_artist``: long-tail (outside the head of training listens) or a recent debut."""
    plays = (train.group_by("artist_id").agg(pl.col("weight").sum())
             .sort("weight", "artist_id", descending=True))
    before = pl.col("weight").cum_sum() - pl.col("weight")  # listens of the more popular artists
    plays = plays.with_columns((before < HEAD_SHARE * pl.col("weight").sum()).alias("head"))
    debut = tracks.group_by("artist_id").agg(pl.col("release_date").min().alias("debut"))
    new = pl.col("debut") > cutoff - timedelta(days=NEW_ARTIST_DAYS)
    return (debut.join(plays.select("artist_id", "head"), on="artist_id", how="left")
            .select("artist_id", (~pl.col("head").fill_null(False) | new).alias("is_new_artist")))


def genre_mix(train: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """``user_id, genre, p``: the genre shares of each listener's training listens."""
    mix = (train.join(catalog.select("item_id", "genre"), on="item_id")
           .group_by("user_id", "genre").agg(pl.col("weight").sum()))
    share = pl.col("weight") / pl.col("weight").sum().over("user_id")
    return mix.select("user_id", "genre", share.alias("p"))


def candidates(model: MatrixRecommender, users: list[str], heard: pl.DataFrame, catalog: pl.DataFrame,
               pool: int) -> pl.DataFrame:
    """Each listener's top ``pool`` unstreamed tracks, the catalog's columns, scores z-scored per listener."""
    cands = model.recommend(users, k=pool, exclude=heard).join(catalog, on="item_id", how="left")
    z = (pl.col("score") - pl.col("score").mean().over("user_id")) / pl.col("score").std().over("user_id")
    rows = np.searchsorted(model.items_, cands["item_id"].to_numpy())
    return cands.sort("user_id", "rank").with_columns(z.alias("score"), pl.Series("_row", rows))


def listener_context(data: WorldData, model: MatrixRecommender,
                     users: list[str]) -> dict[str, dict[str, Any]]:
    """Per listener: the history's genre mix (calibrate) and the cold tracks they never streamed (explore)."""
    mixes: dict[str, dict[str, float]] = {u: {} for u in users}
    for user, genre, p in genre_mix(data.split.train, data.catalog).iter_rows():
        if user in mixes and genre is not None:
            mixes[user][genre] = p
    cold = pl.DataFrame({"item_id": model.items_[model.popularity_ <= COLD_MAX]})
    heard = data.heard.filter(pl.col("user_id").is_in(users)).partition_by("user_id", as_dict=True)
    mine = {key[0]: frame for key, frame in heard.items()}
    pool = {u: cold.join(mine[u], on="item_id", how="anti") if u in mine else cold for u in users}
    return {u: {"genres": mixes[u], "pool": pool[u]} for u in users}


def miscalibration(recs: pl.DataFrame, genres: pl.DataFrame, mix: pl.DataFrame) -> float:
    """Mean KL(history genre mix ‖ 0.99 · list mix + 0.01 · history mix) over listeners (Steck 2018)."""
    shown = recs.join(genres, on="item_id").group_by("user_id", "genre").len()
    shown = shown.select("user_id", "genre", (pl.col("len") / pl.col("len").sum().over("user_id")).alias("q"))
    both = (mix.join(recs.select("user_id").unique(), on="user_id")
            .join(shown, on=["user_id", "genre"], how="left"))
    kl = pl.col("p") * (pl.col("p") / (0.99 * pl.col("q").fill_null(0.0) + 0.01 * pl.col("p"))).log()
    return float(both.group_by("user_id").agg(kl.sum())["p"].mean())  # type: ignore[arg-type]


def world_measures(data: WorldData, model: MatrixRecommender) -> tuple[dict[str, Any], Extra]:
    """The item information the diversity measures use, and the world-only measures of a set of lists."""
    audio = pl.DataFrame(audio_features_table(data.world.catalog))
    genres = data.catalog.select("item_id", "genre")
    info = {"beyond": {"artists": data.catalog.select("item_id", pl.col("artist_id").alias("artist")),
                       "tags": genres.rename({"genre": "tag"}),
                       "vectors": (model.items_, model.model.item_factors_)},
            "audio": (audio["track_id"].to_numpy(), audio_vectors(audio))}
    mix = genre_mix(data.split.train, data.catalog)
    flags = data.catalog.select("item_id", "is_new_artist", "release_date")
    recent = data.split.cutoff.date() - timedelta(days=28)

    def extra(recs: pl.DataFrame) -> dict[str, float]:
        shown = recs.join(flags, on="item_id")
        return {"genre_miscalibration": miscalibration(recs, genres, mix),
                "new_or_long_tail_artist_share": float(shown["is_new_artist"].cast(pl.Float64).mean() or 0.0),
                "released_last_28_days_share": float((shown["release_date"] > recent).mean())}

    return info, extra


def world_bench(users: int, seed: int, pool: int, size: int) -> dict[str, Any]:
    """Every policy on a generated world."""
    laps, last = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        laps[name], last = round(time.perf_counter() - last, 1), time.perf_counter()

    data = world_data(users, seed)
    lap("world_and_split")
    model = create("als", **ALS_PARAMS).fit(TrainingData(data.split.train))
    assert isinstance(model, MatrixRecommender)  # read below: its items_, popularity_ and ALS factors
    listeners = data.split.test["user_id"].unique().sort().to_list()
    cands = candidates(model, listeners, data.heard, data.catalog, pool)
    lap("als_and_candidates")
    chosen = policies(size, data.split.cutoff.date(), np.random.default_rng(seed))
    context = listener_context(data, model, listeners)
    lists, seconds = rerank_all(cands, model.model.item_factors_, context, chosen, size)
    lap("rerank")
    info, extra = world_measures(data, model)
    train = data.split.train.select("user_id", "item_id")
    rows = score_lists(lists, data.split.test, train, len(model.items_), size, info, extra)
    for name, row in rows.items():
        row["rerank_ms_per_listener"] = round(1000 * seconds[name] / len(listeners), 3)
    lap("metrics")
    artists = data.catalog.select("artist_id", "is_new_artist").unique()
    return {"users": users, "seed": seed, "pool": pool, "size": size, "events": data.events,
            "test_listeners": len(listeners), "catalog_items": len(model.items_),
            "cutoff": str(data.split.cutoff), "als": ALS_PARAMS, "explore_slots": EXPLORE_SLOTS,
            "new_or_long_tail_artists": f"{int(artists['is_new_artist'].sum())} of {artists.height}",
            "seconds": laps, "policies": rows}


def real_bench(folder: Path, pool: int, size: int) -> dict[str, Any]:
    """None / artist cap 2 / MMR / both on a real split, over ALS and over artist discovery."""
    split = FixedSplit.load(folder)
    X, target = split.matrices["train"], split.matrices["test"]
    mask = X + split.matrices["valid"]
    users = np.flatnonzero(np.diff(target.indptr) > 0)
    als = ALS(**REAL_ALS_PARAMS).fit(X)  # type: ignore[arg-type]
    artist_ids = artists_from_item_ids(split.items)
    models = {"als": als,
              "artist discovery": ArtistDiscovery(artist_ids, similar_weight=0.0).fit(split.train_weights)}
    catalog = pl.DataFrame({"item_id": np.arange(len(split.items)), "artist_id": artist_ids})
    (tu, ti), (ru, ri) = target.nonzero(), X.nonzero()
    truth = pl.DataFrame({"user_id": tu.astype(str), "item_id": ti})
    train = pl.DataFrame({"user_id": ru.astype(str), "item_id": ri})
    artists = ItemInfo.from_track_ids(split.items).indexed(split.items)["artists"]
    info = {"beyond": {"artists": artists, "vectors": (np.arange(len(split.items)), als.item_factors_)}}
    every = policies(size, date.min, np.random.default_rng(0))  # no freshness or exploration here
    chosen = {name: every[name] for name in REAL_POLICIES}
    out: dict[str, Any] = {"split": folder.name, "listeners": int(len(users)), "items": len(split.items),
                           "als": REAL_ALS_PARAMS, "models": {}}
    for name, model in models.items():
        top = top_k(model, X, target, mask, pool)  # the quality bench's lists and order of ties
        scores = np.asarray(model.score(users, X), dtype=np.float64)
        u, i = top["u"].to_numpy(), top["i"].to_numpy()
        cands = pl.DataFrame({"user_id": u.astype(str), "item_id": i, "_row": i,
                              "score": scores[np.searchsorted(users, u), i]})
        cands = cands.join(catalog, on="item_id", how="left", maintain_order="left")
        lists, _ = rerank_all(cands, als.item_factors_, {}, chosen, size)
        print(f" {folder.name} / {name}", flush=True)
        out["models"][name] = score_lists(lists, truth, train, len(split.items), size, info)
    return out


def _p(value: float) -> str:
    return "< 1e-4" if value < 1e-4 else f"{value:.2g}"


def _accuracy_cells(name: str, row: dict[str, Any], k: int) -> str:
    accuracy = f"{row['ndcg@10']:.4f} | {row[f'recall@{k}']:.4f} | {row[f'hitrate@{k}']:.4f}"
    if name == "none":
        return accuracy + " | — | — | —"
    change = lambda m: f"{row[f'{m} change']:+.1%}" if row[f"{m} change"] is not None else "n/a"  # noqa: E731
    return f"{accuracy} | {change('ndcg@10')} | {change(f'recall@{k}')} | {_p(row['vs none']['t_p'])}"


def _world_tables(world: dict[str, Any], k: int) -> list[str]:
    lines = [f"| policy | NDCG@10 | Recall@{k} | HitRate@{k} | Δ NDCG@10 | Δ Recall@{k} | p |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {_accuracy_cells(name, row, k)} |" for name, row in world["policies"].items()]
    lines += ["", "| policy | artists / tracks | artist ILD | genre ILD | ALS-vector ILD | audio ILD | "
              "coverage | novelty | pop. lift | genre KL | new/long-tail share | ms / listener |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    columns = [(f"artist_share@{k}", 3), (f"artist_ild@{k}", 3), (f"tag_ild@{k}", 3),
               (f"vector_ild@{k}", 3), (f"audio_ild@{k}", 3), (f"coverage@{k}", 3), (f"novelty@{k}", 2),
               (f"popularity_lift@{k}", 2), ("genre_miscalibration", 3), ("new_or_long_tail_artist_share", 3),
               ("rerank_ms_per_listener", 2)]
    lines += [f"| {n} | " + " | ".join(f"{r[c]:.{d}f}" for c, d in columns) + " |"
              for n, r in world["policies"].items()]
    return lines


def _real_table(real: dict[str, Any], k: int) -> list[str]:
    lines = [f"| model | policy | NDCG@10 | Recall@{k} | HitRate@{k} | Δ NDCG@10 | Δ Recall@{k} | p | "
             "artists / tracks | artist ILD | ALS-vector ILD | novelty |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {m} | {n} | {_accuracy_cells(n, r, k)} | {r[f'artist_share@{k}']:.3f} | "
              f"{r[f'artist_ild@{k}']:.3f} | {r[f'vector_ild@{k}']:.3f} | {r[f'novelty@{k}']:.2f} |"
              for m, rows in real["models"].items() for n, r in rows.items()]
    return lines


def _intro(results: dict[str, Any]) -> str:
    world, k = results["world"], results["world"]["size"]
    slots = ", ".join(str(s + 1) for s in world["explore_slots"])
    return " ".join([
        f"`python bench/policies.py` ({time.strftime('%Y-%m-%d')}, {results['seconds']:.0f} s in all).",
        f"Generated world: seed {world['seed']}, {world['users']:,} listeners, {world['events']:,} track",
        f"events; the last 7 days are the test period, {world['test_listeners']:,} warm listeners,",
        "targets = tracks new to them; ALS f=64, reg=10, α=3. Every policy re-ranks the same",
        f"top-{world['pool']} candidates (tracks the listener never streamed before the cut) into a",
        f"{k}-track list; `none` is their plain top {k}. Δ = relative change against `none`; p = paired",
        "t-test over listeners on NDCG@10 against `none`. MMR uses the ALS item vectors; calibrate",
        "(λ 0.5) the genre mix of the listener's training listens; quota flags artists outside the head",
        f"holding {HEAD_SHARE:.0%} of training listens or debuting in the last {NEW_ARTIST_DAYS} days",
        f"({world['new_or_long_tail_artists']} artists); freshness adds 0.5 · 0.5^(age / 14 days) to",
        f"per-listener z-scores; explore draws, at positions {slots}, from tracks at most {COLD_MAX}",
        "training listeners had; the Discover Weekly chain is `cap(mmr(·, λ 0.7), artist, 2)`.",
    ])


def _legend(results: dict[str, Any]) -> list[str]:
    world, real, k = results["world"], results["real"], results["world"]["size"]
    return [" ".join([
        f"Diversity columns are means over lists@{k}: distinct artists per track; ILD = share of pairs by",
        "different artists / mean Jaccard distance of genres / mean cosine distance of ALS item vectors",
        "(what MMR optimises) / of standardised audio features (independent of the model); coverage of",
        f"the {world['catalog_items']:,} tracks ALS knows; novelty = mean −log2 of the share of training",
        "listeners who had the item; pop. lift = mean item popularity over the catalog's; genre KL = KL",
        "of the history's genre mix to the list's (lower is better calibrated).",
    ]), "", " ".join([
        f"Real split `{real['split']}` ({real['listeners']} listeners, {real['items']:,} items, the artist",
        f"read off the item id): each model's top {world['pool']} with train and valid tracks masked, MMR",
        "on the split's ALS item vectors:",
    ])]


def write_doc(results: dict[str, Any]) -> None:
    k = results["world"]["size"]
    lines = [BEGIN, "", _intro(results), "", *_world_tables(results["world"], k), "", *_legend(results), "",
             *_real_table(results["real"], k)]
    replace_section(DOC, BEGIN, END, "Re-ranking policies: diversity and its accuracy cost", lines + ["", END])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", type=int, default=300)
    parser.add_argument("--size", type=int, default=30)
    args = parser.parse_args()
    if not REAL_SPLIT.exists():
        raise SystemExit(f"{REAL_SPLIT} is missing: set TASTEMAKER_SHARED_DATA to the folder holding "
                         "benchmarks/")
    start = time.perf_counter()
    results: dict[str, Any] = {"world": world_bench(args.users, args.seed, args.pool, args.size),
                               "real": real_bench(REAL_SPLIT, args.pool, args.size)}
    results["seconds"] = round(time.perf_counter() - start, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    write_doc(results)


if __name__ == "__main__":
    main()
