"""Ranking metrics over users, computed with joins rather than Python loops.

Definitions (binary relevance, rank i starting at 1, users with no target skipped):
NDCG@k = sum(hit_i / log2(i + 1)) / sum_{i <= min(|T|, k)} 1 / log2(i + 1);
Recall@k = hits / |T|; Precision@k = hits / k; MRR@k = 1 / first hit rank;
MAP@k = sum(precision@i * hit_i) / min(|T|, k); HitRate@k = 1 if any hit.

Intra-list diversity (:func:`intra_list_diversity`), each a mean over lists of a per-list value:
artist_share@k = distinct artists / items in the list; artist_ild@k = share of item pairs by
different artists; tag_ild@k = mean pairwise Jaccard distance of the items' tag (genre) sets;
vector_ild@k = mean pairwise cosine distance of the item vectors. Items without the information
are left out of that measure, and so are lists left with fewer than two such items (one for
artist_share); a measure no list qualifies for is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

METRICS = ("ndcg", "recall", "precision", "map", "mrr", "hitrate")
#: between artist and track name in the Spotify benchmark splits' item ids
TRACK_SEPARATOR = "\u241f"


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


def by_item_popularity(recs: pl.DataFrame, truth: pl.DataFrame, train: pl.DataFrame, k: int = 10,
                       cold_max: int = 10) -> dict[str, dict[str, float]]:
    """Metrics@k with the target cut into long-tail (``cold``) and popular (``warm``) items.

    An item is cold when at most ``cold_max`` training users had it. Only the target is cut, never
    the lists: cold ndcg@k measures how well a model surfaces each user's long-tail items among
    everything it recommends. Users without a target in a segment are skipped there. Each segment
    also has ``users``, ``target_share`` (its share of the target pairs) and ``list_share`` (its
    share of the recommended slots).

    ``recs``: ``user_id, item_id, rank``; ``truth`` and ``train``: ``user_id, item_id``.
    """
    if cold_max < 0:
        raise ValueError(f"cold_max must be at least 0, got {cold_max}")
    pop = train.select("user_id", "item_id").unique().group_by("item_id").agg(pl.len().alias("_n"))
    unseen = pl.col("_n").fill_null(0)
    target = truth.select("user_id", "item_id").unique().join(pop, on="item_id", how="left").with_columns(unseen)
    shown = recs.filter(pl.col("rank") <= k).join(pop, on="item_id", how="left").with_columns(unseen)
    out: dict[str, dict[str, float]] = {}
    for label, inside in (("cold", pl.col("_n") <= cold_max), ("warm", pl.col("_n") > cold_max)):
        part = target.filter(inside)
        if not part.height:
            continue
        per = per_user(recs, part, k)
        out[label] = {"users": float(per.height), "target_share": part.height / target.height,
                      "list_share": shown.filter(inside).height / max(shown.height, 1),
                      **{c: float(per[c].mean() or 0.0) for c in per.columns if c != "user_id"}}
    return out


def beyond_accuracy(recs: pl.DataFrame, train: pl.DataFrame, n_items: int, k: int = 10, *,
                    artists: pl.DataFrame | None = None, tags: pl.DataFrame | None = None,
                    vectors: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """Catalog coverage, Gini of exposure, novelty and popularity bias of the top-``k`` lists.

    ``train``: ``user_id, item_id`` pairs the popularity is measured on. Novelty is the mean
    self-information ``-log2(users who had the item / users)``; ``popularity_lift`` is the mean
    popularity of recommended items over the mean popularity of the catalog's items. Given
    ``artists``, ``tags`` or ``vectors``, the :func:`intra_list_diversity` measures are added.
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
    } | intra_list_diversity(recs, k, artists=artists, tags=tags, vectors=vectors)


