"""A ranker that starts from a hybrid's order and learns only corrections to it.

:func:`candidate_pool` takes a fitted :class:`~tastemaker.candidates.hybrid.Hybrid`, pools each
user's ``n`` best items by the blend and describes every (user, candidate) row: the blend
(standardised over the pool) and its rank, each member's z-score and rank over all items, item popularity,
history length and any extra :mod:`~tastemaker.ranking.candidate_features` sources.

:func:`fit_corrections` trains LightGBM LambdaRank from labelled pools with the blend as
``init_score``, so the trees learn corrections to the hybrid's order. Every setting (how much
the start weighs, tree size) and the number of rounds is chosen by k-fold over users; the
corrections are kept only when their out-of-fold NDCG@10 beats the blend's own order on the
same users, otherwise the result is the hybrid's order (``ranker is None``).

Items nobody has in the history (``popularity == 0``) are never moved: their rows are left
out of training and get no correction, so the ranker cannot learn that a never-played item is
a sign of a future play (on a split whose catalog holds every item of valid and test, it is).
The others still move around them: corrections that sink many candidates and lift a few let
never-played items into the top places, so on such a split compare rankers over the items with
history plays as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from tastemaker.candidates.hybrid import Hybrid, clear_gain, standardise
from tastemaker.ranking.candidate_features import FeatureSource
from tastemaker.ranking.ltr import Ranker

K = 10


@dataclass(frozen=True, slots=True)
class Pool:
    """Each user's candidates: ``items`` (users × n, best blend first), ``start`` (the blend,
    standardised per user over the pool), ``features`` (users × n × f, named ``names``) and
    ``movable`` (the item has history plays: the ranker may correct it)."""

    items: np.ndarray
    start: np.ndarray
    features: np.ndarray
    movable: np.ndarray
    names: list[str]


def candidate_pool(hybrid: Hybrid, members: Mapping[str, Any], users: np.ndarray, X: sp.csr_matrix,
                   mask: sp.csr_matrix | Sequence[np.ndarray] | None, n: int, sources: Sequence[FeatureSource] = (),
                   popularity: np.ndarray | None = None) -> Pool:
    """The ``n`` best items of each of ``users`` by ``hybrid``'s blend, with their features.

    ``members`` names the hybrid's models (same order as ``hybrid.models``); ``mask`` items
    (e.g. already heard) are never candidates: a matrix with a row per user of ``X``, or one
    array of item columns per user of ``users``; ``popularity``: each item's number of users in
    ``X``, when the caller keeps it (else counted here).

    >>> pool = candidate_pool(hybrid, {"als": als, "ease": ease}, users, X, X, n=200)  # doctest: +SKIP
    """
    return scored_pool(hybrid, members, users, X, mask, n, sources, popularity)[0]


def scored_pool(hybrid: Hybrid, members: Mapping[str, Any], users: np.ndarray, X: sp.csr_matrix,
                mask: sp.csr_matrix | Sequence[np.ndarray] | None, n: int, sources: Sequence[FeatureSource] = (),
                popularity: np.ndarray | None = None, described: bool = True) -> tuple[Pool, np.ndarray]:
    """:func:`candidate_pool`, and the blend over every item it was drawn from (users × items, ``-inf``
    where masked), for a caller that orders the items beyond the pool too. ``described=False``: no
    features (no ranker will read them), which spares a sort of the whole catalogue per member."""
    if n < 1 or n > X.shape[1]:
        raise ValueError(f"n must be within [1, {X.shape[1]}] items, got {n}")
    if len(members) != len(hybrid.models):
        raise ValueError(f"members must name each of the hybrid's {len(hybrid.models)} models, got {len(members)}")
    raws = [np.asarray(m.score(users, X), dtype=np.float64) for m in members.values()]
    z = [standardise(raw) for raw in raws]
    blend = _blend(hybrid, raws, z, (len(users), X.shape[1]))
    if isinstance(mask, sp.spmatrix | sp.sparray):
        rows, cols = mask[users].nonzero()
        blend[rows, cols] = -np.inf
    elif mask is not None:
        for row, cols in enumerate(mask):
            blend[row, cols] = -np.inf
    top = np.argpartition(-blend, n - 1, axis=1)[:, :n]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(blend, top, 1), axis=1, kind="stable"), axis=1)
    start = standardise(np.take_along_axis(blend, top, 1))
    columns = [start, np.log1p(np.broadcast_to(np.arange(n, dtype=np.float64), top.shape))]
    names = ["blend_z", "blend_log_rank"]
    if not described:  # the order alone (a pipeline without a ranker serves the blend)
        return Pool(top, start, np.zeros((*top.shape, 0), dtype=np.float32), np.ones(top.shape, dtype=bool), []), blend
    for name, zs in zip(members, z, strict=True):  # each member's say: its z-score and its rank over all items
        order = np.argsort(-zs, axis=1, kind="stable")
        rank = np.empty_like(order)  # the inverse permutation: what a second argsort would give, without the sort
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(order.shape[1]), order.shape), axis=1)
        columns += [np.take_along_axis(zs, top, 1), np.log1p(np.take_along_axis(rank, top, 1))]
        names += [f"{name}_z", f"{name}_log_rank"]
    if popularity is None:
        popularity = np.asarray((X > 0).sum(axis=0)).ravel()
    history = np.diff(X.tocsr().indptr)[users]
    columns += [np.log1p(popularity[top]), np.log1p(np.repeat(history[:, None], n, axis=1))]
    names += ["log_item_popularity", "log_user_history"]
    features = np.stack(columns, axis=-1)
    extra = [source(users, top) for source in sources]
    names += [name for source in sources for name in source.names]
    features = np.concatenate([features, *extra], axis=-1).astype(np.float32)
    return Pool(top, start, features, popularity[top] > 0, names), blend


def _blend(hybrid: Hybrid, raws: Sequence[np.ndarray], z: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """``hybrid.blend(raws)``, reusing the members' z-scores when the blend is one."""
    if hybrid.fusion != "zscore":
        return hybrid.blend(raws, shape)
    total = np.zeros(shape)
    for part, weight in zip(z, hybrid.weights, strict=True):
        if weight:
            total += weight * part
    return total


