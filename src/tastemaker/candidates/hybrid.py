"""A weighted blend of several models' scores, each standardised per user first.

Scores of different models live on different scales; per-user z-scores make a weight mean
the same thing for every model. Weights are chosen on the valid split (see ``bench/quality.py``
and :func:`tune_weights`), never on test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np
import scipy.sparse as sp


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-row z-scores (a constant row becomes zeros)."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 0, std, 1.0)


def reciprocal_ranks(scores: np.ndarray, k0: float = 60.0) -> np.ndarray:
    """Per row, ``1 / (k0 + rank)`` of every item (rank 1 = highest score)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :].repeat(len(scores), 0), axis=1)
    return 1.0 / (k0 + ranks)


class Hybrid:
    """``score = Σ weight_m · f(score_m)`` over already fitted models.

    ``fusion="zscore"``: f standardises each user's scores; ``"rrf"``: reciprocal-rank fusion,
    f = 1 / (60 + rank), which ignores score scales altogether.

    >>> Hybrid([ease, als], [0.7, 0.3]).score(users, X)  # doctest: +SKIP
    """

    name = "hybrid"

    def __init__(self, models: Sequence[Any], weights: Sequence[float], fusion: str = "zscore") -> None:
        if len(models) != len(weights) or not models:
            raise ValueError(f"need one weight per model, got {len(models)} models and {len(weights)} weights")
        if fusion not in ("zscore", "rrf"):
            raise ValueError(f"fusion must be 'zscore' or 'rrf', got {fusion!r}")
        self.models = list(models)
        self.weights = [float(w) for w in weights]
        self.fusion = fusion

    def fit(self, X: sp.csr_matrix) -> Self:
        """Fit every member model on ``X``."""
        for model in self.models:
            model.fit(X)
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """The blended, standardised scores."""
        raws = [np.asarray(m.score(users, X), dtype=np.float64) if w else None
                for m, w in zip(self.models, self.weights, strict=True)]
        return self.blend(raws, (len(users), X.shape[1]))

    def blend(self, raws: Sequence[np.ndarray | None], shape: tuple[int, int]) -> np.ndarray:
        """The blend of the members' raw scores, given in member order (``None`` where the weight is 0).

        For callers that need the members' scores as well as the blend, without scoring twice;
        ``shape`` (users × items) is the result's when every weight is 0.
        """
        total: np.ndarray | None = None
        for raw, weight in zip(raws, self.weights, strict=True):
            if weight:
                if raw is None:
                    raise ValueError("a member with a non-zero weight needs its scores")
                part = weight * (standardise(raw) if self.fusion == "zscore" else reciprocal_ranks(raw))
                total = part if total is None else total + part
        return total if total is not None else np.zeros(shape)


def tune_weights(models: Sequence[Any], objective: Callable[[Hybrid], float],
                 grid: Sequence[float] = (0.0, 0.25, 0.5, 1.0), fusion: str = "zscore") -> tuple[list[float], float]:
    """Grid-search blend weights (first model's weight fixed at 1) maximising ``objective``.

    Every combination is tried: ``len(grid) ** (len(models) - 1)`` blends; for more than three
    or four members see :func:`coordinate_weights`.
    """
    best: tuple[list[float], float] = ([1.0] + [0.0] * (len(models) - 1), -np.inf)
    for rest in itertools.product(grid, repeat=len(models) - 1):
        weights = [1.0, *rest]
        value = objective(Hybrid(models, weights, fusion))
        if value > best[1]:
            best = (weights, value)
    return best


