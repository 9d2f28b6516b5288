"""Learning to rank with LightGBM over merged candidates: listwise, pairwise or pointwise.

:func:`merge_candidates` takes several fitted matrix models, pools each user's top items from
their blended scores and describes every (user, candidate) by each model's standardised score
and rank, the item's popularity and the user's history length. :class:`Ranker` learns to order
those rows from graded labels:

- ``lambdarank`` (listwise, optimises NDCG directly; the default),
- ``rank_xendcg`` (a listwise cross-entropy surrogate; cheaper, often as good),
- ``binary`` (pointwise: label > 0 against the rest), for comparison.

Groups are users: rows must come grouped, one block per user, ``groups`` giving block sizes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from tastemaker.candidates.hybrid import standardise
from tastemaker.errors import NotFittedError

OBJECTIVES = ("lambdarank", "rank_xendcg", "binary")


@dataclass(frozen=True, slots=True)
class RankerParams:
    """LightGBM settings; ``rounds`` is the most boosting rounds (early stopping may use fewer)."""

    objective: str = "lambdarank"
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    l2: float = 0.0
    feature_fraction: float = 0.9
    rounds: int = 500
    early_stopping: int = 50
    truncation: int = 20
    threads: int = 2
    seed: int = 0


class Ranker:
    """Gradient-boosted ranking of candidate rows.

    >>> ranker = Ranker(objective="lambdarank").fit(F, y, groups, valid=(Fv, yv, gv))  # doctest: +SKIP
    >>> scores = ranker.predict(F_new)  # doctest: +SKIP
    """

    name = "ranker"

    def __init__(self, **params: Any) -> None:
        self.params = RankerParams(**params)
        if self.params.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.params.objective!r}")

    def _lgb_params(self) -> dict[str, Any]:
        p = self.params
        return {"objective": p.objective, "learning_rate": p.learning_rate, "num_leaves": p.num_leaves,
                "min_data_in_leaf": p.min_data_in_leaf, "lambda_l2": p.l2, "feature_fraction": p.feature_fraction,
                "lambdarank_truncation_level": p.truncation, "num_threads": p.threads, "seed": p.seed,
                "deterministic": True, "verbose": -1, "metric": "ndcg" if p.objective != "binary" else "auc",
                "eval_at": [10]}

    def fit(self, features: np.ndarray, labels: np.ndarray, groups: np.ndarray,
            valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
            names: list[str] | None = None, init: np.ndarray | None = None,
            valid_init: np.ndarray | None = None) -> Self:
        """Train on rows grouped by user; ``valid`` (same layout) enables early stopping.

        ``init`` (one value per row) is a score to start from: the trees then learn corrections
        to it, and :meth:`predict` returns the corrections only. ``valid_init`` is the same for
        ``valid``'s rows, so early stopping judges start + corrections.
        """
        import lightgbm as lgb

        groups = np.asarray(groups, dtype=np.int64)
        if groups.sum() != len(features) or len(labels) != len(features):
            raise ValueError(f"{len(features)} rows, {len(labels)} labels and groups summing to {groups.sum()} "
                             "must agree")
        if init is not None and len(init) != len(features):
            raise ValueError(f"init needs one value per row: {len(init)} for {len(features)} rows")
        target = (labels > 0).astype(np.float64) if self.params.objective == "binary" else labels
        train = lgb.Dataset(features, target, group=groups, feature_name=names or "auto", init_score=init)
        sets, callbacks = [], []
        if valid is not None:
            vf, vl, vg = valid
            vt = (vl > 0).astype(np.float64) if self.params.objective == "binary" else vl
            sets = [lgb.Dataset(vf, vt, group=vg, reference=train, init_score=valid_init)]
            callbacks = [lgb.early_stopping(self.params.early_stopping, verbose=False)]
        booster = lgb.train(self._lgb_params(), train, self.params.rounds, valid_sets=sets, callbacks=callbacks)
        self.model_text_ = booster.model_to_string(num_iteration=booster.best_iteration or None)
        self.booster_ = lgb.Booster(model_str=self.model_text_)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """A score per row; higher ranks first."""
        if not hasattr(self, "booster_"):
            raise NotFittedError("Ranker is not fitted: call fit() or load() first")
        return np.asarray(self.booster_.predict(features, num_threads=self.params.threads))

    def save(self, path: Path) -> None:
        """Write ``params.json`` and LightGBM's own text model ``model.txt``."""
        if not hasattr(self, "model_text_"):
            raise NotFittedError("Ranker is not fitted: nothing to save")
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": self.name, **asdict(self.params)}))
        (path / "model.txt").write_text(self.model_text_)

    @classmethod
    def load(cls, path: Path) -> Ranker:
        """Read a ranker written by :meth:`save`."""
        import lightgbm as lgb

        params = json.loads((path / "params.json").read_text())
        params.pop("model", None)
        self = cls(**params)
        self.model_text_ = (path / "model.txt").read_text()
        self.booster_ = lgb.Booster(model_str=self.model_text_)
        return self


def merge_candidates(models: Mapping[str, Any], users: np.ndarray, X: sp.csr_matrix, mask: sp.csr_matrix | None,
                     n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each user's ``n`` best items by the sum of the models' standardised scores, with their features.

    Returns ``(items, features, names)``: ``items`` is users × n item indices, ``features`` is
    users × n × features (per model: z-score and log rank; then log item popularity and log
    history length). ``mask`` items (e.g. already heard) are never candidates.
    """
    if n < 1 or n > X.shape[1]:
        raise ValueError(f"n must be within [1, {X.shape[1]}] items, got {n}")
    z = {name: standardise(np.asarray(m.score(users, X), dtype=np.float64)) for name, m in models.items()}
    if mask is not None:
        rows, cols = mask[users].nonzero()
        for v in z.values():
            v[rows, cols] = -np.inf
    blend = sum(z.values())
    top = np.argpartition(-blend, n - 1, axis=1)[:, :n]
    columns, names = [], []
    for name, v in z.items():
        rank = np.argsort(np.argsort(-v, axis=1, kind="stable"), axis=1)
        columns += [np.take_along_axis(np.where(np.isfinite(v), v, -10.0), top, 1),
                    np.log1p(np.take_along_axis(rank, top, 1))]
        names += [f"{name}_z", f"{name}_log_rank"]
    popularity = np.asarray((X > 0).sum(axis=0)).ravel()
    history = np.diff(X.tocsr().indptr)[users]
    columns += [np.log1p(popularity[top]), np.log1p(np.repeat(history[:, None], n, axis=1))]
    names += ["log_item_popularity", "log_user_history"]
    return top, np.stack(columns, axis=-1).astype(np.float32), names
