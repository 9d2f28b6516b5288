"""The pipeline: candidate sources → blend → learned ranker, one model of the catalogue.

``Pipeline(config).fit(data, later)`` learns everything the way the quality benchmark measures
it: every member (a catalogue model with a grid of settings) is fit on ``data`` and its
setting chosen on ``later`` (what the listeners played after ``data``'s period: a split's
valid part); the blend (the best member alone, or a z-score or reciprocal-rank blend with
weights by coordinate ascent) is chosen *out of fold* over ``later``'s listeners, so that a
small cohort does not pick noise; then LightGBM learns corrections to the blend's order from
``later``'s labels (:mod:`tastemaker.ranking.residual`), kept only when they beat the blend out
of fold. Where ``data`` has timed plays, the ranker also learns from an earlier period cut from
``data`` itself, and the features use times and skips. Without ``later`` (``tastemaker train
pipeline`` on a workspace), the last share of each listener's span is held out as ``later``,
and once everything is chosen the members are refit on all of ``data``.

The listener's own most-played list (``history``) is always a member, so the blend can fall
back to it. Nothing is chosen by a data set's name: members that need what a bundle lacks
(artists, weights, times) are left out and say why in :attr:`Pipeline.report_`.

>>> pipe = Pipeline(PipelineConfig()).fit(train, later=valid)  # doctest: +SKIP
>>> pipe.recommend(["u1"], k=10, exclude=heard)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tastemaker.candidates.contract import Config, Fitted, excluded_cells, top_frame
from tastemaker.candidates.data import TrainingData, lookup
from tastemaker.candidates.hybrid import BlendPool, Hybrid, choose_blend
from tastemaker.ranking.candidate_features import FeatureInputs
from tastemaker.ranking.ltr import Ranker
from tastemaker.ranking.periods import earlier_period, hold_out
from tastemaker.ranking.residual import CorrectionSearch, Corrections, candidate_pool, fit_corrections, scored_pool

K = 10


class Member(BaseModel):
    """A member: a catalogue ``model`` and the ``grid`` of settings tried on the later period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    grid: list[dict[str, Any]] = Field(default_factory=lambda: [{}])
    needs_weights: bool = False


def _grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{}]
    for name, values in axes.items():
        rows = [{**row, name: v} for row in rows for v in values]
    return rows


#: the members tried by default, with their grids (the quality benchmark's)
MEMBERS: dict[str, Member] = {
    "history": Member(model="history", grid=[{"half_life_days": None}]),
    "itemknn": Member(model="itemknn", grid=_grid(k=(50, 100, 200), weighting=("cosine", "bm25"))),
    "als": Member(model="als", grid=_grid(factors=(64, 128), regularization=(10.0, 30.0), alpha=(0.3, 1.0, 3.0, 10.0))),
    # ALS on listening-aware confidence: star ratings where the data has them, else log(1 + plays)
    "als-weighted": Member(model="als", needs_weights=True, grid=[
        *_grid(signal=("confidence",), factors=(64,), regularization=(10.0, 30.0, 60.0), alpha=(0.5, 1.0, 2.0)),
        *_grid(signal=("confidence",), factors=(128, 256), regularization=(30.0, 50.0, 80.0), alpha=(1.0, 2.0, 3.0))]),
    "ease": Member(model="ease", grid=_grid(l2=(100.0, 250.0, 500.0, 1000.0))),
    "artist": Member(model="artist", grid=_grid(similar_weight=(0.0, 0.1, 0.3))),
    "rp3beta": Member(model="rp3beta", grid=_grid(alpha=(0.5, 0.75, 1.0), beta=(0.0, 0.2, 0.4, 0.6), k=(100, 400))),
    "slim": Member(model="slim", grid=_grid(alpha=(0.02, 0.05, 0.1), l1_ratio=(0.01, 0.05, 0.2))),
}


