"""The set a server answers from (catalog, models, precomputed lists and the service over them), and
where it is loaded from.

A :class:`Snapshot` is immutable and replaced whole: a reload builds a new one off to the side
(:meth:`Sources.build`), then the server assigns one attribute (``serving/runtime.py``). The
listening state it reads (:class:`~tastemaker.engine.state.ListeningState`) is not part of it: it
outlives every swap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tastemaker.candidates.ann import EXACT_BELOW
from tastemaker.engine.catalog import Catalog
from tastemaker.engine.follow import StoreFollower
from tastemaker.engine.lookup import Lookup
from tastemaker.engine.models import ModelSet, latest_version
from tastemaker.engine.precomputed import Precomputed, stat_key
from tastemaker.engine.recommend import RankerExperiment, RecommendationService
from tastemaker.engine.state import ListeningState

#: what the server serves from: (personal LATEST, fallback LATEST, batch file (mtime, size), ranker LATEST)
Key = tuple[str | None, str | None, tuple[int, int] | None, str | None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one request answers from; built whole, never changed."""

    catalog: Catalog
    models: ModelSet
    precomputed: Precomputed
    recommendations: RecommendationService
    #: tracks, artists and shows by name (built on first use)
    lookup: Lookup

    @classmethod
    def of(cls, store: Any, state: ListeningState, catalog: Catalog, models: ModelSet, precomputed: Precomputed,
           follower: StoreFollower | None = None, explore: float = 0.0,
           experiment: RankerExperiment | None = None) -> Snapshot:
        """The snapshot of these parts, with the recommendation service over them and ``state`` (kept in
        step with the store by ``follower`` when given)."""
        shows = store.entities("shows") if hasattr(store, "entities") else None
        return cls(catalog, models, precomputed,
                   RecommendationService(store, models, catalog, precomputed, state, follower, explore, experiment),
                   Lookup(catalog, shows, state.histories))


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a server's models and precomputed lists come from."""

    models_dir: Path
    personal: str
    fallback: str
    precomputed: Path
    ranker: str | None = "ranker"
    ann_above: int = EXACT_BELOW
    #: the share of for-you slots explored (see ``rerank.policies.epsilon_greedy``)
    explore: float = 0.0
    #: the A/B test of the for-you order the server runs, if any
    experiment: RankerExperiment | None = None

    def key(self) -> Key:
        """What the registry and the batch file name right now (four small reads)."""
        return (latest_version(self.models_dir, self.personal), latest_version(self.models_dir, self.fallback),
                stat_key(self.precomputed),
                latest_version(self.models_dir, self.ranker) if self.ranker is not None else None)

    def build(self, store: Any, state: ListeningState, keep: Snapshot | None = None,
              follower: StoreFollower | None = None) -> Snapshot:
        """A complete snapshot loaded from disk now, reading ``state``; ``keep``'s parts stand in for
        ones that fail to load."""
        catalog = Catalog.from_store(store)
        models = ModelSet.load(self.models_dir, store, catalog, self.personal, self.fallback,
                               keep=keep.models if keep else None, ranker=self.ranker,
                               history=state.histories(), ann_above=self.ann_above)
        return Snapshot.of(store, state, catalog, models,
                           Precomputed.load(self.precomputed, keep.precomputed if keep else None), follower,
                           self.explore, self.experiment)
