"""The pipeline's blend for one listener without scoring every item: the same top items, retrieved.

A z-score blend (:class:`~tastemaker.candidates.hybrid.Hybrid`) standardises each member's scores
over the whole catalogue, so serving it naively scores every item with every member; a dense member
(ALS) then reads its whole item-factor matrix per request, most of a for-you answer's time.

For a linear member (``score = U[u] · V[i]``) the mean and spread over all items are exact without
scoring them: ``u · μ`` and ``√(uᵀ Σ u)``, with ``μ`` and ``Σ`` the item factors' mean and covariance,
computed once per load. Its best items come from an exact inner-product scan that stops early
(:class:`~tastemaker.candidates.ann.ItemIndex` below its HNSW threshold). Sparse members (artist,
item-kNN, the listener's history) are cheap and score every item as before.

The answer is the full blend's, by the threshold rule: the candidates are the union of each linear
member's ``depth`` best and the ``depth`` best of the other members' weighted sum, and an item outside
all of them scores at most the sum of those lists' last values, weighted (weights are not negative);
when the blend's ``k``-th candidate reaches that bound the top ``k`` is final, else ``depth`` grows
fourfold and the search repeats. Scores agree with the full blend to float rounding (1e-6). Above
:data:`~tastemaker.candidates.ann.EXACT_BELOW` items the scan becomes an HNSW graph, and the answer is as
exact as the graph's recall (``docs/retrieval.md``).

>>> retriever = BlendRetriever.of(pipeline)  # None when the pipeline does not qualify  # doctest: +SKIP
>>> rows, scores = retriever.top(user_row, heard_rows, k=10)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tastemaker.candidates.ann import ItemIndex
from tastemaker.candidates.hybrid import standardise

#: the first search takes each member's this-many-times-k best
FIRST_DEPTH = 8
#: slack on the bound: the scan's float32 scores against the float64 blend
SLACK = 1e-6


@dataclass(frozen=True, slots=True)
class _Linear:
    """A member scoring ``users @ items.T``: its factors, their mean and covariance, and the scan."""

    weight: float
    users: np.ndarray
    items: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    index: ItemIndex


@dataclass(frozen=True, slots=True)
class _Dense:
    """Any other member: scored on every item (cheap for the sparse ones)."""

    weight: float
    model: Any


class BlendRetriever:
    """The exact top of a pipeline's z-score blend for one listener, retrieved (see the module docstring)."""

    def __init__(self, parts: list[_Linear | _Dense], n_items: int) -> None:
        self.parts = parts
        self.n_items = n_items

    @classmethod
    def of(cls, pipeline: Any) -> BlendRetriever | None:
        """The retriever of a pipeline that serves a z-score blend (no ranker) with no negative weight and at
        least one linear member; None for any other (it is served by :meth:`Pipeline.ranked`)."""
        from tastemaker.candidates.als import ALS

        weights = list(getattr(pipeline, "weights_", []))
        if getattr(pipeline, "corrections_", None) is not None or getattr(pipeline, "fusion_", None) != "zscore":
            return None
        if not weights or min(weights) < 0:
            return None
        items = np.asarray(pipeline.item_ids).astype(str)
        parts: list[_Linear | _Dense] = []
        for model, weight in zip(pipeline.members_.values(), weights, strict=True):
            if not weight:
                continue
            estimator = getattr(model, "model", None)
            if isinstance(estimator, ALS) and hasattr(estimator, "item_factors_"):
                factors = np.ascontiguousarray(estimator.item_factors_, dtype=np.float32)
                wide = factors.astype(np.float64)
                index = ItemIndex().build(items, factors)
                parts.append(_Linear(float(weight), np.asarray(estimator.user_factors_, dtype=np.float32), factors,
                                     wide.mean(axis=0), np.cov(wide, rowvar=False, bias=True), index))
            else:
                parts.append(_Dense(float(weight), model))
        if not any(isinstance(p, _Linear) for p in parts):
            return None
        return cls(parts, len(items))

    def top(self, row: int, blocked: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best item rows for user ``row`` of the blend, ``blocked`` rows left out, and their blend
        scores, best first (fewer when fewer items are left)."""
        blocked = np.unique(np.asarray(blocked, dtype=np.int64))
        left = self.n_items - len(blocked)
        k = min(k, left)
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        # the cheap members together: their weighted z-scores over every item, one vector
        rest = np.zeros(self.n_items)
        for part in self.parts:
            if isinstance(part, _Dense):
                rest += part.weight * standardise(np.asarray(part.model.score_rows(np.array([row])),
                                                             dtype=np.float64))[0]
        rest[blocked] = -np.inf
        floor = rest[np.isfinite(rest)].min(initial=np.inf)
        above = np.flatnonzero(rest > floor)  # sparse members: the few items over their floor
        linear = []
        for part in self.parts:
            if isinstance(part, _Linear):
                u = part.users[row]
                wide = u.astype(np.float64)
                spread = float(np.sqrt(max(wide @ part.cov @ wide, 0.0)))
                linear.append((part, u, float(wide @ part.mean), spread if spread > 0 else 1.0))
        depth = FIRST_DEPTH * k
        while True:
            depth = min(depth, left)
            found, bound = [], 0.0
            for part, u, centre, spread in linear:
                rows, found_scores = part.index.search_rows(u, depth, blocked)
                kth = (float(found_scores.min()) - centre) / spread if len(rows) else -np.inf
                found.append(rows)
                bound += part.weight * kth
            rows, kth = _best(rest, above, depth)
            found.append(rows)
            bound += kth
            candidates = np.unique(np.concatenate(found))
            blend = rest[candidates].copy()
            for part, u, centre, spread in linear:
                blend += part.weight * ((part.items[candidates] @ u).astype(np.float64) - centre) / spread
            order = np.argsort(-blend, kind="stable")[:k]
            if depth >= left or blend[order[-1]] >= bound + SLACK * (abs(bound) + 1.0):
                return candidates[order], blend[order]
            depth *= 4


def _best(z: np.ndarray, above: np.ndarray, depth: int) -> tuple[np.ndarray, float]:
    """The ``depth`` best items of ``z`` (``-inf`` never) and the value no item outside them exceeds.
    ``above``: the items over the lowest finite value; when they are fewer than ``depth`` (sparse
    members: most items score their floor) they are the candidates and every other item scores the floor."""
    if len(above) < depth:
        rest = z[np.isfinite(z)]
        return above, float(rest.min()) if len(rest) else -np.inf
    rows = np.argpartition(-z, depth - 1)[:depth] if depth < len(z) else np.arange(len(z))
    rows = rows[np.isfinite(z[rows])]
    return rows, float(z[rows].min()) if len(rows) else -np.inf