class PipelineConfig(Config):
    """How the pipeline is learnt.

    ``members``: name → :class:`Member`; ``target``: ``discovery`` (lists of unheard items) or
    ``familiar`` (re-listening counts); ``half_lives``: recency half-lives (days) added to
    ``history``'s grid where the data has times; ``big_catalogue``: above this many items, models
    with an item × item inverse (EASE) try their grid's first value only (a fit takes minutes);
    ``blend_pool``: each member's top items a blend is searched over; ``folds``: out-of-fold
    folds for the blend and the ranker; ``ranker``: learn corrections at all; ``candidates``:
    items per listener the ranker re-orders; ``scales``/``leaves``: the ranker's search;
    ``earlier``: where in each listener's span an earlier period is cut for extra ranker lists
    (times needed); ``later``: the share of each listener's span held out as the later period
    when none is given; ``choice_users``: at most this many listeners judge the choices, and at most ``choice_cells``
    listeners × items (each member's scores of them are held while choosing: 50M cells are 400 MB);
    ``max_grid``: try at most this many settings of each member (the first of its grid), for a
    quick fit; ``only``: the members to try (default: all; ``history`` always); ``min_gain_se``: a
    blend over the best member, and corrections over the blend, are taken only when their
    out-of-fold gain exceeds this many standard errors of the per-listener difference (0: any gain);
    ``artist_cap``: for the discovery target, a member's settings are judged on lists holding at most
    this many tracks of one artist, as Discover Weekly shows them (None: uncapped lists).
    """

    members: dict[str, Member] = Field(default_factory=lambda: dict(MEMBERS))
    target: Literal["discovery", "familiar"] = "discovery"
    half_lives: list[float] = Field(default_factory=lambda: [7.0, 14.0, 30.0, 60.0, 120.0, 365.0])
    big_catalogue: int = Field(10_000, ge=1)
    blend_pool: int = Field(300, ge=10)
    folds: int = Field(4, ge=2)
    ranker: bool = True
    candidates: int = Field(200, ge=10)
    scales: list[float] = Field(default_factory=lambda: [1.0, 4.0])
    leaves: list[int] = Field(default_factory=lambda: [7])
    earlier: float = Field(7 / 8, gt=0, lt=1)
    later: float = Field(0.1, gt=0, lt=1)
    choice_users: int = Field(5_000, ge=10)
    choice_cells: int = Field(50_000_000, ge=10)
    max_grid: int | None = Field(None, ge=1)
    only: list[str] | None = None
    min_gain_se: float = Field(1.0, ge=0)
    artist_cap: int | None = Field(2, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _known_members(self) -> PipelineConfig:
        unknown = sorted(set(self.only or ()) - set(self.members))
        if unknown:
            raise ValueError(f"only names members that do not exist: {unknown}; members: {sorted(self.members)}")
        if self.only is not None and "history" not in self.only:
            raise ValueError("only must keep the history member: the blend falls back to it")
        return self


class _Rows:
    """A fitted member as the index-level model :mod:`tastemaker.ranking.residual` calls; scores kept per batch."""

    def __init__(self, model: Any, users: np.ndarray | None = None, scores: np.ndarray | None = None) -> None:
        self.model = model
        self.cache = {} if users is None else {np.asarray(users).tobytes(): scores}

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        key = np.asarray(users).tobytes()
        if key not in self.cache:
            self.cache = {key: self.model.score_rows(np.asarray(users))}
        return self.cache[key]


class Pipeline(Fitted):
    """Members → blend → learned ranker (see the module docstring)."""

    name = "pipeline"
    _fitted_by = "members_"
    _items_by = "items_"

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()

    # --- learning -------------------------------------------------------------------------------------------

    def fit(self, data: TrainingData, later: pl.DataFrame | None = None) -> Self:
        """Learn members, blend and ranker; ``later`` (``user_id, item_id``) is the period choices are made on.

        Without ``later``, the last :attr:`PipelineConfig.later` of each listener's span is held
        out for the choices and the members are refit on all of ``data`` afterwards.
        """
        if later is not None:
            return self._learn(data, later)
        past, held = hold_out(data, self.config.later, self.config.target == "familiar")
        self._learn(past, held)
        self.members_ = {name: _refit(model, data) for name, model in self.members_.items()}
        self._set_data(data, like=self.inputs_)
        self.report_["refit_on_all"] = {"pairs": data.interactions.height}
        return self

    def _learn(self, data: TrainingData, later: pl.DataFrame) -> Self:
        index = data.index
        V = index.pairs(later)
        users = np.flatnonzero(np.diff(V.indptr) > 0)
        if not len(users):
            raise ValueError("no listener has anything in the later period to choose on")
        later_users = len(users)
        users = self._judges(users, len(index.items))
        mask = None if self.config.target == "familiar" else index.X
        members, report = self._members(data, users, V, mask)
        names = sorted(members, key=lambda n: -report[n]["valid_ndcg@10"])
        raws = [members[n][1] for n in names]
        chosen = choose_blend(BlendPool(raws, V[users], None if mask is None else mask[users], self.config.blend_pool),
                              names, self.config.folds, self.config.seed, min_gain_se=self.config.min_gain_se)
        # every member stays while the ranker learns: one left out of the blend still describes the candidates
        self.members_ = {name: members[name][0] for name in names}
        self.tried_ = dict(self.members_)  # every member at its best setting (not saved)
        self.weights_, self.fusion_ = list(chosen["weights"]), chosen["fusion"]
        self._set_data(data)
        self.report_: dict[str, Any] = {"judges": {"listeners": int(len(users)), "of": later_users},
                                        "members": report, "blend": {
            **chosen, "members": [n for n, w in zip(names, chosen["weights"], strict=True) if w],
            "weights": dict(zip(names, chosen["weights"], strict=True))}}
        self.corrections_ = self._corrections(data, users, V, mask, members) if self.config.ranker else None
        if self.corrections_ is None:  # only the blend's members are needed to serve its order
            kept = [i for i, w in enumerate(self.weights_) if w]
            self.members_ = {names[i]: self.members_[names[i]] for i in kept}
            self.weights_ = [self.weights_[i] for i in kept]
        self.report_["serving_members"] = list(self.members_)
        return self

    def _judges(self, users: np.ndarray, items: int) -> np.ndarray:
        """At most ``choice_users`` of ``users``, and at most ``choice_cells`` listeners × items (a seeded draw)."""
        judges = max(10, min(self.config.choice_users, self.config.choice_cells // max(items, 1)))
        if len(users) <= judges:
            return users
        return np.sort(np.random.default_rng(self.config.seed).choice(users, judges, replace=False))

    def _members(self, data: TrainingData, users: np.ndarray, V: sp.csr_matrix, mask: sp.csr_matrix | None
                 ) -> tuple[dict[str, tuple[Any, np.ndarray]], dict[str, Any]]:
        """Each usable member at its best setting on the later period, with its scores of ``users``."""
        from tastemaker.candidates.catalogue import entry, too_large  # the catalogue lists this class

        index, fitted, report = data.index, {}, {}
        artists = index.artists() if self.config.target == "discovery" and self.config.artist_cap else None
        weighted = data.ratings is not None or bool((index.W.data != 1).any())
        timed = data.plays is not None or "last_ts" in data.interactions.columns
        for name, member in self.config.members.items():
            if self.config.only is not None and name not in self.config.only:
                continue
            grid = list(member.grid)
            if name == "history" and timed:
                grid += [{"half_life_days": h} for h in self.config.half_lives]
            if (why := too_large(member.model, len(index.items))) or (member.needs_weights and not weighted):
                report[name] = {"skipped": why or "the data has no listening weights or ratings"}
                continue
            if member.model == "ease" and len(index.items) > self.config.big_catalogue:
                grid = grid[:1]
            grid = grid[:self.config.max_grid]
            best: tuple[float, dict[str, Any], Any, np.ndarray] | None = None
            for params in grid:
                try:
                    model = entry(member.model).create(**params).fit(data)
                except ValueError as exc:  # e.g. the artist model without artists
                    report[name] = {"skipped": str(exc)}
                    break
                raw = model.score_rows(users)
                score = full_ndcg(raw, V[users], None if mask is None else mask[users], artists=artists,
                                  cap=self.config.artist_cap)
                if best is None or score > best[0]:
                    best = (score, params, model, raw)
            if best is not None:
                fitted[name] = (best[2], best[3])
                report[name] = {"params": best[1], "valid_ndcg@10": round(best[0], 4)}
        if "history" not in fitted:
            raise ValueError("the history member could not be fit: " + str(report.get("history")))
        return fitted, report

    def _corrections(self, data: TrainingData, users: np.ndarray, V: sp.csr_matrix, mask: sp.csr_matrix | None,
                     members: dict[str, tuple[Any, np.ndarray]]) -> Corrections | None:
        """Ranker corrections to the blend learnt from the later period (and an earlier one, given times)."""
        chosen = list(self.members_)
        pool, labels, targets = _lists(self.hybrid(), {n: _Rows(members[n][0], users, members[n][1]) for n in chosen},
                                       users, data, V, mask, self.n_candidates, self.inputs_)
        extra = None
        early = earlier_period(data, self.config.earlier, self.config.target == "familiar")
        if early is not None:
            early_data, early_later = early
            refit = {n: _Rows(_refit(members[n][0], early_data)) for n in chosen}
            EV = early_data.index.pairs(early_later)
            early_users = self._judges(np.flatnonzero(np.diff(EV.indptr) > 0), len(early_data.index.items))
            if len(early_users):
                extra = _lists(Hybrid(list(refit.values()), self.weights_, self.fusion_), refit, early_users,
                               early_data, EV, None if mask is None else early_data.index.X, self.n_candidates,
                               FeatureInputs.of(early_data.index, self.inputs_))[:2]
                self.report_["earlier_period"] = {"users": int(len(early_users)), "labels": int(EV.nnz)}
        search = CorrectionSearch(scales=tuple(self.config.scales), leaves=tuple(self.config.leaves),
                                  folds=self.config.folds, seed=self.config.seed, min_gain_se=self.config.min_gain_se)
        found = fit_corrections(pool, labels, targets, search, extra)
        self.report_["ranker"] = {"kept": found.ranker is not None, "rounds": found.rounds, "scale": found.scale,
                                  "leaves": found.leaves, "valid_oof_ndcg@10": round(found.oof_ndcg, 4),
                                  "valid_blend_pool_ndcg@10": round(found.blend_ndcg, 4), "tried": found.tried}
        return found if found.ranker is not None else None

    def _set_data(self, data: TrainingData, like: FeatureInputs | None = None) -> None:
        index = data.index
        self.users_, self.items_, self.X_ = index.users, index.items, index.X
        self.popularity_ = np.asarray(index.X.sum(axis=0), dtype=np.float64).ravel()
        self.inputs_ = FeatureInputs.of(index, like)
        self.colistening_ = colistening_vectors(index.X)
        self.__dict__.pop("sources", None)
        self.n_candidates = min(self.config.candidates, len(index.items) - 1)

    def summary(self) -> dict[str, Any]:
        """What was chosen, in a few numbers: each member's setting and later-period NDCG@10, the blend's way
        and out-of-fold NDCG@10 per way, and the ranker's out-of-fold gain (kept or not)."""
        self._check()
        blend, ranker = self.report_["blend"], self.report_.get("ranker") or {}
        gain = next((t for t in ranker.get("tried", []) if "gain" in t), {})
        return {"members": {n: r.get("valid_ndcg@10", r.get("skipped")) for n, r in self.report_["members"].items()},
                "blend": blend["way"], "blend_members": blend["members"], "oof_ndcg@10": blend["oof_ndcg@10"],
                "ranker_kept": self.corrections_ is not None, "ranker_gain": gain.get("gain"),
                "ranker_gain_se": gain.get("gain_se"), "serving_members": list(self.members_)}

    def blend_only(self) -> Pipeline:
        """The same pipeline without the ranker's corrections: the blend's own order (to measure the ranker)."""
        self._check()
        plain = copy.copy(self)
        plain.corrections_ = None
        return plain

    @functools.cached_property
    def sources(self) -> list[Any]:
        """The ranker's feature sources over the pipeline's history (built once)."""
        return self.inputs_.sources()

    def hybrid(self) -> Hybrid:
        """The chosen blend over the fitted members (index-level)."""
        return Hybrid([_Rows(m) for m in self.members_.values()], self.weights_, self.fusion_)

    def item_vectors(self) -> np.ndarray:
        """Item vectors on :attr:`item_ids` (what reasons, radio and mixes compare tracks with): the first
        member's that learns any (ALS, BPR), else the co-listening space fit with the pipeline."""
        self._check()
        for model in self.members_.values():
            vectors = model.item_vectors()
            if vectors is not None:
                return vectors
        return self.colistening_

    def similar_items(self, item_id: str, k: int = 10) -> pl.DataFrame:
        """The ``k`` items closest to ``item_id`` in :meth:`item_vectors` (cosine) as ``item_id, score, rank``;
        empty for an unknown item."""
        self._check()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        at = lookup(self.items_, [item_id])[0]
        empty = pl.DataFrame(schema={"item_id": pl.String, "score": pl.Float64, "rank": pl.Int64})
        if at < 0:
            return empty
        vectors = self.item_vectors()
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        scores = unit @ unit[at]
        scores[at] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        top = top[np.isfinite(scores[top]) & (scores[top] > 0)]
        return pl.DataFrame({"item_id": self.items_[top].astype(str), "score": scores[top],
                             "rank": np.arange(1, len(top) + 1, dtype=np.int64)})

    # --- serving --------------------------------------------------------------------------------------------

    def score(self, user_ids: Sequence[str], exclude: pl.DataFrame | None = None) -> np.ndarray:
        """Users × :attr:`item_ids`: the ranked candidates first, then every other item in the blend's order
        (``-inf`` for ``exclude``); listeners the pipeline never saw get popularity."""
        self._check()
        ids = np.asarray(user_ids, dtype=str)
        out = np.tile(self.popularity_, (len(ids), 1))
        cells = excluded_cells(ids, self.items_, exclude) if exclude is not None and exclude.height else None
        rows = lookup(self.users_, ids)
        known = np.flatnonzero(rows >= 0)
        if len(known):
            blocked = _blocked(known, cells)
            pool, scores, blend = self._pool(rows[known], blocked)
            # beyond the ranked candidates the blend's order goes on, below every candidate
            ranked = blend - blend.max(axis=1, keepdims=True) + scores.min(axis=1, keepdims=True) - 1.0
            np.put_along_axis(ranked, pool.items, scores, axis=1)
            out[known] = ranked
        if cells is not None:
            out[cells] = -np.inf
        return out

    def ranked(self, rows: np.ndarray, blocked: Sequence[np.ndarray] | None = None, k: int = 10
               ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best items (columns of :attr:`item_ids`) of each of the pipeline's user ``rows`` and their
        scores, best first: the serving path (users × ``k`` arrays, no frame; ``k`` at most the candidates).

        ``blocked``: per row, the item columns never to return (what they heard).
        """
        self._check()
        if not 1 <= k <= self.n_candidates:
            raise ValueError(f"k must be within [1, {self.n_candidates}], got {k}")
        pool, scores, _ = self._pool(np.asarray(rows, dtype=np.int64), blocked)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(pool.items, order, 1), np.take_along_axis(scores, order, 1)

    def _pool(self, rows: np.ndarray, blocked: Sequence[np.ndarray] | None) -> tuple[Any, np.ndarray, np.ndarray]:
        """The candidate pool of user ``rows``, its final scores (the ranker's, else the blend's) and the blend."""
        hybrid = self.hybrid()
        pool, blend = scored_pool(hybrid, dict(zip(self.members_, hybrid.models, strict=True)), rows, self.X_,
                                  blocked, self.n_candidates, self.sources, self.popularity_,
                                  described=self.corrections_ is not None)
        if self.corrections_ is None:
            return pool, pool.start, blend
        if not getattr(self, "_names_checked", False):
            learnt = self.corrections_.ranker.booster_.feature_name()
            if learnt != pool.names:
                raise ValueError(f"the pipeline's ranker learnt the features {learnt}, this version computes "
                                 f"{pool.names}: retrain it (`tastemaker train pipeline`)")
            self._names_checked = True
        return pool, self.corrections_.score(pool), blend

    def recommend(self, user_ids: Sequence[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        """Top ``k`` per user as ``user_id, item_id, score, rank``; ``exclude`` pairs never.

        A pipeline serving its z-score blend alone answers each known listener through
        :class:`~tastemaker.ranking.retrieval.BlendRetriever` (the same items as scoring every one, which
        the server answers with too; ``score`` is then the blend itself); any other through :meth:`score`.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self._check()
        retriever = self.retriever()
        if retriever is None:
            return top_frame(user_ids, self.item_ids, self.score(user_ids, exclude), k)
        ids = np.asarray(user_ids, dtype=str)
        rows = lookup(self.users_, ids)
        cells = excluded_cells(ids, self.items_, exclude) if exclude is not None and exclude.height else None
        blocked = _blocked(np.arange(len(ids)), cells) or [np.empty(0, dtype=np.int64)] * len(ids)
        parts = []
        for at in np.flatnonzero(rows >= 0):
            items, scores = retriever.top(int(rows[at]), blocked[at], k)
            parts.append(pl.DataFrame({"user_id": [str(ids[at])] * len(items), "item_id": self.items_[items].astype(str),
                                       "score": scores, "rank": np.arange(1, len(items) + 1, dtype=np.int64)}))
        unknown = ids[rows < 0]
        if len(unknown):
            parts.append(top_frame(unknown.tolist(), self.item_ids, self.score(unknown.tolist(), exclude), k))
        if not parts:
            return top_frame([], self.item_ids, np.empty((0, len(self.items_))), k)
        order = {u: i for i, u in enumerate(ids.tolist())}
        return (pl.concat(parts, how="vertical_relaxed")
                .sort(pl.col("user_id").replace_strict(order, return_dtype=pl.Int64), "rank"))

    def retriever(self) -> Any:
        """The :class:`~tastemaker.ranking.retrieval.BlendRetriever` of this pipeline as it stands (its blend,
        its members), built once per blend; None when the pipeline is not served that way."""
        from tastemaker.ranking.retrieval import BlendRetriever

        key = (tuple(self.weights_), self.fusion_, self.corrections_ is None, tuple(map(id, self.members_.values())))
        cached = self.__dict__.get("_retriever")
        if cached is None or cached[0] != key:
            cached = (key, BlendRetriever.of(self))
            self.__dict__["_retriever"] = cached
        return cached[1]

    # --- files ----------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """``params.json`` (the config), ``state.json`` (blend, report), one folder per member, the ranker."""
        self._check()
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps({"model": self.name, **self.config.model_dump()}))
        state = {"members": list(self.members_), "weights": self.weights_, "fusion": self.fusion_,
                 "report": self.report_, "ranker": None}
        for name, model in self.members_.items():
            model.save(path / "members" / name)
        if self.corrections_ is not None:
            c = self.corrections_
            assert c.ranker is not None
            c.ranker.save(path / "ranker")
            state["ranker"] = {"scale": c.scale, "rounds": c.rounds, "leaves": c.leaves, "oof_ndcg": c.oof_ndcg,
                               "blend_ndcg": c.blend_ndcg}
        (path / "state.json").write_text(json.dumps(state, indent=1, default=float))
        self.inputs_.save(path / "inputs.npz")
        np.save(path / "colistening.npy", self.colistening_)

    @classmethod
    def load(cls, path: Path) -> Pipeline:
        """Read a pipeline written by :meth:`save`."""
        from tastemaker.candidates.catalogue import load

        params = json.loads((path / "params.json").read_text())
        params.pop("model", None)
        self = cls(PipelineConfig(**params))
        state = json.loads((path / "state.json").read_text())
        self.members_ = {name: load(path / "members" / name) for name in state["members"]}
        self.weights_, self.fusion_, self.report_ = state["weights"], state["fusion"], state["report"]
        self.inputs_ = FeatureInputs.load(path / "inputs.npz")
        self.colistening_ = np.load(path / "colistening.npy", allow_pickle=False)
        first = next(iter(self.members_.values()))
        self.users_, self.items_, self.X_ = first.users_, first.items_, self.inputs_.X
        self.popularity_ = np.asarray(self.X_.sum(axis=0), dtype=np.float64).ravel()
        self.n_candidates = min(self.config.candidates, len(self.items_) - 1)
        self.corrections_ = None
        if state["ranker"] is not None:
            r = state["ranker"]
            self.corrections_ = Corrections(Ranker.load(path / "ranker"), r["scale"], r["rounds"], r["leaves"],
                                            r["oof_ndcg"], r["blend_ndcg"])
        return self


def colistening_vectors(X: sp.csr_matrix, dim: int = 32) -> np.ndarray:
    """Items × ``dim``: a truncated SVD of the listener × item matrix (items with shared listeners lie close),
    rows scaled by their singular values; zeros for a catalogue too small to factor."""
    from scipy.sparse.linalg import svds

    dim = min(dim, min(X.shape) - 1)
    if dim < 1 or X.nnz == 0:
        return np.zeros((X.shape[1], max(dim, 1)))
    _, values, items = svds(sp.csr_matrix(X, dtype=np.float64), k=dim, random_state=0)
    return (items.T * values).astype(np.float64)


def _refit(model: Any, data: TrainingData) -> Any:
    """A new model of ``model``'s kind and settings fit on ``data``."""
    from tastemaker.candidates.catalogue import create

    return create(model.name, **model.config.model_dump()).fit(data)


def _lists(hybrid: Hybrid, members: dict[str, Any], users: np.ndarray, data: TrainingData, V: sp.csr_matrix,
           mask: sp.csr_matrix | None, n: int, inputs: FeatureInputs) -> tuple[Any, np.ndarray, np.ndarray]:
    """The labelled candidate lists of ``users``: pool, labels, each user's number of targets."""
    pool = candidate_pool(hybrid, members, users, data.index.X, mask, n, inputs.sources())
    return pool, np.take_along_axis(V[users].toarray(), pool.items, axis=1), np.diff(V.indptr)[users]


def full_ndcg(scores: np.ndarray, labels: sp.csr_matrix, mask: sp.csr_matrix | None, k: int = K, *,
              artists: np.ndarray | None = None, cap: int | None = None) -> float:
    """Mean NDCG@k of ranking every item by ``scores`` (users × items), ``mask`` items left out; with
    ``artists`` (each item's artist index, -1 unknown) and ``cap``, each list keeps at most ``cap`` items of
    one artist, its next best items moving up (a surface's artist cap).

    Ties are broken as the fixed-split evaluation breaks them (the higher index first).
    """
    scores = np.array(scores, dtype=np.float64)
    if mask is not None:
        rows, cols = mask.nonzero()
        scores[rows, cols] = -np.inf
    if artists is not None and cap is not None:
        top = _capped_top(scores, artists, cap, k)
    else:
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        top = np.take_along_axis(top, np.take_along_axis(scores, top, 1).argsort(axis=1)[:, ::-1], 1)
    hits = np.take_along_axis(labels.toarray() > 0, top, axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.clip(np.minimum(np.diff(labels.indptr), k), 1, None) - 1]
    return float(((hits * discount).sum(axis=1) / ideal).mean())


def _capped_top(scores: np.ndarray, artists: np.ndarray, cap: int, k: int, pool: int = 100) -> np.ndarray:
    """Each row's ``k`` best columns with at most ``cap`` of one artist (unknown artists are no limit), from its
    ``pool`` best; a row short of ``k`` is filled with its best left over."""
    pool = min(max(pool, k), scores.shape[1])
    best = np.argpartition(-scores, pool - 1, axis=1)[:, :pool]
    best = np.take_along_axis(best, np.take_along_axis(scores, best, 1).argsort(axis=1)[:, ::-1], 1)
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for r, row in enumerate(best):
        seen: dict[int, int] = {}
        taken: list[int] = []
        for col in row.tolist():
            a = int(artists[col])
            if a >= 0 and seen.get(a, 0) >= cap:
                continue
            seen[a] = seen.get(a, 0) + 1
            taken.append(col)
            if len(taken) == k:
                break
        if len(taken) < k:
            taken += [c for c in row.tolist() if c not in taken][:k - len(taken)]
        out[r] = taken
    return out


def _blocked(known: np.ndarray, cells: tuple[np.ndarray, np.ndarray] | None) -> list[np.ndarray] | None:
    """Per row of ``known`` (request rows), the item columns of ``cells`` (request row, column) in it."""
    if cells is None:
        return None
    order = np.argsort(cells[0], kind="stable")
    by_row, cols = cells[0][order], cells[1][order]
    lo, hi = np.searchsorted(by_row, known, "left"), np.searchsorted(by_row, known, "right")
    return [cols[a:b] for a, b in zip(lo, hi, strict=True)]
