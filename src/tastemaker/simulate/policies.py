"""The policies an experiment arm serves with, trained in a workspace and answered by the server's engine.

A policy is a name: ``popularity`` is the serving popularity level (the fallback chart, minus
what each listener heard); ``personal`` is the trained ALS model as the server serves it (model
level, falling back to popularity for listeners it does not know), in ALS's own order;
``ranker`` is what a server with a trained ranker serves: ALS's 200 candidates re-ordered by the
learning-to-rank model (``tastemaker train ranker``, retrained with the others); ``itemknn`` and
``bpr`` are other personal models served the same way. Each arm gets its own
:class:`~tastemaker.engine.recommend.RecommendationService`, built by
:meth:`~tastemaker.engine.snapshot.Snapshot.of` over the *same* listening state, so what a
listener played is excluded from their next list whichever arm they are in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.candidates.registry import register
from tastemaker.engine.catalog import Catalog
from tastemaker.engine.models import ModelSet, Slot
from tastemaker.engine.precomputed import Precomputed
from tastemaker.engine.recommend import RecommendationService
from tastemaker.engine.snapshot import Snapshot
from tastemaker.engine.state import ListeningState
from tastemaker.ranking.online import train_online_ranker

log = logging.getLogger("tastemaker.simulate")

#: the registry name of the popularity model every arm falls back to
FALLBACK = "popularity"
#: personal policy -> the catalogue model it serves (with the catalogue's defaults, as ``tastemaker train`` fits it)
PERSONAL: dict[str, str] = {"personal": "als", "bpr": "bpr", "itemknn": "itemknn", "ranker": "als"}
#: policies served with the learning-to-rank model over their personal model's candidates
RANKED = frozenset({"ranker"})
POLICIES: tuple[str, ...] = ("popularity", *PERSONAL)


def check_policies(policies: Sequence[str]) -> tuple[str, ...]:
    """``policies`` as a tuple, or ``ValueError`` naming an unknown or repeated one.

    Example:
        >>> check_policies(["popularity", "personal"])
        ('popularity', 'personal')
    """
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policies {unknown}; known: {', '.join(POLICIES)}")
    if len(set(policies)) != len(policies) or len(policies) < 2:
        raise ValueError(f"policies must be at least two different names, got {list(policies)}")
    return tuple(policies)


@dataclass(frozen=True, slots=True)
class Trained:
    """What one training round registered: the store version it saw, user-item pairs, versions by name."""

    store_version: int
    pairs: int
    versions: dict[str, str]


def train(store: Any, models_dir: Path, policies: Sequence[str]) -> Trained:
    """Fit popularity and the personal models ``policies`` need on every listen in ``store``; register them.

    Example:
        >>> train(store, Path("ws/models"), ["popularity", "personal"]).versions  # doctest: +SKIP
        {'popularity': 'v0001', 'als': 'v0001'}
    """
    seen = store.version()
    data = TrainingData.from_store(store)
    if data.interactions.is_empty():
        raise ValueError("the store has no listens to train on")
    meta = {"store": store.url, "store_version": seen, "pairs": data.interactions.height}
    versions = {FALLBACK: register(models_dir, FALLBACK, create(FALLBACK).fit(data), meta)}
    for policy in policies:
        if policy in PERSONAL:
            name = PERSONAL[policy]
            if name not in versions:
                versions[name] = register(models_dir, name, create(name).fit(data), meta)
    if RANKED & set(policies):
        events = store.events().filter(pl.col("type") != "impression").collect()
        tracks = store.entities("tracks")
        artists = (dict(zip(tracks["track_id"].to_list(), tracks["artist_id"].to_list(), strict=True))
                   if tracks.height else {})
        try:
            ranker = train_online_ranker(events, lambda: create(PERSONAL["ranker"]), artists)
        except ValueError as exc:  # too little listening in the label week: the arm serves ALS's order
            log.warning("ranker not trained (%s); the ranker arm serves the personal model's order", exc)
        else:
            versions["ranker"] = register(models_dir, "ranker", ranker,
                                          {**meta, "pairs": ranker.meta["train_lists"]})
    return Trained(seen, data.interactions.height, versions)


def services(store: Any, state: ListeningState, models_dir: Path, policies: Sequence[str]
             ) -> dict[str, RecommendationService]:
    """One recommendation service per policy over ``state``, from the latest registered models.

    The popularity arm's personal slot is empty, so every list comes from the serving
    popularity level (``served_by.level == "popularity"``, cause ``not_loaded``).

    Example:
        >>> arms = services(store, state, Path("ws/models"), ["popularity", "personal"])  # doctest: +SKIP
    """
    catalog = Catalog.from_store(store)
    none = Precomputed(models_dir / "no-precomputed-lists.parquet")
    out: dict[str, RecommendationService] = {}
    for policy in policies:
        personal = PERSONAL.get(policy, FALLBACK)
        models = ModelSet.load(models_dir, store, catalog, personal=personal, fallback=FALLBACK,
                               ranker="ranker" if policy in RANKED else None, history=state.histories())
        if policy == "popularity":
            models = ModelSet(Slot("personal", "none", error="the popularity arm serves no personal model"),
                              models.fallback, chart=models.chart)
        out[policy] = Snapshot.of(store, state, catalog, models, none).recommendations
    return out


def served_lists(service: RecommendationService, user_ids: Sequence[str], surface: str, n: int
                 ) -> tuple[list[list[str | None]], list[str]]:
    """Each listener's list (padded with ``None`` to ``n``) and the level that served it.

    Example:
        >>> lists, levels = served_lists(service, ["tm:user:000001"], "for-you", 10)  # doctest: +SKIP
        >>> levels  # doctest: +SKIP
        ['model']
    """
    lists: list[list[str | None]] = []
    levels: list[str] = []
    for user_id in user_ids:
        served = service.recommend(user_id, surface, n)
        items: list[str | None] = [item["item_id"] for item in served.items[:n]]
        lists.append(items + [None] * (n - len(items)))
        levels.append(served.level)
    return lists, levels


def level_counts(levels: Sequence[str]) -> dict[str, int]:
    """How many lists each level served.

    Example:
        >>> level_counts(["model", "model", "popularity"])
        {'model': 2, 'popularity': 1}
    """
    counts = pl.Series("level", list(levels), dtype=pl.String).value_counts(sort=True)
    return dict(zip(counts["level"].to_list(), counts["count"].to_list(), strict=True))
