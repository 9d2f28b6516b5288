"""The one table of models: name → class → typed config → loader.

The CLI, the engine, the simulator, evaluation and every benchmark read this table and nothing
else to know what models exist. Each entry builds a recommender that keeps
:class:`~tastemaker.candidates.contract.Recommender`'s contract; ``create`` validates the
parameters against the entry's config (an unknown key or a wrong type is an error) and
``load`` reads any saved model back by the name in its ``params.json``.

>>> create("als", factors=32).config.factors
32
>>> sorted(CATALOGUE)[:3]
['als', 'artist', 'bpr']
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tastemaker.candidates import configs
from tastemaker.candidates.als import ALS
from tastemaker.candidates.artist import ArtistDiscovery
from tastemaker.candidates.bpr import BPR
from tastemaker.candidates.content import ContentModel
from tastemaker.candidates.contract import Config, Recommender
from tastemaker.candidates.ease import EASE
from tastemaker.candidates.history import PersonalHistory
from tastemaker.candidates.itemknn import ItemKNN
from tastemaker.ranking.pipeline import Pipeline, PipelineConfig
from tastemaker.candidates.popularity import NewReleases, NewReleasesConfig, Popularity, PopularityConfig
from tastemaker.candidates.recommender import MatrixRecommender
from tastemaker.candidates.rp3beta import RP3Beta
from tastemaker.candidates.slim import SLIM


@dataclass(frozen=True)
class Entry:
    """One model: its class, config, what it is for, defaults over the config's, and how to build it."""

    name: str
    config: type[Config]
    summary: str
    build: Callable[[str, Config], Recommender]
    loader: Callable[[Path], Recommender]
    defaults: dict[str, Any] = field(default_factory=dict)
    #: the most items it is run on, and why (item × item matrices, one regression per item)
    max_items: tuple[int, str] | None = None

    def create(self, **params: Any) -> Recommender:
        """A new, unfitted model; ``params`` override the defaults and are validated by the config."""
        try:
            config = self.config(**{**self.defaults, **params})
        except ValidationError as exc:
            raise ValueError(f"{self.name}: {exc.errors()[0]['loc'][0]!s}: {exc.errors()[0]['msg']} "
                             f"(parameters: {', '.join(self.config.model_fields)})") from None
        return self.build(self.name, config)


def _matrix(estimator: type) -> Callable[[str, Config], Recommender]:
    def build(name: str, config: Config) -> Recommender:
        assert isinstance(config, configs.MatrixConfig)
        return MatrixRecommender(name, config, estimator)
    return build


def _popularity(name: str, config: Config) -> Recommender:
    return Popularity(**config.model_dump())


def _new_releases(name: str, config: Config) -> Recommender:
    return NewReleases(**config.model_dump())


def _item2vec(name: str, config: Config) -> Recommender:
    from tastemaker.candidates.sequence import Item2Vec

    return Item2Vec(**config.model_dump())


def _item2vec_config() -> type[Config]:
    from tastemaker.candidates.sequence import Item2VecConfig

    return Item2VecConfig


def _load_item2vec(path: Path) -> Recommender:
    from tastemaker.candidates.sequence import Item2Vec

    return Item2Vec.load(path)


ITEM_MATRIX = (20_000, "memory guard: an item × item matrix")
MATRIX = MatrixRecommender.load

CATALOGUE: dict[str, Entry] = {entry.name: entry for entry in (
    Entry("popularity", PopularityConfig, "tracks with the most listeners lately (a 30-day half-life from the "
          "data's clock), per country where the listening has countries", _popularity, Popularity.load,
          {"half_life_days": 30.0, "by": "auto"}),
    Entry("this-week", PopularityConfig, "tracks with the most listeners in the 7 days to the data's clock",
          _popularity, Popularity.load, {"window_days": 7.0, "by": "auto"}),
    Entry("trending", PopularityConfig, "popularity with a one-week half-life", _popularity, Popularity.load,
          {"half_life_days": 7.0}),
    Entry("country", PopularityConfig, "one popularity chart per listener country", _popularity, Popularity.load,
          {"by": "country"}),
    Entry("new-releases", NewReleasesConfig, "tracks released in the last days, fastest played first",
          _new_releases, NewReleases.load),
    Entry("history", configs.HistoryConfig, "the listener's own most played tracks, recent plays weigh more",
          _matrix(PersonalHistory), MATRIX),
    Entry("itemknn", configs.ItemKNNConfig, "item-item neighbours (implicit)", _matrix(ItemKNN), MATRIX),
    Entry("als", configs.ALSConfig, "implicit ALS matrix factorisation", _matrix(ALS), MATRIX),
    Entry("bpr", configs.BPRConfig, "implicit BPR matrix factorisation", _matrix(BPR), MATRIX),
    Entry("ease", configs.EASEConfig, "EASE closed-form item-item regression", _matrix(EASE), MATRIX,
          max_items=ITEM_MATRIX),
    Entry("slim", configs.SLIMConfig, "sparse non-negative item-item regressions", _matrix(SLIM), MATRIX,
          max_items=(5_000, "one regression per item")),
    Entry("rp3beta", configs.RP3BetaConfig, "random walk item → user → item with a popularity penalty",
          _matrix(RP3Beta), MATRIX, max_items=ITEM_MATRIX),
    Entry("artist", configs.ArtistConfig, "unheard tracks of the listener's artists, then similar artists",
          _matrix(ArtistDiscovery), MATRIX),
    Entry("content", configs.ContentConfig, "audio-feature similarity to the listener's tracks",
          _matrix(ContentModel), MATRIX),
    Entry("item2vec", _item2vec_config(), "next tracks after the listener's last plays (sequence extra: gensim)",
          _item2vec, _load_item2vec, {"epochs": 10}),
    Entry("pipeline", PipelineConfig, "members → blend → learned ranker, chosen on a later period",
          lambda name, config: Pipeline(config), Pipeline.load),
)}


def entry(name: str) -> Entry:
    """The catalogue entry ``name``; ``ValueError`` lists the known ones."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(CATALOGUE)}") from None


def create(name: str, **params: Any) -> Recommender:
    """A new model ``name`` with ``params`` (validated by its config).

    >>> create("ease", l2=250.0).config.l2
    250.0
    """
    return entry(name).create(**params)


def load(path: Path) -> Recommender:
    """Read a model saved by its ``save`` from ``path``, whatever its kind (named in ``params.json``)."""
    kind = json.loads((path / "params.json").read_text()).get("model")
    return entry(str(kind)).loader(path)


def too_large(name: str, n_items: int) -> str | None:
    """Why ``name`` is not run on ``n_items`` items (above its guard), else ``None``."""
    guard = entry(name).max_items
    return f"not run on {n_items:,} items ({guard[1]})" if guard and n_items > guard[0] else None
