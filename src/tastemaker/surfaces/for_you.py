"""For you: the personal model's unheard picks, calibrated to the listener's genre mix, with exploration.

The candidates are the model's top ``DEPTH · k`` unheard tracks; the chain
(:data:`~tastemaker.surfaces.chains.FOR_YOU`) keeps heard tracks out, picks ``k`` of them so the
list's genre mix (a track's first genre) follows the listener's history, and at two places
shows, with probability ε, a track drawn from the rest of the candidates instead. Every row
logs its ``propensity`` (the chance the policy showed it there, which off-policy evaluation
divides by) and a reason: "exploration" for a drawn track, "new to you" otherwise.

>>> for_you(als, "u1", heard, catalog, 10, history=weights, rng=np.random.default_rng(0))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from tastemaker.features.kinds import drop_not_music
from tastemaker.surfaces.chains import FOR_YOU, Chain, Context, apply
from tastemaker.surfaces.reasons import reason

#: how many of the model's picks a list of ``k`` chooses from, per place
DEPTH = 10


def for_you(model: Any, user_id: str, heard: pl.DataFrame, tracks: pl.DataFrame, k: int = 10, *,
            history: pl.DataFrame | None = None, rng: np.random.Generator | None = None,
            chain: Chain = FOR_YOU) -> pl.DataFrame:
    """The list as ``position, item_id, score, reason, propensity``.

    ``model``: a personal model (``recommend(user_ids, k, exclude)``); ``heard``: ``user_id,
    item_id`` pairs (the listener's are never shown); ``tracks``: the catalog (``track_id`` and
    ``genres``, a list whose first entry is the track's genre; the tracks it decides are not music
    are never shown); ``history``: the listener's ``item_id, weight``, whose genre mix the list is
    calibrated to (none: no calibration);
    ``rng``: the exploration draws (default: a fresh generator).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    mine = heard.filter(pl.col("user_id") == user_id).select("user_id", "item_id")
    genres = _genres(tracks)
    candidates = (drop_not_music(model.recommend([user_id], k=DEPTH * k, exclude=mine), tracks)
                  .join(genres, on="item_id", how="left", maintain_order="left"))
    ctx = Context(heard=mine["item_id"].to_list(), target=_mix(history, genres), pool=candidates,
                  rng=np.random.default_rng() if rng is None else rng, k=k)
    ranked = apply(chain, candidates, ctx).head(k)
    return ranked.select(
        pl.int_range(1, pl.len() + 1).alias("position"), "item_id", pl.col("score").cast(pl.Float64),
        (pl.col("reason") if "reason" in ranked.columns else pl.lit(None, dtype=pl.String))
        .fill_null(reason("discovery")).alias("reason"),
        pl.col("propensity") if "propensity" in ranked.columns else pl.lit(1.0).alias("propensity"))


def _genres(tracks: pl.DataFrame) -> pl.DataFrame:
    """``item_id, genre``: each catalog track's first genre (empty without genres)."""
    if "track_id" not in tracks.columns or "genres" not in tracks.columns:
        return pl.DataFrame(schema={"item_id": pl.String, "genre": pl.String})
    return tracks.select(pl.col("track_id").cast(pl.String).alias("item_id"),
                         pl.col("genres").list.first().cast(pl.String).alias("genre")).unique("item_id")


def _mix(history: pl.DataFrame | None, genres: pl.DataFrame) -> dict[str, float] | None:
    """Genre → share of the listener's weighted history, or ``None`` when nothing is known."""
    if history is None or history.is_empty() or genres.is_empty():
        return None
    mix = (history.select(pl.col("item_id").cast(pl.String), pl.col("weight").cast(pl.Float64))
           .join(genres, on="item_id").drop_nulls("genre")
           .group_by("genre").agg(pl.col("weight").sum()))
    total = float(mix["weight"].sum()) if mix.height else 0.0
    if total <= 0:
        return None
    return {str(g): float(w) / total for g, w in mix.iter_rows()}