def coordinate_weights(models: Sequence[Any], objective: Callable[[Hybrid], float],
                       grid: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0), fusion: str = "zscore",
                       sweeps: int = 3) -> tuple[list[float], float]:
    """Blend weights by coordinate ascent: the first model's weight is 1, the others start at 0.

    Each sweep tries every value of ``grid`` for one member at a time, the rest held, and keeps
    a change only when ``objective`` strictly improves; it stops after ``sweeps`` sweeps or a
    sweep without change. A member left at 0 drops out, so many candidate members cost
    ``len(grid)`` blends each per sweep instead of a full grid's product.

    >>> coordinate_weights([als, ease, rp3], lambda h: valid_ndcg(h))  # doctest: +SKIP
    ([1.0, 1.5, 0.1], 0.2807)
    """
    if not models:
        raise ValueError("need at least one model to blend")
    weights = [1.0] + [0.0] * (len(models) - 1)
    best = objective(Hybrid(models, weights, fusion))
    for _ in range(sweeps):
        changed = False
        for m in range(1, len(models)):
            for value in grid:
                if value == weights[m]:
                    continue
                trial = [*weights[:m], float(value), *weights[m + 1:]]
                score = objective(Hybrid(models, trial, fusion))
                if score > best:
                    weights, best, changed = trial, score, True
        if not changed:
            break
    return weights, best


class BlendPool:
    """Blend search on each user's candidates: the union of every member's ``n`` best items (``mask`` items
    left out), with each member's fused score (z-score or reciprocal rank over the user's whole row, as
    :class:`Hybrid` computes it) kept only there, so that trying a set of weights costs users × pool.

    ``raws``: each member's users × items scores; ``labels``: users × items relevance (sparse);
    ``targets``: each user's number of relevant items (NDCG's ideal). An item outside every
    member's top ``n`` can hardly reach a blend's top 10, so scores on the pool match the full
    ranking's.
    """

    def __init__(self, raws: Sequence[np.ndarray], labels: sp.csr_matrix, mask: sp.csr_matrix | None,
                 n: int = 300) -> None:
        users, items = raws[0].shape
        n = min(n, items - 1)
        blocked = np.zeros((users, items), dtype=bool)
        if mask is not None:
            rows, cols = mask.nonzero()
            blocked[rows, cols] = True
        chosen = np.zeros((users, items), dtype=bool)
        for raw in raws:
            masked = np.where(blocked, -np.inf, raw)
            top = np.argpartition(-masked, n - 1, axis=1)[:, :n]
            np.put_along_axis(chosen, top, True, axis=1)
        chosen &= ~blocked
        width = int(chosen.sum(axis=1).max())
        # each row's chosen columns first (stable), padded with blocked columns scored -inf
        self.items = np.argsort(~chosen, axis=1, kind="stable")[:, :width]
        self.valid = np.take_along_axis(chosen, self.items, axis=1)
        self.fused = {fusion: np.stack([np.take_along_axis(self._fuse(raw, fusion), self.items, axis=1)
                                        .astype(np.float32) for raw in raws]) for fusion in ("zscore", "rrf")}
        relevant = np.zeros((users, items), dtype=bool)
        rows, cols = labels.nonzero()
        relevant[rows, cols] = True
        self.labels = np.take_along_axis(relevant, self.items, axis=1)
        self.targets = np.asarray(labels.getnnz(axis=1))

    @staticmethod
    def _fuse(raw: np.ndarray, fusion: str) -> np.ndarray:
        return standardise(raw) if fusion == "zscore" else reciprocal_ranks(raw)

    def ndcg(self, weights: Sequence[float], fusion: str, users: np.ndarray | None = None, k: int = 10) -> float:
        """Mean NDCG@k of the blend with ``weights`` over ``users`` (rows; default all)."""
        return float(self.user_ndcg(weights, fusion, users, k).mean())

    def user_ndcg(self, weights: Sequence[float], fusion: str, users: np.ndarray | None = None,
                  k: int = 10) -> np.ndarray:
        """Each of ``users``' NDCG@k under the blend with ``weights``."""
        rows = np.arange(len(self.items)) if users is None else users
        w = np.asarray(weights, dtype=np.float32)
        blend = np.tensordot(w, self.fused[fusion][:, rows], axes=1)
        blend = np.where(self.valid[rows], blend, -np.inf)
        k = min(k, blend.shape[1])
        top = np.argpartition(-blend, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(blend, top, 1), axis=1, kind="stable"), 1)
        hits = np.take_along_axis(self.labels[rows], top, 1) & np.isfinite(np.take_along_axis(blend, top, 1))
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.cumsum(discount)[np.clip(np.minimum(self.targets[rows], k), 1, None) - 1]
        return (hits * discount).sum(axis=1) / ideal


