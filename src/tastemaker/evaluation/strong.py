"""Strong generalisation: score listeners the models never saw, from part of their history.

The fixed split measures *weak* generalisation: every test user is also a training user. Here
(Marlin 2004; Liang et al. 2018, "Variational autoencoders for collaborative filtering"):

- a seeded random ``holdout`` share of the users is held out entirely; models fit on the rest;
- each held-out user's distinct items are cut into a fold-in part (the first ``fold_in`` share,
  in random order, or by time when the pool has a ``ts`` column) and a target part (the rest);
- a fitted model scores every item from the fold-in rows alone, without refitting
  (``fold_in(X_rows)``); fold-in items are never ranked (nothing is excluded in *familiar* mode);
- held-out pairs on items no training user has are dropped before the cut and counted in
  ``dropped``: no model here can rank an item it never saw (the cold-item problem, not this one);
- metrics are the fixed split's (:mod:`tastemaker.evaluation.metrics`): users with an empty
  target are skipped; relevance is binary.

>>> split = StrongSplit.from_pool(pairs, holdout=0.1, fold_in=0.8, seed=0)  # doctest: +SKIP
>>> evaluate_strong(split, EASE(l2=500.0).fit(split.train))["ndcg@10"]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.evaluation.fixed_split import by_history_length, item_segments, top_k
from tastemaker.evaluation.metrics import ItemInfo, beyond_accuracy, per_user

#: how a held-out user's history is cut into fold-in and target
ORDERS = ("random", "time")


class FoldInModel(Protocol):
    """A model that can score users it was not trained on, from their interaction rows."""

    name: str

    def fit(self, X: sp.csr_matrix) -> Self: ...
    def fold_in(self, X_rows: sp.csr_matrix) -> np.ndarray: ...


@dataclass(frozen=True)
class StrongSplit:
    """Training users' matrix, and the held-out users' fold-in and target matrices, over one item map.

    ``train`` / ``fold_in`` / ``target`` are binary; the ``*_weights`` twins carry the pool's
    ``weight`` (play counts; ones when absent). Rows of ``fold_in`` and ``target`` follow
    ``heldout_users``; columns follow ``items`` (the items of the training users).
    """

    name: str
    items: pl.Series
    train_users: pl.Series
    heldout_users: pl.Series
    train: sp.csr_matrix
    train_weights: sp.csr_matrix
    fold_in: sp.csr_matrix
    fold_in_weights: sp.csr_matrix
    target: sp.csr_matrix
    dropped: int

    @classmethod
    def from_pool(cls, pool: pl.DataFrame, holdout: float = 0.1, fold_in: float = 0.8, order: str = "random",
                  seed: int = 0, name: str = "pool") -> StrongSplit:
        """Hold out users of ``pool`` (``user_id, item_id[, weight][, ts]``, repeats summed) and cut their histories.

        ``holdout``: share of users held out (at least one, and at least one left to train on);
        ``fold_in``: share of each held-out user's items shown to the model; ``order``: ``random``
        (seeded) or ``time`` (earliest first listens are folded in; needs ``ts``).
        """
        pairs = _pairs(pool, holdout, fold_in, order)
        users = pairs["user_id"].unique().sort()
        n_out = max(1, round(holdout * len(users)))
        if n_out >= len(users):
            raise ValueError(f"holdout={holdout} of {len(users)} users leaves nobody to train on")
        picked = np.sort(np.random.default_rng(seed).permutation(len(users))[:n_out])
        heldout = users.gather(picked)
        training = pairs.filter(~pl.col("user_id").is_in(heldout.implode()))
        items = training["item_id"].unique().sort()
        rest = pairs.filter(pl.col("user_id").is_in(heldout.implode()))
        kept = rest.join(pl.DataFrame({"item_id": items}), on="item_id", how="semi")
        shown, hidden = _cut(kept, fold_in, order, seed)
        train_users = training["user_id"].unique().sort()
        train, train_weights = _matrices(training, train_users, items)
        folded, folded_weights = _matrices(shown, heldout, items)
        return cls(name, items, train_users, heldout, train, train_weights, folded, folded_weights,
                   _matrices(hidden, heldout, items)[0], rest.height - kept.height)


def _pairs(pool: pl.DataFrame, holdout: float, fold_in: float, order: str) -> pl.DataFrame:
    """Validate the arguments; one row per (user, item) with the summed weight and first ``ts``."""
    missing = {"user_id", "item_id"} - set(pool.columns)
    if missing:
        raise ValueError(f"the pool needs columns {sorted(missing)}; it has {pool.columns}")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be between 0 and 1 (a share of users), got {holdout}")
    if not 0 < fold_in < 1:
        raise ValueError(f"fold_in must be between 0 and 1 (a share of each history), got {fold_in}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if order == "time" and "ts" not in pool.columns:
        raise ValueError("order='time' needs a ts column in the pool; use order='random'")
    agg = [pl.col("weight").sum() if "weight" in pool.columns else pl.len().alias("weight")]
    # Split folders keep ts as ISO-8601 text: its min and sort order are the chronological ones.
    agg += [pl.col("ts").min()] if "ts" in pool.columns else []
    ids = [pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String)]
    return pool.with_columns(ids).group_by("user_id", "item_id").agg(agg).sort("user_id", "item_id")


def _cut(pairs: pl.DataFrame, fold_in: float, order: str, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(fold-in, target): each user's first ``fold_in`` share of items, in time or seeded random order."""
    if order == "time":
        ordered = pairs.sort("user_id", "ts", "item_id")
    else:
        ordered = pairs.sample(fraction=1.0, shuffle=True, seed=seed).sort("user_id", maintain_order=True)
    # Position 0 always folds in, so every held-out user with a target also has a history.
    share = pl.int_range(pl.len()).over("user_id") / pl.len().over("user_id")
    ranked = ordered.with_columns(share.alias("_q"))
    return ranked.filter(pl.col("_q") < fold_in), ranked.filter(pl.col("_q") >= fold_in)


