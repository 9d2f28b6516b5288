"""Recommendations per surface for one listener, in real time, with fallbacks.

Each request reads the listener's listening from the server's in-memory state (see
:mod:`tastemaker.engine.state`, kept current by ``/v1/events`` and forgetting), so what they
played a moment ago (say, posted to ``/v1/events``) is already excluded from *for-you* and *Discover Weekly* and already
feeds the history their reasons, Daily Mixes and home shelves are built from, without retraining.

Fallbacks, in order: the personal model answers when it is loaded, knows the listener (and they
were not forgotten since it was trained) and returns something; otherwise their precomputed
batch list (for-you and Discover Weekly), minus what they heard since; otherwise popularity,
led by the artists they picked at onboarding. The :class:`Served` result says which level
answered and why the personal model did not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from tastemaker.engine.catalog import Catalog
from tastemaker.engine.errors import ModelUnavailable
from tastemaker.engine.follow import REQUEST_ROWS, StoreFollower
from tastemaker.engine.models import ModelSet
from tastemaker.engine.onboarding import picked_rows, profile
from tastemaker.engine.precomputed import MODEL as PRECOMPUTED_MODEL
from tastemaker.engine.precomputed import Precomputed
from tastemaker.engine.ranked import RankedPath
from tastemaker.engine.state import ListeningState
from tastemaker.ranking.online import CANDIDATES, CandidateScorer
from tastemaker.rerank.policies import epsilon_greedy
from tastemaker.surfaces.daily_mix import DailyMixes, MixParams
from tastemaker.surfaces.discover_weekly import discover_weekly
from tastemaker.surfaces.home import HomeSources, home, standard_shelves
from tastemaker.surfaces.reasons import because_you_played, reason

log = logging.getLogger("tastemaker.engine")

SURFACES = ("for-you", "discover-weekly", "daily-mix", "home")
#: the columns of every served item, in order
ITEM_COLUMNS = ("position", "item_id", "kind", "title", "subtitle", "score", "reason", "because", "group",
                "group_title", "propensity")
#: how many candidates a Daily Mix picks its new tracks from
MIX_POOL = 300
#: the id a forgotten listener is charted as (no model learnt anything of it)
ANONYMOUS = "\x00anonymous"
#: the surfaces a precomputed Discover Weekly list can stand in for
PRECOMPUTED_SURFACES = ("for-you", "discover-weekly")
#: model answers of for-you kept per listener and length, each valid while the listener's listening is
#: unchanged (``ListeningState.version``); a hot swap builds a new service, so a new model starts empty.
#: An answer of 10 items holds about 7 KB of Python objects: at most ~60 MB per worker
ANSWERS_KEPT = 8_192


@dataclass(frozen=True, slots=True)
class Listening:
    """One listener's events as stored now: every item they touched, their listens per item, and the
    days each item was shown to them (``user_id, item_id, day``)."""

    user_id: str
    heard: pl.DataFrame
    history: pl.DataFrame
    shown: pl.DataFrame | None = None

    def shown_counts(self) -> pl.DataFrame | None:
        """``user_id, item_id, shown``: on how many days each item was shown (the no-repeat policy's count)."""
        if self.shown is None or self.shown.is_empty():
            return None
        return self.shown.group_by("user_id", "item_id").agg(pl.len().cast(pl.Int64).alias("shown"))


@dataclass(frozen=True, slots=True)
class Served:
    """A served list and who served it: ``level`` is ``"model"``, ``"precomputed"`` or
    ``"popularity"``; ``cause`` says why the personal model did not (``not_loaded``,
    ``unknown_user``, ``forgotten``, ``no_item_vectors``, ``no_catalog``, ``empty``, ``error``),
    ``None`` when it did."""

    items: list[dict[str, Any]]
    level: str
    model: str
    version: str | None
    cause: str | None = None
    #: the learning-to-rank model that ordered the list (``ranker@v0001``), None when none did
    ranker: str | None = None
    #: ``experiment:arm`` when an experiment's arm decided the list (an exposure), else None
    variant: str | None = None


class Unservable(Exception):
    """The personal model cannot build this surface (the message is the fallback cause)."""


class RecommendationService:
    """Build a surface for a listener from the loaded models, the catalog and the listening state.

    ``state``: the listening requests read; by default loaded from ``store`` now (one scan). A
    server passes its own, which its event ingest and forgetting keep current.

    >>> RecommendationService(store, models, catalog).recommend("u1", "for-you", 10).level  # doctest: +SKIP
    'model'
    """

    def __init__(self, store: Any, models: ModelSet, catalog: Catalog, precomputed: Precomputed | None = None,
                 state: ListeningState | None = None, follower: StoreFollower | None = None,
                 explore: float = 0.0, experiment: RankerExperiment | None = None) -> None:
        if not 0.0 <= explore < 1.0:
            raise ValueError(f"explore must be within [0, 1), got {explore}")
        self.store = store
        #: the share of for-you slots filled at random from the rest of the candidates (epsilon-greedy)
        self.explore = explore
        #: an A/B of the for-you order: each listener's arm orders their list by the ranker or by the model
        self.experiment = experiment
        self._rng = np.random.default_rng()
        self.state = state if state is not None else ListeningState.load(store)
        self.follower = follower
        self.models = models
        self.catalog = catalog
        self.precomputed = precomputed
        #: (listener, n) -> (their listening's version, the model's for-you): the same listener asking again
        #: with nothing new (the app reopened, a page reloaded) is answered without ranking again; never
        #: with exploration, whose draws differ per answer
        self._answers: dict[tuple[str, int], tuple[int, Served]] = {}
        self._surfaces: dict[str, Callable[[Listening, int], pl.DataFrame | list[dict[str, Any]]]] = {
            "for-you": self._for_you, "discover-weekly": self._discover_weekly, "daily-mix": self._daily_mix,
            "home": self._home}

    def listening(self, user_id: str) -> Listening:
        """``user_id``'s listening as the server holds it at this moment (impressions are not listening):
        what this process stored, and what others stored before this call when it is small, else as
        far as the background follower got (see ``follow.py``)."""
        if self.follower is not None:  # a small write by another process at once; a big one in the background
            self.follower.catch_up(REQUEST_ROWS, whole=True)
        held = self.state.get(user_id)
        return Listening(user_id, held.heard, held.history, held.shown)

    def recommend(self, user_id: str, surface: str, n: int) -> Served:
        """Up to ``n`` items of ``surface`` for ``user_id`` (Daily Mixes: ``n`` per mix; home: per shelf)."""
        if surface not in self._surfaces:
            raise ValueError(f"unknown surface {surface!r}; known: {', '.join(SURFACES)}")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        listening = self.listening(user_id)
        personal = self.models.personal
        cause = self._cannot_personalise(user_id)
        keep = cause is None and surface == "for-you" and self.explore == 0
        if keep:
            version = self.state.version(user_id)
            kept = self._answers.get((user_id, n))
            if kept is not None and kept[0] == version:
                return kept[1]
        if cause is None:
            try:
                rows = self._surfaces[surface](listening, n)
            except Unservable as exc:
                cause = str(exc)
            except Exception as exc:  # a broken model must not fail the request: the fallback answers
                log.warning("personal model %s failed on %s: %s", personal.name, surface, type(exc).__name__,
                            exc_info=exc)
                cause = "error"
            else:
                served = None
                if isinstance(rows, list):  # the array path: items built already, ordered by the ranker
                    if rows:
                        arm = self._arm(user_id)
                        served = Served(rows, "model", personal.name, personal.version, None,
                                        self._ranked_by() if arm != MODEL_ORDER else None,
                                        f"{self.experiment.name}:{arm}" if self.experiment and arm else None)
                elif rows.height:
                    served = Served(served_items(rows), "model", personal.name, personal.version)
                if served is not None:
                    if keep:
                        self._keep((user_id, n), version, served)
                    return served
                cause = "empty"
        # a batch list written before a forget is the forgotten listener's old listening: never theirs now
        if self.precomputed is not None and surface in PRECOMPUTED_SURFACES and cause != "forgotten":
            rows = self.precomputed.for_user(user_id, listening.heard, n)
            if rows.height:
                return Served(served_items(rows), "precomputed", PRECOMPUTED_MODEL, self.precomputed.version,
                              cause)
        return self._popular(listening, n, cause)

    def _keep(self, key: tuple[str, int], version: int, served: Served) -> None:
        """Keep a for-you answer; past :data:`ANSWERS_KEPT` the oldest kept goes first."""
        answers = self._answers
        answers.pop(key, None)  # re-inserted last: the newest
        answers[key] = (version, served)
        while len(answers) > ANSWERS_KEPT:
            try:
                del answers[next(iter(answers))]
            except (StopIteration, KeyError, RuntimeError):  # another thread emptied or changed it meanwhile
                break

    def _cannot_personalise(self, user_id: str) -> str | None:
        """Why the personal model must not answer ``user_id``, or None when it may."""
        personal = self.models.personal
        if not personal.loaded:
            return "not_loaded"
        if not self.models.knows(user_id):
            return "unknown_user"
        forgotten = self.store.forgotten_at(user_id)
        if forgotten is not None and (personal.trained_on is None or personal.trained_on <= forgotten):
            return "forgotten"  # the model still holds what they did before they were forgotten
        return None

    def _popular(self, listening: Listening, n: int, cause: str | None) -> Served:
        """The fallback's list: the listener's onboarding picks first (when they made any), then the chart."""
        fallback = self.models.fallback
        if not fallback.loaded:
            raise ModelUnavailable(f"neither the personal nor the fallback model is loaded "
                                   f"({fallback.error}); `tastemaker train popularity` (picked up within seconds)")
        me = profile(self.store, listening.user_id)
        rows = pl.DataFrame(schema={"item_id": pl.String, "score": pl.Float64, "reason": pl.String})
        if me.picks and self.models.chart is not None:
            rows = picked_rows(self.models.chart, self.catalog, me.picks, listening.heard, n)
        if rows.height < n:
            # a forgotten listener is nobody to the chart: the country it learnt for them must not pick their list
            who = ANONYMOUS if cause == "forgotten" else listening.user_id
            exclude = pl.concat([listening.heard.select(pl.lit(who).alias("user_id"), "item_id"),
                                 rows.select(pl.lit(who).alias("user_id"), "item_id")])
            by_country = getattr(fallback.model, "by_country", False) and me.country
            extra = {"countries": {who: me.country}} if by_country else {}
            recs = fallback.model.recommend([who], k=n - rows.height, exclude=exclude, **extra)
            rows = pl.concat([rows, recs.select("item_id", pl.col("score").cast(pl.Float64),
                                                pl.lit(reason("popular")).alias("reason"))])
        return Served(served_items(self.catalog.titled(rows)), "popularity", fallback.name, fallback.version,
                      cause)

    def _arm(self, user_id: str) -> str | None:
        """The listener's arm of the for-you experiment (None: no experiment, or not in it)."""
        return self.experiment.arm(user_id) if self.experiment is not None else None

    def _ranked_by(self) -> str | None:
        ranker = self.models.ranker
        return f"{ranker.name}@{ranker.version}" if ranker is not None and ranker.loaded else None

    # ------------------------------------------------------------------ surfaces of the personal model
    def _for_you(self, listening: Listening, n: int) -> pl.DataFrame | list[dict[str, Any]]:
        if self.models.path is not None:
            return self._for_you_pipeline(self.models.path, listening, n)
        scorer = self.models.scorer
        if scorer is not None:
            return self._for_you_ranked(scorer, listening, n)
        recs = self.models.personal.model.recommend([listening.user_id], k=n, exclude=listening.heard)
        if self.models.space is not None:
            recs = because_you_played(recs, _weights(listening, self.catalog), self.models.space, self.catalog.names,
                                      artists=self.catalog.artists)
        else:
            recs = recs.with_columns(pl.lit(reason("discovery")).alias("reason"))
        return self.catalog.titled(recs)

    def _for_you_ranked(self, scorer: CandidateScorer, listening: Listening, n: int) -> list[dict[str, Any]]:
        """For-you on arrays (ranking/online.py): ``CANDIDATES`` unheard items of the listener's vector,
        re-ordered by the learning-to-rank model when one is loaded, each "because you played" the
        history track it is closest to. A listener whose listening changed since the server loaded
        it gets their vector solved from it now (ALS fold-in), so a new play moves the whole list."""
        row = scorer.user_row(listening.user_id)
        if row is None:
            raise Unservable("unknown_user")
        heard = scorer.rows_of(listening.heard["item_id"].to_list())
        history, recency = scorer.known(listening.history["item_id"].to_list(),
                                        listening.history["recency"].to_numpy())
        vector = None
        if scorer.fold is not None and self.state.changed(listening.user_id):  # listened since it was trained
            signal = scorer.fold[2]
            weight = listening.history["weight"].to_numpy()
            values = {"binary": np.ones(listening.history.height), "confidence": np.log1p(weight)}.get(signal, weight)
            vector = scorer.fold_in(*scorer.known(listening.history["item_id"].to_list(), values))
        pool = scorer.pool(row, heard, history, recency, max(CANDIDATES, n), vector)
        ranker = self.models.rank if self._arm(listening.user_id) != MODEL_ORDER else None
        scores = ranker.scores(pool.features) if ranker is not None else pool.features[:, 0].astype(np.float64)
        top, chance, explored = epsilon_greedy(np.argsort(-scores, kind="stable"), n, self.explore, self._rng)
        items = scorer.items
        return [self._item(position, str(items[pool.rows[at]]), float(scores[at]),
                           str(items[pool.because[at]]) if pool.because[at] >= 0 else None, explored[position - 1],
                           chance[position - 1]) for position, at in enumerate(top, start=1)]

    def _for_you_pipeline(self, path: RankedPath, listening: Listening, n: int) -> list[dict[str, Any]]:
        """For-you from the pipeline's own order (its members, blend and ranker) on arrays, each track
        "because you played" the recent history track closest to it; exploration draws from the rest of
        the pipeline's candidates."""
        depth = path.depth if self.explore > 0 else n
        found = path.top(listening.user_id, listening.heard["item_id"].to_list(),
                         listening.history["item_id"].to_list(), listening.history["recency"].to_numpy(), depth)
        if found is None:
            raise Unservable("unknown_user")
        rows, scores, because = found
        top, chance, explored = epsilon_greedy(np.arange(len(rows)), n, self.explore, self._rng)
        return [self._item(position, str(path.items[rows[at]]), float(scores[at]),
                           str(path.items[because[at]]) if because[at] >= 0 else None, explored[position - 1],
                           chance[position - 1]) for position, at in enumerate(top, start=1)]

    def _item(self, position: int, item_id: str, score: float, played: str | None, explored: bool,
              chance: float | None) -> dict[str, Any]:
        """One served track of an array path, named from the catalog. A reason names only a catalogue music
        track: a played item the catalogue has no row for (an id only) is named by no reason."""
        title, artist = self.catalog.titles.get(item_id, (item_id, None))
        if played is not None and (played not in self.catalog.titles or played in self.catalog.not_music):
            played = None
        why = (reason("exploration") if explored else
               reason("because", name=self.catalog.names.get(played, played)) if played else reason("discovery"))
        return {"position": position, "item_id": item_id, "kind": "track", "title": title, "subtitle": artist,
                "score": score, "reason": why, "because": played, "group": None, "group_title": None,
                "propensity": chance}

    def _discover_weekly(self, listening: Listening, n: int) -> pl.DataFrame:
        if self.catalog.tracks.is_empty():
            raise Unservable("no_catalog")
        playlist = discover_weekly(self.models.personal.model, listening.user_id, listening.heard,
                                   self.catalog.tracks, size=n, impressions=listening.shown_counts())
        return playlist.select(pl.col("track_id").alias("item_id"), pl.col("name").alias("title"),
                               pl.col("artist_name").alias("subtitle"), "score", "reason")

    def _daily_mix(self, listening: Listening, n: int) -> pl.DataFrame:
        return self.catalog.titled(self._mixes(listening, n).select(
            "item_id", "score", "because", "reason", pl.format("daily-mix-{}", "mix").alias("group"),
            pl.col("mix_name").alias("group_title")))

    def _mixes(self, listening: Listening, n: int) -> pl.DataFrame:
        """The listener's Daily Mixes as :class:`DailyMixes` builds them, ``n`` tracks per mix."""
        space = self.models.space
        if space is None:
            raise Unservable("no_item_vectors")
        model = self.models.personal.model
        # music of the catalogue only, as the batch mixes: a track without a row would be a mix's unnamed track
        candidates = self.catalog.music(model.recommend([listening.user_id], k=MIX_POOL, exclude=listening.heard))
        mixes = DailyMixes(space, self.catalog.artists, self.catalog.artist_names,
                           MixParams(size=n, new=min(MixParams().new, n // 4)), names=self.catalog.names)
        return mixes.for_user(listening.user_id, _weights(listening, self.catalog).drop("user_id"), candidates)

    def _home(self, listening: Listening, n: int) -> pl.DataFrame:
        if self.models.space is None:
            raise Unservable("no_item_vectors")
        history = listening.history
        mixes = self._mixes(listening, MixParams().size) if history.height else None
        model = self.models.personal.model
        discover = (discover_weekly(model, listening.user_id, listening.heard, self.catalog.tracks,
                                    impressions=listening.shown_counts())
                    if self.catalog.tracks.height else None)
        last = history["last_ts"].max() if history.height else None
        today = last.date() if isinstance(last, datetime) else datetime.now(UTC).date()
        sources = HomeSources(model, history, self.catalog.tracks, self.models.fallback.model, mixes,
                              discover, today=today)
        shelves, relevance = standard_shelves(listening.user_id, sources)
        page = home(listening.user_id, shelves, relevance, cards=n)
        return page.select("item_id", "kind", "title", "subtitle", "score", "reason",
                           pl.col("shelf").alias("group"), pl.col("shelf_title").alias("group_title"))


#: the arm of a for-you experiment that keeps the personal model's own order (no ranker)
MODEL_ORDER = "model"
#: the arms a for-you experiment can have
ARMS = (MODEL_ORDER, "ranker")


@dataclass(frozen=True, slots=True)
class RankerExperiment:
    """An A/B test of the for-you order run by the server: arms ``model`` (the personal model's order) and
    ``ranker`` (the learning-to-rank order), listeners assigned by salted hashing (``experiments.assignment``).

    >>> exp = RankerExperiment.of("ranker-ab", {"model": 1.0, "ranker": 1.0})
    >>> exp.arm("tm:user:000001") in ("model", "ranker")
    True
    """

    name: str
    assigner: Any

    @classmethod
    def of(cls, name: str, weights: dict[str, float]) -> RankerExperiment:
        from tastemaker.experiments.assignment import Assigner, Experiment, Variant

        unknown = set(weights) - set(ARMS)
        if unknown:
            raise ValueError(f"unknown arms {sorted(unknown)}; arms are {', '.join(ARMS)}")
        return cls(name, Assigner([Experiment(name, [Variant(a, w) for a, w in weights.items()])]))

    def arm(self, user_id: str) -> str | None:
        return self.assigner.assign(user_id, self.name)


def _weights(listening: Listening, catalog: Catalog) -> pl.DataFrame:
    """The listener's music as ``user_id, item_id, weight``, with recency-decayed listens as the weight."""
    return catalog.music(listening.history).select(pl.lit(listening.user_id).alias("user_id"), "item_id",
                                                   pl.col("recency").alias("weight"))


def served_items(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as served items: every column of :data:`ITEM_COLUMNS`, positions from 1."""
    filled = rows.with_columns(
        *(pl.lit(None, dtype=pl.String).alias(c) for c in ("because", "group", "group_title", "subtitle")
          if c not in rows.columns),
        *([] if "propensity" in rows.columns else [pl.lit(None, dtype=pl.Float64).alias("propensity")]),
        *([] if "kind" in rows.columns else [pl.lit("track").alias("kind")]),
        *([] if "title" in rows.columns else [pl.col("item_id").alias("title")]),
    )
    return filled.select(pl.int_range(1, pl.len() + 1).alias("position"), *ITEM_COLUMNS[1:]).to_dicts()