def choose_blend(pool: BlendPool, names: Sequence[str], folds: int = 4, seed: int = 0,
                 fusions: Sequence[str] = ("zscore", "rrf"), min_gain_se: float = 1.0) -> dict[str, Any]:
    """The blend to use, chosen out of fold: the best member alone, or a coordinate-ascent blend per fusion.

    ``names`` are the members, best single first. Each way's weights are learnt on all folds but
    one and scored on the one left out. A blend is taken only when its out-of-fold NDCG@10 beats
    the best member alone by more than ``min_gain_se`` standard errors of the per-user difference
    (the best such blend); it then learns its weights on every user. With fewer than two users per
    fold, ways are judged in sample. Returns ``way``, ``fusion``, ``weights`` (one per name),
    ``oof_ndcg@10`` per way, each blend's ``gain`` and ``gain_se`` over the single member, and
    ``valid_ndcg@10``.
    """
    users = np.arange(len(pool.items))
    ways: dict[str, Callable[[np.ndarray], tuple[list[float], str]]] = {
        "best-single": lambda rows: ([1.0] + [0.0] * (len(names) - 1), "zscore")}
    for fusion in fusions:
        ways[f"blend-{fusion}"] = lambda rows, f=fusion: (coordinate_weights(
            names, lambda h: pool.ndcg(h.weights, h.fusion, rows), fusion=f)[0], f)
    split = np.array_split(np.random.default_rng(seed).permutation(users), folds) if len(users) >= 2 * folds else None
    per_user: dict[str, np.ndarray] = {}
    for way, learn in ways.items():
        if split is None:
            weights, fusion = learn(users)
            per_user[way] = pool.user_ndcg(weights, fusion)
            continue
        scores = np.empty(len(users))
        for f, held in enumerate(split):
            rest = np.concatenate([split[j] for j in range(folds) if j != f])
            weights, fusion = learn(rest)
            scores[held] = pool.user_ndcg(weights, fusion, held)
        per_user[way] = scores
    gains = {w: clear_gain(s, per_user["best-single"], min_gain_se) for w, s in per_user.items() if w != "best-single"}
    clear = [w for w, (ok, _, _) in gains.items() if ok]
    way = max(clear, key=lambda w: per_user[w].mean()) if clear else "best-single"
    weights, fusion = ways[way](users)
    return {"way": way, "fusion": fusion, "weights": weights,
            "oof_ndcg@10": {w: round(float(v.mean()), 4) for w, v in per_user.items()},
            "gain_over_single": {w: {"gain": round(g, 4), "se": round(e, 4)} for w, (_, g, e) in gains.items()},
            "valid_ndcg@10": pool.ndcg(weights, fusion)}


def clear_gain(better: np.ndarray, base: np.ndarray, standard_errors: float) -> tuple[bool, float, float]:
    """Whether ``better`` beats ``base`` (per-user scores of the same users) by more than ``standard_errors``
    standard errors of the paired difference, with the mean gain and its standard error.

    The one-standard-error rule: a more complex choice (a blend over one model, corrections over
    the blend) is taken only when its out-of-fold gain stands clear of the users' noise, so a
    cohort of a few dozen listeners does not pick what fits its own luck.

    >>> clear_gain(np.array([0.5, 0.6, 0.7]), np.array([0.4, 0.5, 0.6]), 1.0)[0]
    True
    """
    diff = np.asarray(better, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    gain = float(diff.mean()) if len(diff) else 0.0
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("inf")
    return gain > 0 and gain > standard_errors * se, gain, se
