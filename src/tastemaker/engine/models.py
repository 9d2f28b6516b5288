"""The models a server answers with, loaded from the workspace's registry.

Two roles: the *personal* model (ALS by default: recommendations, reasons, mixes, similar, radio)
and the *fallback* (popularity), which answers whenever the personal model cannot. A model that
is missing or broken on disk is recorded with its error instead of stopping the server; when no
popularity model was trained, one is fitted from the store at startup, so a server with any
listening data can always answer. A :class:`ModelSet` is immutable: a newer version is loaded
into a new set, which then replaces the old one in one step (see ``serving/reload.py``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.candidates.ann import EXACT_BELOW, ItemIndex
from tastemaker.candidates.catalogue import load
from tastemaker.candidates.data import TrainingData
from tastemaker.candidates.popularity import Popularity
from tastemaker.candidates.registry import resolve
from tastemaker.candidates.similarity import CoListening, for_model
from tastemaker.engine.catalog import Catalog
from tastemaker.engine.ranked import RankedPath
from tastemaker.features.interactions import interactions
from tastemaker.features.kinds import music_events
from tastemaker.ranking.online import CandidateScorer, OnlineRanker, item_stats
from tastemaker.surfaces.radio import Radio
from tastemaker.surfaces.reasons import ItemSpace

log = logging.getLogger("tastemaker.engine")


def load_trained(models_dir: Path, name: str, version: str | None = None) -> tuple[Any, str]:
    """The latest (or given) version of model ``name`` from the registry, and its version.

    Raises ``ValueError`` when no such model was trained, and whatever reading it raises when its
    files are broken.
    """
    path = resolve(models_dir, name, version)
    kind = json.loads((path / "params.json").read_text())["model"]
    # the serving ranker re-orders another model's candidates: it is no recommender of the catalogue
    return (OnlineRanker.load(path) if kind == OnlineRanker.name else load(path)), path.name


def latest_version(models_dir: Path, name: str) -> str | None:
    """The version the registry's ``LATEST`` of ``name`` names now (None: never trained); one small read."""
    try:
        return (models_dir / name / "LATEST").read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