def intra_list_diversity(recs: pl.DataFrame, k: int = 10, *, artists: pl.DataFrame | None = None,
                         tags: pl.DataFrame | None = None,
                         vectors: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """How varied each top-``k`` list is, by artist, by tags or genres, and by item vectors.

    ``recs``: ``user_id, item_id, rank``. ``artists``: ``item_id, artist``; ``tags``: ``item_id,
    tag``, one row per tag; ``vectors``: ``(item ids, rows)``, one float row per id. Item ids must
    have the dtype of ``recs.item_id``. Only the measures whose information is given are returned
    (definitions in the module docstring).

    >>> recs = pl.DataFrame({"user_id": [1, 1], "item_id": ["a", "b"], "rank": [1, 2]})
    >>> intra_list_diversity(recs, 2, artists=pl.DataFrame({"item_id": ["a", "b"], "artist": ["x", "x"]}))
    {'artist_share@2': 0.5, 'artist_ild@2': 0.0}
    """
    top = recs.filter(pl.col("rank") <= k).select("user_id", "item_id")
    out: dict[str, float] = {}
    if artists is not None:
        out |= _artist_diversity(top, artists, k)
    if tags is not None:
        out[f"tag_ild@{k}"] = _tag_diversity(top, tags)
    if vectors is not None:
        out[f"vector_ild@{k}"] = _vector_diversity(top, *vectors)
    return out


def _artist_diversity(top: pl.DataFrame, artists: pl.DataFrame, k: int) -> dict[str, float]:
    # Same-artist pairs in a list of L items are sum over artists of C(n_a, 2), out of C(L, 2).
    known = artists.select("item_id", "artist").drop_nulls().unique("item_id")
    per_artist = (top.join(known, on="item_id")
                  .group_by("user_id", "artist").agg(pl.len().alias("n")))
    lists = per_artist.group_by("user_id").agg(pl.col("n").sum().alias("size"), pl.len().alias("distinct"),
                                               (pl.col("n") * (pl.col("n") - 1) / 2).sum().alias("same"))
    pairs = lists.filter(pl.col("size") >= 2)
    differ = 1.0 - pairs["same"] / (pairs["size"] * (pairs["size"] - 1) / 2)
    return {f"artist_share@{k}": _mean(lists["distinct"] / lists["size"]), f"artist_ild@{k}": _mean(differ)}


def _tag_diversity(top: pl.DataFrame, tags: pl.DataFrame) -> float:
    tagged = tags.select("item_id", pl.col("tag").cast(pl.String)).drop_nulls().unique()
    rows = tagged.select("item_id").unique().with_columns(pl.int_range(pl.len()).alias("_row"))
    names = tagged.select("tag").unique().with_columns(pl.int_range(pl.len()).alias("_tag"))
    codes = tagged.join(rows, on="item_id").join(names, on="tag")
    sets = sp.csr_matrix((np.ones(codes.height), (codes["_row"].to_numpy(), codes["_tag"].to_numpy())),
                         shape=(rows.height, names.height))
    pairs = _pairs(top.join(rows, on="item_id"), "_row")
    a, b = pairs["_row"].to_numpy(), pairs["_row_right"].to_numpy()
    both = np.asarray(sets[a].multiply(sets[b]).sum(axis=1)).ravel()
    sizes = np.diff(sets.indptr)
    distance = pairs.select("user_id").with_columns(pl.Series("d", 1.0 - both / (sizes[a] + sizes[b] - both)))
    return _mean(distance.group_by("user_id").agg(pl.col("d").mean())["d"])


def _vector_diversity(top: pl.DataFrame, ids: np.ndarray, rows: np.ndarray) -> float:
    # With unit vectors, the sum of v_i . v_j over ordered pairs i != j is |sum v|^2 - L.
    matrix = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1)
    keep = norms > 0
    index = pl.DataFrame({"item_id": pl.Series(np.asarray(ids)[keep]), "_row": np.flatnonzero(keep)})
    index = index.cast({"item_id": top.schema["item_id"]})
    listed = top.join(index, on="item_id")
    unit = matrix / np.where(keep, norms, 1.0)[:, None]
    users, inverse = np.unique(listed["user_id"].to_numpy(), return_inverse=True)
    membership = sp.csr_matrix((np.ones(listed.height), (inverse, listed["_row"].to_numpy())),
                               shape=(len(users), len(matrix)))
    sums = np.asarray(membership @ unit)
    size = np.bincount(inverse, minlength=len(users)).astype(np.float64)
    many = size >= 2
    cosine = ((sums[many] ** 2).sum(axis=1) - size[many]) / (size[many] * (size[many] - 1))
    return float(np.mean(1.0 - cosine)) if many.any() else float("nan")


def _pairs(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Every unordered pair of rows within a user: ``user_id, column, column_right``."""
    numbered = frame.with_columns(pl.int_range(pl.len()).over("user_id").alias("_pos"))
    return (numbered.join(numbered, on="user_id").filter(pl.col("_pos") < pl.col("_pos_right"))
            .select("user_id", column, f"{column}_right"))


def _mean(values: pl.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")  # type: ignore[arg-type]


@dataclass(frozen=True)
class ItemInfo:
    """What is known about items besides who played them, keyed by external item id; all optional.

    ``artists``: ``item_id, artist``; ``tags``: ``item_id, tag``, one row per tag or genre;
    ``vectors``: ``(item ids, rows)``. :meth:`indexed` re-keys it to matrix columns for
    :func:`beyond_accuracy`.

    >>> ItemInfo.from_track_ids(pl.Series(["Abba\u241fSOS"])).artists["artist"].to_list()
    ['Abba']
    """

    artists: pl.DataFrame | None = None
    tags: pl.DataFrame | None = None
    vectors: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_track_ids(cls, items: pl.Series, separator: str = TRACK_SEPARATOR) -> ItemInfo:
        """Artists read off ``artist + separator + track`` ids; no artists unless every id has the separator."""
        ids = items.cast(pl.String)
        if not len(ids) or not ids.str.contains(separator, literal=True).all():
            return cls()
        return cls(artists=pl.DataFrame({"item_id": ids, "artist": ids.str.split(separator).list.first()}))

    def indexed(self, items: pl.Series) -> dict[str, Any]:
        """:func:`beyond_accuracy`'s keyword arguments, each id replaced by its position in ``items``."""
        position = pl.DataFrame({"item_id": items.cast(pl.String), "_i": np.arange(len(items))})

        def rekey(frame: pl.DataFrame) -> pl.DataFrame:
            keyed = frame.with_columns(pl.col("item_id").cast(pl.String)).join(position, on="item_id")
            return keyed.drop("item_id").rename({"_i": "item_id"})

        out: dict[str, Any] = {}
        if self.artists is not None:
            out["artists"] = rekey(self.artists)
        if self.tags is not None:
            out["tags"] = rekey(self.tags)
        if self.vectors is not None:
            ids, rows = self.vectors
            found = rekey(pl.DataFrame({"item_id": pl.Series(np.asarray(ids).astype(str)), "_row": np.arange(len(ids))}))
            out["vectors"] = (found["item_id"].to_numpy(), np.asarray(rows)[found["_row"].to_numpy()])
        return out
