"""Popularity: the baseline every other model must beat.

Scores an item by how many listens it had, optionally decayed with a half-life so recent
listening counts more (trending). Recommending excludes what the user already heard when asked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Self

import numpy as np
import polars as pl

from tastemaker.errors import NotFittedError


@dataclass(frozen=True, slots=True)
class PopularityParams:
    """``half_life_days``: None counts every listen equally; a number decays older listens."""

    half_life_days: float | None = None


class Popularity:
    """Most-listened items, the same list for everyone (minus what each user heard).

    >>> model = Popularity().fit(interactions)  # doctest: +SKIP
    >>> model.recommend(["u1"], k=10, exclude=interactions)  # doctest: +SKIP
    """

    name = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.params = PopularityParams(half_life_days)

    def fit(self, interactions: pl.DataFrame, now: datetime | None = None) -> Self:
        """Learn item scores from ``user_id, item_id, weight[, last_ts]`` rows."""
        missing = {"user_id", "item_id", "weight"} - set(interactions.columns)
        if missing:
            raise ValueError(f"interactions need columns {sorted(missing)}")
        weight = pl.col("weight")
        if self.params.half_life_days is not None:
            if "last_ts" not in interactions.columns:
                raise ValueError("half_life_days needs a last_ts column in the interactions")
            ref = now or interactions["last_ts"].max()
            age_days = (pl.lit(ref) - pl.col("last_ts")).dt.total_seconds() / 86400.0
            weight = weight * (0.5 ** (age_days / self.params.half_life_days))
        scores = (
            interactions.group_by("item_id")
            .agg(weight.sum().alias("score"))
            .sort(["score", "item_id"], descending=[True, False])
        )
        self.item_ids_ = scores["item_id"].to_numpy().astype(str)
        self.scores_ = scores["score"].to_numpy().astype(np.float64)
        return self

    def _check(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotFittedError("Popularity is not fitted: call fit() or load() first")

    def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        """Top ``k`` items per user as ``user_id, item_id, score, rank`` (rank 1 = best).

        ``exclude``: ``user_id, item_id`` pairs never to recommend (e.g. already heard).
        """
        self._check()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        users = pl.DataFrame({"user_id": pl.Series(user_ids, dtype=pl.String)})
        n_ex = 0 if exclude is None else int(exclude.group_by("user_id").len()["len"].max() or 0)
        top = pl.DataFrame({"item_id": self.item_ids_[: k + n_ex], "score": self.scores_[: k + n_ex]})
        recs = users.join(top, how="cross")
        if exclude is not None:
            recs = recs.join(exclude.select("user_id", "item_id"), on=["user_id", "item_id"], how="anti")
        return (
            recs.with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("rank"))
            .filter(pl.col("rank") <= k)
            .sort(["user_id", "rank"])
        )

    def save(self, path: Path) -> None:
        """Write ``params.json`` and ``arrays.npz`` into folder ``path``."""
        self._check()
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": self.name, **asdict(self.params)}))
        np.savez(path / "arrays.npz", item_ids=self.item_ids_, scores=self.scores_)

    @classmethod
    def load(cls, path: Path) -> Popularity:
        """Read a model written by :meth:`save`."""
        params = json.loads((path / "params.json").read_text())
        params.pop("model", None)
        model = cls(**params)
        with np.load(path / "arrays.npz", allow_pickle=False) as arrays:
            model.item_ids_ = arrays["item_ids"]
            model.scores_ = arrays["scores"]
        return model