@dataclass(frozen=True, slots=True)
class Slot:
    """One role's model: the name asked for, and the loaded model and version, or why there is none.

    ``trained_on`` is the store version the model was trained on (from its ``meta.json``): a
    listener forgotten at that version or later is not personalised by it.
    """

    role: str
    name: str
    model: Any = None
    version: str | None = None
    error: str | None = None
    trained_on: int | None = None

    @property
    def loaded(self) -> bool:
        """Whether the model can answer."""
        return self.model is not None

    def describe(self) -> dict[str, Any]:
        """What ``/readyz`` reports about this role."""
        return {"model": self.name, "version": self.version, "loaded": self.loaded, "error": self.error}


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The personal model with what is derived from it (item space, radio, the array scorer of the
    for-you path, similarity by co-listeners with the model's vectors), the fallback with its chart by
    artist (``item_id, score, artist_id``, best first: what onboarding picks from), and the
    learning-to-rank model over the scorer's candidates (a role that may be empty: then candidates
    keep the personal model's order)."""

    personal: Slot
    fallback: Slot
    space: ItemSpace | None = None
    radio: Radio | None = None
    chart: pl.DataFrame | None = None
    scorer: CandidateScorer | None = None
    ranker: Slot | None = None
    #: the array path of a personal model that ranks on rows itself (the pipeline), else None
    path: RankedPath | None = None
    #: similar tracks and artists, and radio's seed neighbourhood (:mod:`tastemaker.candidates.similarity`)
    similarity: CoListening | None = None

    @classmethod
    def load(cls, models_dir: Path, store: Any, catalog: Catalog, personal: str = "als",
             fallback: str = "popularity", keep: ModelSet | None = None, ranker: str | None = "ranker",
             history: pl.DataFrame | None = None, ann_above: int = EXACT_BELOW) -> ModelSet:
        """Load the roles from ``models_dir``; failures are recorded in the slots, never raised.

        ``history``: the listening the server holds (interactions rows), for the scorer's item
        statistics (age, recent listeners) and who plays what (similar tracks and artists, radio's
        seed neighbourhood; without it similar tracks are the model's own and radio follows its vectors
        alone); ``ranker``: the ranker's registry name (None: none);
        ``ann_above``: from this many items on, the scorer retrieves through an HNSW graph.

        ``keep``: the set being replaced. A role whose registry names a version that fails to load
        keeps its model from ``keep`` (with the failure as its ``error``) rather than losing a
        working one; a role whose model was deleted from the registry is dropped.
        """
        mine, space, radio, scorer, similarity = _personal(models_dir, personal, catalog, history, ann_above)
        if not mine.loaded and _can_keep(keep.personal if keep else None, models_dir):
            assert keep is not None
            log.warning("keeping personal model %s %s: %s", personal, keep.personal.version, mine.error)
            mine, space, radio, scorer = _kept(keep.personal, mine.error), keep.space, keep.radio, keep.scorer
            similarity = keep.similarity
        backup = _slot("fallback", models_dir, fallback)
        if not backup.loaded and _can_keep(keep.fallback if keep else None, models_dir):
            assert keep is not None
            backup = _kept(keep.fallback, backup.error)
        elif not backup.loaded:
            backup = _popularity_from_store(store, fallback, backup.error)
        ranks = None
        if ranker is not None and latest_version(models_dir, ranker) is not None:
            ranks = _slot("ranker", models_dir, ranker)
            base = ranks.model.meta.get("base") if ranks.loaded else None
            if base is not None and base != getattr(mine.model, "name", personal):  # its features are another's
                ranks = Slot("ranker", ranker, error=f"{ranks.version} ranks {base}'s candidates, the personal "
                             f"model is {personal}: retrain it (`tastemaker train ranker`) or serve {base}")
            elif ranks.loaded and (lost := ranks.model.lost_to_model_order()):
                ranks = Slot("ranker", ranker,
                             error=f"{ranks.version} {lost}: for-you keeps {base or personal}'s order")
            if not ranks.loaded and _can_keep(keep.ranker if keep else None, models_dir):
                assert keep is not None and keep.ranker is not None
                ranks = _kept(keep.ranker, ranks.error)
        path = RankedPath.of(mine.model) if mine.loaded else None
        if path is not None:
            ranks = None  # the pipeline carries its own ranker
        return cls(mine, backup, space, radio, _chart(backup.model, catalog), scorer, ranks, path, similarity)

    @property
    def rank(self) -> OnlineRanker | None:
        """The loaded learning-to-rank model, or None."""
        return self.ranker.model if self.ranker is not None and self.ranker.loaded else None

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
        meta = json.loads((models_dir / name / version / "meta.json").read_text())
    except Exception as exc:  # missing (the registry's ValueError) or broken files: record, serve without
        wanted = latest_version(models_dir, name)
        log.warning("%s model %s %s not loaded: %s", role, name, wanted or "", exc)
        return Slot(role, name, error=f"{wanted + ': ' if wanted else ''}{type(exc).__name__}: {exc}")
    trained_on = meta.get("data", {}).get("store_version")
    return Slot(role, name, model, version, trained_on=int(trained_on) if trained_on is not None else None)


def _personal(models_dir: Path, name: str, catalog: Catalog, history: pl.DataFrame | None,
              ann_above: int = EXACT_BELOW
              ) -> tuple[Slot, ItemSpace | None, Radio | None, CandidateScorer | None, CoListening | None]:
    mine = _slot("personal", models_dir, name)
    if not mine.loaded:
        return mine, None, None, None, None
    try:
        space, radio, similarity = _derived(mine.model, catalog, history)
        scorer = _scorer(mine.model, catalog, models_dir / name / str(mine.version), history, ann_above)
    except Exception as exc:  # a model whose arrays do not line up is as broken as a missing one
        log.warning("personal model %s %s unusable: %s", name, mine.version, exc)
        return Slot("personal", name, error=f"{type(exc).__name__}: {exc}"), None, None, None, None
    return mine, space, radio, scorer, similarity


def _scorer(model: Any, catalog: Catalog, version_dir: Path, history: pl.DataFrame | None,
            ann_above: int = EXACT_BELOW) -> CandidateScorer | None:
    """The array scorer of a model with user and item vectors (None for one without), with its
    retrieval index (exact below ``ann_above`` items, HNSW from there) read from the model version's
    folder or built and saved there."""
    vectors = model.item_vectors()
    if vectors is None or getattr(getattr(model, "model", None), "user_factors_", None) is None:
        return None
    exact = len(model.item_ids) < ann_above
    index_dir = version_dir / ("index" if exact else "index-hnsw")
    index = None
    if (index_dir / "params.json").exists():
        try:
            index = ItemIndex.load(index_dir)
            if len(index.ids_) != len(model.item_ids) or index.exact != exact:
                index = None
        except Exception as exc:  # a broken cache is rebuilt
            log.warning("item index %s unreadable, rebuilding: %s", index_dir, exc)
            index = None
    if index is None:
        index = ItemIndex(exact_below=ann_above).build(model.item_ids, vectors)
        staging = index_dir.with_name(f".index-{os.getpid()}")
        try:  # whole or not at all: workers starting together each build it, the first rename wins
            index.save(staging)
            os.rename(staging, index_dir)
        except OSError as exc:  # a read-only registry, or another worker's index is there already
            shutil.rmtree(staging, ignore_errors=True)
            if not (index_dir / "params.json").exists():
                log.warning("item index not saved to %s: %s", index_dir, exc)
    stats = item_stats(history) if history is not None else None
    return CandidateScorer.of(model, catalog.artists, index, stats)


def _can_keep(old: Slot | None, models_dir: Path) -> bool:
    """Whether ``old`` should stand in: it answers, and the registry names a version of it that did not load."""
    return old is not None and old.loaded and latest_version(models_dir, old.name) is not None


def _kept(old: Slot, error: str | None) -> Slot:
    """``old`` still answering, with why the version meant to replace it did not load."""
    return Slot(old.role, old.name, old.model, old.version, f"newer version not loaded, kept "
                f"{old.version}: {error}", old.trained_on)


def _chart(model: Any, catalog: Catalog) -> pl.DataFrame | None:
    """The fallback's global chart with each track's artist, best first (None without one or a catalog)."""
    items, scores = getattr(model, "item_ids_", None), getattr(model, "scores_", None)
    if items is None or scores is None or not catalog.artists:
        return None
    chart = pl.DataFrame({"item_id": pl.Series(items, dtype=pl.String),
                          "score": pl.Series(scores, dtype=pl.Float64)})
    artists = pl.DataFrame({"item_id": list(catalog.artists), "artist_id": list(catalog.artists.values())},
                           schema={"item_id": pl.String, "artist_id": pl.String})
    return (chart.join(artists, on="item_id", how="inner", maintain_order="left")
            .sort("score", descending=True, maintain_order=True))


def _derived(model: Any, catalog: Catalog, history: pl.DataFrame | None
             ) -> tuple[ItemSpace | None, Radio | None, CoListening | None]:
    """The model's item space, radio over it, and the similarity of ``history``'s listening with the
    model's vectors (radio's seed neighbourhood, similar tracks and artists)."""
    vectors = model.item_vectors()
    if vectors is None:
        return None, None, None
    items = [str(i) for i in model.item_ids]
    artists = [catalog.artists.get(i) or i for i in items]
    similarity = for_model(model, history, catalog.artists) if history is not None and history.height else None
    return ItemSpace(model.item_ids, vectors), Radio(items, vectors, artists, similarity=similarity), similarity


def _popularity_from_store(store: Any, name: str, error: str | None) -> Slot:
    """Popularity fitted on the store now: the fallback of last resort when none was trained."""
    try:
        listened = interactions(music_events(store))  # a chart of music: no episodes
        if listened.is_empty():
            return Slot("fallback", name, error=f"{error}; and the store has no listens to fit popularity on")
        model = Popularity().fit(TrainingData(listened))
    except Exception as exc:
        log.error("no fallback model: %s; fitting popularity on the store failed too: %s", error, exc)
        return Slot("fallback", name, error=f"{error}; fitting on the store: {type(exc).__name__}: {exc}")
    return Slot("fallback", "popularity", model, f"store-v{store.version()}", error)
