"""Ranking metrics over users, computed with joins rather than Python loops.

Definitions (binary relevance, rank i starting at 1, users with no target skipped):
NDCG@k = sum(hit_i / log2(i + 1)) / sum_{i <= min(|T|, k)} 1 / log2(i + 1);
Recall@k = hits / |T|; Precision@k = hits / k; MRR@k = 1 / first hit rank;
MAP@k = sum(precision@i * hit_i) / min(|T|, k); HitRate@k = 1 if any hit.
"""

from __future__ import annotations

import numpy as np
import polars as pl

METRICS = ("ndcg", "recall", "precision", "map", "mrr", "hitrate")


def per_user(recs: pl.DataFrame, truth: pl.DataFrame, k: int) -> pl.DataFrame:
    """One row per user with a non-empty target: ``user_id`` and each metric ``@k``.

    ``recs``: ``user_id, item_id, rank``; ``truth``: ``user_id, item_id``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    target = truth.select("user_id", "item_id").unique()
    sizes = target.group_by("user_id").agg(pl.len().alias("n_target"))
    top = recs.filter(pl.col("rank") <= k).select("user_id", "item_id", "rank")
    hits = (
        top.join(target, on=["user_id", "item_id"], how="inner")
        .sort("user_id", "rank")
        .with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("hit_no"))
    )
    per = hits.group_by("user_id").agg(
        (1.0 / (pl.col("rank") + 1).log(2)).sum().alias("dcg"),
        pl.len().alias("hits"),
        pl.col("rank").min().alias("first"),
        (pl.col("hit_no") / pl.col("rank")).sum().alias("ap_sum"),
    )
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    out = sizes.join(per, on="user_id", how="left").with_columns(
        pl.col("hits").fill_null(0), pl.col("dcg").fill_null(0.0), pl.col("ap_sum").fill_null(0.0)
    )
    cap = pl.min_horizontal(pl.col("n_target"), pl.lit(k))
    idcg = cap.replace_strict(list(range(k + 1)), ideal.tolist(), return_dtype=pl.Float64)
    return out.select(
        "user_id",
        (pl.col("dcg") / idcg).alias(f"ndcg@{k}"),
        (pl.col("hits") / pl.col("n_target")).alias(f"recall@{k}"),
        (pl.col("hits") / k).alias(f"precision@{k}"),
        (pl.col("ap_sum") / cap).alias(f"map@{k}"),
        (1.0 / pl.col("first")).fill_null(0.0).alias(f"mrr@{k}"),
        (pl.col("hits") > 0).cast(pl.Float64).alias(f"hitrate@{k}"),
    )


def evaluate(recs: pl.DataFrame, truth: pl.DataFrame, k: int = 10, n_items: int | None = None) -> dict[str, float]:
    """Mean of :func:`per_user` over users, plus ``users`` and (given ``n_items``) ``coverage@k``."""
    per = per_user(recs, truth, k)
    result = {c: float(per[c].mean() or 0.0) for c in per.columns if c != "user_id"}
    result["users"] = float(per.height)
    if n_items:
        shown = recs.filter(pl.col("rank") <= k)["item_id"].n_unique()
        result[f"coverage@{k}"] = shown / n_items
    return result


def beyond_accuracy(recs: pl.DataFrame, train: pl.DataFrame, n_items: int, k: int = 10) -> dict[str, float]:
    """Catalog coverage, Gini of exposure, novelty and popularity bias of the top-``k`` lists.

    ``train``: ``user_id, item_id`` pairs the popularity is measured on. Novelty is the mean
    self-information ``-log2(users who had the item / users)``; ``popularity_lift`` is the mean
    popularity of recommended items over the mean popularity of the catalog's items.
    """
    top = recs.filter(pl.col("rank") <= k)
    n_users = max(train["user_id"].n_unique(), 1)
    pop = train.group_by("item_id").agg(pl.col("user_id").n_unique().alias("pop"))
    shown = top.join(pop, on="item_id", how="left").with_columns(pl.col("pop").fill_null(0))
    exposure = np.sort(np.concatenate([top.group_by("item_id").len()["len"].to_numpy(),
                                       np.zeros(max(n_items - top["item_id"].n_unique(), 0))]))
    cum = np.cumsum(exposure)
    gini = float(1 - 2 * np.sum(cum) / (len(exposure) * cum[-1]) + 1 / len(exposure)) if cum[-1] else 0.0
    novelty = -np.log2(np.maximum(shown["pop"].to_numpy(), 1) / n_users)
    catalog_mean = float(pop["pop"].sum()) / max(n_items, 1)
    return {
        f"coverage@{k}": top["item_id"].n_unique() / max(n_items, 1),
        f"gini@{k}": gini,
        f"novelty@{k}": float(novelty.mean()) if len(novelty) else 0.0,
        f"popularity_lift@{k}": float(shown["pop"].mean() or 0.0) / catalog_mean if catalog_mean else 0.0,
    }