@dataclass(frozen=True, slots=True)
class CorrectionSearch:
    """What :func:`fit_corrections` tries: ``scales`` (the start's weight in the trees' units) ×
    ``leaves``; every tree setting else is fixed and regularised."""

    scales: tuple[float, ...] = (1.0, 4.0)
    leaves: tuple[int, ...] = (7, 31)
    learning_rate: float = 0.05
    min_data_in_leaf: int = 100
    l2: float = 10.0
    folds: int = 4
    max_rounds: int = 500
    early_stopping: int = 30
    seed: int = 0
    #: corrections are kept only when their out-of-fold gain over the blend exceeds this many standard errors
    min_gain_se: float = 1.0


@dataclass(frozen=True, slots=True)
class Corrections:
    """The chosen corrections: ``ranker`` is ``None`` when the blend's own order won on valid."""

    ranker: Ranker | None
    scale: float
    rounds: int
    leaves: int
    oof_ndcg: float
    blend_ndcg: float
    tried: list[dict[str, float]] = field(default_factory=list)

    def score(self, pool: Pool) -> np.ndarray:
        """Final scores of the pool's rows (users × n): the scaled start plus centred corrections.

        Each user's corrections are centred over their movable candidates, and unmovable ones
        get none, so an item the ranker never learned about keeps its place by the blend.
        """
        start = self.scale * pool.start
        if self.ranker is None:
            return start
        flat = pool.features.reshape(-1, pool.features.shape[-1])
        correction = self.ranker.predict(flat).reshape(pool.items.shape)
        moved = pool.movable.sum(axis=1, keepdims=True)
        centre = np.where(pool.movable, correction, 0.0).sum(axis=1, keepdims=True) / np.maximum(moved, 1)
        return start + np.where(pool.movable, correction - centre, 0.0)


def pool_ndcg(scores: np.ndarray, labels: np.ndarray, targets: np.ndarray, k: int = K) -> float:
    """Mean NDCG@k of ordering each pool row by ``scores``; the ideal counts all ``targets`` of the user.

    >>> round(pool_ndcg(np.array([[2.0, 1.0, 0.0]]), np.array([[0, 1, 0]]), np.array([2]), k=2), 4)
    0.3869
    """
    return float(user_ndcg(scores, labels, targets, k).mean())