def _matrices(pairs: pl.DataFrame, users: pl.Series, items: pl.Series) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(binary, weighted) ``users × items`` matrices of ``pairs``."""
    indexed = (pairs.join(pl.DataFrame({"user_id": users, "_u": np.arange(len(users))}), on="user_id")
               .join(pl.DataFrame({"item_id": items, "_i": np.arange(len(items))}), on="item_id"))
    at = (indexed["_u"].to_numpy(), indexed["_i"].to_numpy())
    shape = (len(users), len(items))
    weights = sp.csr_matrix((indexed["weight"].cast(pl.Float32).to_numpy(), at), shape=shape)
    return sp.csr_matrix((np.ones(indexed.height, dtype=np.float32), at), shape=shape), weights


class _FoldedIn:
    """A fold-in model behind the ``score(users, X)`` that :func:`top_k` calls."""

    def __init__(self, model: FoldInModel) -> None:
        if not callable(getattr(model, "fold_in", None)):
            raise TypeError(f"{getattr(model, 'name', type(model).__name__)} cannot score users it was not "
                            "trained on (no fold_in method); strong generalisation needs one")
        self.model = model
        self.name = model.name

    def fit(self, X: sp.csr_matrix) -> Self:
        raise TypeError("fit the wrapped model on StrongSplit.train, not this adapter")

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        return self.model.fold_in(X[users])


def _ranked(split: StrongSplit, model: FoldInModel, k: int, familiar: bool,
            weighted: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per-user metrics@k, the top-k lists) of the held-out users, rows indexed as ``heldout_users``."""
    rows = split.fold_in_weights if weighted else split.fold_in
    top = top_k(_FoldedIn(model), rows, split.target, None if familiar else split.fold_in, k)
    recs = top.select(pl.col("u").alias("user_id"), pl.col("i").alias("item_id"), "rank")
    tu, ti = split.target.nonzero()
    return per_user(recs, pl.DataFrame({"user_id": tu, "item_id": ti}), k).sort("user_id"), recs


def strong_per_user(split: StrongSplit, model: FoldInModel, k: int = 10, familiar: bool = False,
                    weighted: bool = False) -> pl.DataFrame:
    """Per-user metrics@k of a ``model`` fitted on ``split.train``, for paired tests.

    ``weighted`` folds in play counts instead of 1 per pair (as ``history`` is fitted on them).
    """
    return _ranked(split, model, k, familiar, weighted)[0]


def evaluate_strong(split: StrongSplit, model: FoldInModel, ks: tuple[int, ...] = (10, 20), familiar: bool = False,
                    beyond: bool = False, info: ItemInfo | None = None, weighted: bool = False) -> dict[str, float]:
    """Mean metrics of a ``model`` fitted on ``split.train``, over the held-out users with a target.

    ``users`` is how many were scored. ``beyond`` adds coverage, Gini, novelty and popularity
    lift (popularity over the training users), plus intra-list diversity from ``info``;
    ``weighted`` as in :func:`strong_per_user`.
    """
    ru, ri = split.train.nonzero()
    train = pl.DataFrame({"user_id": ru, "item_id": ri})
    result: dict[str, float] = {"users": float(np.count_nonzero(np.diff(split.target.indptr)))}
    for k in ks:
        scores, recs = _ranked(split, model, k, familiar, weighted)
        result |= {c: round(float(scores[c].mean()), 4) for c in scores.columns if c != "user_id"}
        if beyond:
            extra = beyond_accuracy(recs, train, len(split.items), k, **(info.indexed(split.items) if info else {}))
            result |= {name: round(value, 4) for name, value in extra.items()}
    return result


def strong_segments(split: StrongSplit, model: FoldInModel, k: int = 10, familiar: bool = False,
                    weighted: bool = False) -> dict[str, dict[str, float]]:
    """Mean metrics@k per bucket of fold-in history length (the fixed split's :data:`SEGMENTS`)."""
    return by_history_length(_ranked(split, model, k, familiar, weighted)[0], np.diff(split.fold_in.indptr))


def strong_item_segments(split: StrongSplit, model: FoldInModel, k: int = 10, familiar: bool = False,
                         weighted: bool = False, cold_max: int = 10) -> dict[str, dict[str, float]]:
    """Mean metrics@k on long-tail (``cold``: at most ``cold_max`` training users) and popular target items.

    See :func:`tastemaker.evaluation.metrics.by_item_popularity`; popularity is counted over the
    training users.
    """
    return item_segments(_ranked(split, model, k, familiar, weighted)[1], split.target, split.train, k, cold_max)
