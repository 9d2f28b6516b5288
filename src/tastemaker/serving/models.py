"""The models a server answers with, loaded once from the workspace's registry.

Two roles: the *personal* model (ALS by default: recommendations, reasons, mixes, similar, radio)
and the *fallback* (popularity), which answers whenever the personal model cannot. A model that
is missing or broken on disk is recorded with its error instead of stopping the server; when no
popularity model was trained, one is fitted from the store at startup, so a server with any
listening data can always answer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tastemaker.candidates.popularity import NewReleases, Popularity
from tastemaker.candidates.recommender import MatrixRecommender
from tastemaker.candidates.registry import resolve
from tastemaker.features.interactions import interactions
from tastemaker.serving.catalog import Catalog
from tastemaker.surfaces.radio import Radio
from tastemaker.surfaces.reasons import ItemSpace

log = logging.getLogger("tastemaker.serving")


def load_trained(models_dir: Path, name: str, version: str | None = None) -> tuple[Any, str]:
    """The latest (or given) version of model ``name`` from the registry, and its version.

    Raises ``ValueError`` when no such model was trained, and whatever reading it raises when its
    files are broken.
    """
    path = resolve(models_dir, name, version)
    kind = json.loads((path / "params.json").read_text())["model"]
    loaders: dict[str, Any] = {"popularity": Popularity.load, "new-releases": NewReleases.load}
    if kind == "item2vec":
        from tastemaker.candidates.sequence import Item2Vec

        loaders["item2vec"] = Item2Vec.load
    return loaders.get(kind, MatrixRecommender.load)(path), path.name


@dataclass(frozen=True, slots=True)
class Slot:
    """One role's model: the name asked for, and the loaded model and version, or why there is none."""

    role: str
    name: str
    model: Any = None
    version: str | None = None
    error: str | None = None

    @property
    def loaded(self) -> bool:
        """Whether the model can answer."""
        return self.model is not None

    def describe(self) -> dict[str, Any]:
        """What ``/readyz`` reports about this role."""
        return {"model": self.name, "version": self.version, "loaded": self.loaded, "error": self.error}


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The personal model with what is derived from it (item space, radio), and the fallback."""

    personal: Slot
    fallback: Slot
    space: ItemSpace | None = None
    radio: Radio | None = None

    @classmethod
    def load(cls, models_dir: Path, store: Any, catalog: Catalog, personal: str = "als",
             fallback: str = "popularity") -> ModelSet:
        """Load both roles from ``models_dir``; failures are recorded in the slots, never raised."""
        mine = _slot("personal", models_dir, personal)
        space = radio = None
        if mine.loaded:
            try:
                space, radio = _derived(mine.model, catalog)
            except Exception as exc:  # a model whose arrays do not line up is as broken as a missing one
                log.warning("personal model %s %s unusable: %s", personal, mine.version, exc)
                mine = Slot("personal", personal, error=f"{type(exc).__name__}: {exc}")
        backup = _slot("fallback", models_dir, fallback)
        if not backup.loaded:
            backup = _popularity_from_store(store, fallback, backup.error)
        return cls(mine, backup, space, radio)

    def knows(self, user_id: str) -> bool:
        """Whether the personal model was trained on ``user_id``'s listening."""
        users = getattr(self.personal.model, "users_", None)
        if users is None or not len(users):
            return False
        at = int(np.searchsorted(users, user_id))
        return at < len(users) and str(users[at]) == user_id


def _slot(role: str, models_dir: Path, name: str) -> Slot:
    try:
        model, version = load_trained(models_dir, name)
    except Exception as exc:  # missing (the registry's ValueError) or broken files: record, serve without
        log.warning("%s model %s not loaded: %s", role, name, exc)
        return Slot(role, name, error=f"{type(exc).__name__}: {exc}")
    return Slot(role, name, model, version)


def _derived(model: Any, catalog: Catalog) -> tuple[ItemSpace | None, Radio | None]:
    vectors = model.item_vectors() if hasattr(model, "item_vectors") else None
    if vectors is None:
        return None, None
    items = [str(i) for i in model.items_]
    artists = [catalog.artists.get(i) or i for i in items]
    return ItemSpace(model.items_, vectors), Radio(items, vectors, artists)


def _popularity_from_store(store: Any, name: str, error: str | None) -> Slot:
    """Popularity fitted on the store now: the fallback of last resort when none was trained."""
    try:
        listened = interactions(store.events())
        if listened.is_empty():
            return Slot("fallback", name, error=f"{error}; and the store has no listens to fit popularity on")
        model = Popularity().fit(listened)
    except Exception as exc:
        log.error("no fallback model: %s; fitting popularity on the store failed too: %s", error, exc)
        return Slot("fallback", name, error=f"{error}; fitting on the store: {type(exc).__name__}: {exc}")
    return Slot("fallback", "popularity", model, f"store-v{store.version()}", error)