def user_ndcg(scores: np.ndarray, labels: np.ndarray, targets: np.ndarray, k: int = K) -> np.ndarray:
    """Each pool row's NDCG@k when ordered by ``scores`` (see :func:`pool_ndcg`)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(labels, order, axis=1) > 0
    discount = 1.0 / np.log2(np.arange(2, order.shape[1] + 2))
    ideal = np.cumsum(discount)[np.clip(np.minimum(np.asarray(targets, dtype=np.int64), k), 1, None) - 1]
    return (hits * discount).sum(axis=1) / ideal


def _rows(pool: Pool, labels: np.ndarray, users: np.ndarray, scale: float) -> tuple[np.ndarray, ...]:
    """Training rows of ``users`` (pool row indices): movable candidates only, grouped by user."""
    keep = pool.movable[users]
    groups = keep.sum(axis=1)
    return pool.features[users][keep], labels[users][keep], groups[groups > 0], scale * pool.start[users][keep]


def _train(pool: Pool, labels: np.ndarray, users: np.ndarray, scale: float, leaves: int, search: CorrectionSearch,
           rounds: int, held: np.ndarray | None = None) -> Ranker:
    params = {"learning_rate": search.learning_rate, "num_leaves": leaves, "min_data_in_leaf": search.min_data_in_leaf,
              "l2": search.l2, "rounds": rounds, "early_stopping": search.early_stopping, "seed": search.seed}
    f, y, g, s = _rows(pool, labels, users, scale)
    if held is None:
        return Ranker(**params).fit(f, y, g, names=pool.names, init=s)
    hf, hy, hg, hs = _rows(pool, labels, held, scale)
    return Ranker(**params).fit(f, y, g, valid=(hf, hy, hg), names=pool.names, init=s, valid_init=hs)


def fit_corrections(pool: Pool, labels: np.ndarray, targets: np.ndarray,
                    search: CorrectionSearch = CorrectionSearch(),
                    extra: tuple[Pool, np.ndarray] | None = None) -> Corrections:
    """Choose and train corrections to the blend from labelled pools (see the module docstring).

    ``labels``: users × n relevance of each candidate; ``targets``: each user's number of
    relevant items in all (for NDCG's ideal, also those outside the pool). Per setting: the
    rounds are the mean early-stopping point over the folds; the out-of-fold NDCG@10 then comes
    from models trained with that many rounds on the other folds.

    ``extra``: more labelled lists ``(pool, labels)`` (e.g. an earlier period cut from train, with
    the members refit on what came before it) that join every training fold and the final fit;
    they are never held out, so every setting is still judged on ``pool``'s users alone.
    """
    if not search.scales or not search.leaves:
        raise ValueError("CorrectionSearch needs at least one scale and one leaves value")
    users = np.arange(len(pool.items))
    folds = np.array_split(np.random.default_rng(search.seed).permutation(users), search.folds)
    blend_users = user_ndcg(pool.start, labels, targets)
    blend_ndcg = float(blend_users.mean())
    always = np.arange(len(pool.items), len(pool.items) + (len(extra[0].items) if extra else 0))
    if extra is not None:
        pool, labels = _joined(pool, labels, *extra)
    tried, best = [], None
    for scale in search.scales:
        for leaves in search.leaves:
            stops = []
            for f, held in enumerate(folds):
                rest = np.concatenate([*(folds[j] for j in range(len(folds)) if j != f), always])
                stops.append(_train(pool, labels, rest, scale, leaves, search, search.max_rounds, held)
                             .booster_.num_trees())
            rounds = max(int(round(float(np.mean(stops)))), 1)
            oof = np.empty((len(users), pool.items.shape[1]))
            for f, held in enumerate(folds):
                rest = np.concatenate([*(folds[j] for j in range(len(folds)) if j != f), always])
                ranker = _train(pool, labels, rest, scale, leaves, search, rounds)
                part = Pool(pool.items[held], pool.start[held], pool.features[held], pool.movable[held], pool.names)
                oof[held] = Corrections(ranker, scale, rounds, leaves, 0.0, 0.0).score(part)
            per_user = user_ndcg(oof, labels[users], targets)
            ndcg = float(per_user.mean())
            tried.append({"scale": scale, "leaves": leaves, "rounds": rounds, "oof_ndcg@10": round(ndcg, 4)})
            if best is None or ndcg > best[0]:
                best = (ndcg, scale, leaves, rounds, per_user)
    ndcg, scale, leaves, rounds, per_user = best  # type: ignore[misc]
    clear, gain, se = clear_gain(per_user, blend_users, search.min_gain_se)
    tried.append({"gain": round(gain, 4), "gain_se": round(se, 4), "clear": clear})
    if not clear:
        return Corrections(None, 1.0, 0, 0, ndcg, blend_ndcg, tried)
    ranker = _train(pool, labels, np.concatenate([users, always]), scale, leaves, search, rounds)
    return Corrections(ranker, scale, rounds, leaves, ndcg, blend_ndcg, tried)


def _joined(pool: Pool, labels: np.ndarray, other: Pool, other_labels: np.ndarray) -> tuple[Pool, np.ndarray]:
    """One pool (and its labels) of ``pool``'s lists followed by ``other``'s; both must describe
    the same number of candidates with the same features."""
    if other.names != pool.names or other.items.shape[1] != pool.items.shape[1]:
        raise ValueError(f"the extra lists must have {pool.items.shape[1]} candidates with the features {pool.names}, "
                         f"got {other.items.shape[1]} with {other.names}")
    if other_labels.shape != other.items.shape:
        raise ValueError(f"the extra labels must be {other.items.shape}, got {other_labels.shape}")
    return (Pool(*(np.concatenate([a, b]) for a, b in ((pool.items, other.items), (pool.start, other.start),
                                                        (pool.features, other.features),
                                                        (pool.movable, other.movable))), pool.names),
            np.concatenate([labels, other_labels]))
