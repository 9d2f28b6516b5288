"""The closed loop: policies serve the listener world through the engine the server uses, day after day.

One run (:func:`run_loop`):

1. build a :class:`~tastemaker.simulate.World`, write its organic history and import it into a
   workspace store with the importer (``tastemaker import table``);
2. train popularity and the personal models and register them (``tastemaker train``);
3. load the in-memory :class:`~tastemaker.engine.state.ListeningState` and one
   :class:`~tastemaker.engine.recommend.RecommendationService` per arm (``policies.py``);
4. assign every listener to an arm with the experiment :class:`~tastemaker.experiments.assignment.Assigner`;
5. each simulated day: every active listener in an arm is served a list by that arm's service,
   the world answers (:meth:`World.respond`), the events go back through the server's ingest path
   (``ingest_events`` then ``ListeningState.add``, as ``POST /v1/events`` does) so the next day's
   lists already exclude them, organic listening goes on (:meth:`World.step_day`, which also
   churns listeners), and every ``retrain_every`` days the models are retrained on all events
   so far and swapped in.

Example:
    >>> config = LoopConfig(WorldConfig(n_users=200, n_tracks=500, days=20), weeks=1)
    >>> run = run_loop(config, "ws")  # doctest: +SKIP
    >>> run.exposures["arm"].unique().sort().to_list()  # doctest: +SKIP
    ['personal', 'popularity']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.engine.ingest import CLIENT_FIELDS, ingest_events
from tastemaker.engine.recommend import RecommendationService
from tastemaker.engine.state import ListeningState
from tastemaker.experiments.assignment import Assigner, Experiment, Variant
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.simulate.config import WorldConfig
from tastemaker.simulate.export import write_world
from tastemaker.simulate.exposure import exposure_log, response_events
from tastemaker.simulate.policies import check_policies, served_lists, services, train
from tastemaker.simulate.world import World
from tastemaker.store import open_store

_RESPONSE_STREAM = 0x51A  # seed-sequence tag of the listeners' draws on served lists
#: columns of :attr:`LoopRun.events`
EVENT_COLUMNS = ("day", "user_id", "ts", "type", "item_id", "artist_id", "ms_played", "skipped", "surface",
                 "source")
#: columns of :attr:`LoopRun.history`
HISTORY_COLUMNS = ("user_id", "ts", "type", "item_id", "artist_id", "ms_played", "skipped")


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """An A/B run of the closed loop.

    Args:
        world: the listener world (its ``days`` are the organic history before the experiment).
        policies: the arms, in order; the first is the control (see ``simulate/policies.py``).
        weights: relative traffic of each arm (equal when omitted).
        weeks: experiment length.
        list_size: tracks in each served list.
        surface: the surface served (``for-you``).
        retrain_every: days between retrainings on all events so far (0: never).
        organic: simulate the listeners' own listening between lists (and their churn).
        experiment: the experiment's name (its assignment salt).
        holdout_share: share of listeners in no arm.

    Example:
        >>> LoopConfig(WorldConfig(n_users=50, n_tracks=200), weeks=2).days
        14
    """

    world: WorldConfig = field(default_factory=WorldConfig)
    policies: tuple[str, ...] = ("popularity", "ranker")
    weights: tuple[float, ...] | None = None
    weeks: int = 4
    list_size: int = 15
    surface: str = "for-you"
    retrain_every: int = 7
    organic: bool = True
    experiment: str = "for-you-policy"
    holdout_share: float = 0.0

    def __post_init__(self) -> None:
        check_policies(self.policies)
        if self.weights is not None and len(self.weights) != len(self.policies):
            raise ValueError(f"weights ({len(self.weights)}) must align with policies ({len(self.policies)})")
        for name, low in (("weeks", 1), ("list_size", 1), ("retrain_every", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be at least {low}, got {getattr(self, name)}")

    @property
    def days(self) -> int:
        """Simulated experiment days."""
        return self.weeks * 7

    @property
    def shares(self) -> tuple[float, ...]:
        """Each arm's expected share of the assigned listeners."""
        weights = np.asarray(self.weights or [1.0] * len(self.policies), float)
        return tuple((weights / weights.sum()).tolist())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the inverse of :meth:`from_dict`)."""
        return {"world": self.world.to_dict(), "policies": list(self.policies),
                "weights": None if self.weights is None else list(self.weights), "weeks": self.weeks,
                "list_size": self.list_size, "surface": self.surface, "retrain_every": self.retrain_every,
                "organic": self.organic, "experiment": self.experiment, "holdout_share": self.holdout_share}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopConfig:
        """Rebuild a config from :meth:`to_dict` output.

        Example:
            >>> LoopConfig.from_dict(LoopConfig(weeks=2).to_dict()) == LoopConfig(weeks=2)
            True
        """
        values = dict(data)
        values["world"] = WorldConfig.from_dict(values["world"])
        values["policies"] = tuple(values["policies"])
        values["weights"] = None if values.get("weights") is None else tuple(values["weights"])
        return cls(**values)


@dataclass(slots=True)
class LoopRun:
    """What a run produced.

    ``arms``: ``user_id, arm`` of every listener (``arm`` null when not in the experiment);
    ``exposures``: one row per shown item (``exposure.EXPOSURE_SCHEMA``); ``events``: every
    listening event of the experiment days, served (``source == "list"``) and organic;
    ``artists``: ``artist_id, plays_before, tail`` (outside the artists holding 80 % of the
    history's listens); ``tracks``: ``item_id, release_day``; ``history``: the organic events
    before the experiment (:data:`HISTORY_COLUMNS`); ``trainings`` and ``seconds``: what
    retraining did and where the time went.
    """

    config: LoopConfig
    start_day: int
    arms: pl.DataFrame
    exposures: pl.DataFrame
    events: pl.DataFrame
    artists: pl.DataFrame
    tracks: pl.DataFrame
    history: pl.DataFrame
    trainings: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class _Clock:
    """Seconds spent per phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._at = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self._at, 3)
        self._at = now


def run_loop(config: LoopConfig, workspace: Path | str,
             on_day: Callable[[int, int], None] | None = None) -> LoopRun:
    """Run the A/B ``config`` in ``workspace`` (a new folder: world files, store and models go there).

    Args:
        config: the run.
        workspace: where the store, the registry and the world's files are written.
        on_day: called as ``on_day(days_done, days_total)`` after each experiment day.

    Returns:
        a :class:`LoopRun`; the same config gives the same exposures and events.
    """
    clock, ws = _Clock(), Path(workspace)
    world = World(config.world)
    write_world(world, ws / "world", "parquet")
    store = open_store(ws / "store")
    run_import(store, FORMATS["table"], ws / "world")
    clock.lap("world_and_import")
    history = store.events().select(HISTORY_COLUMNS).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))
                                                                  ).collect()
    models_dir = ws / "models"
    trainings = [_train(store, models_dir, config, world.day)]
    clock.lap("train")
    state = ListeningState.load(store)
    arms_of = assign_arms(config, world.listeners.ids.to_pylist())
    served = services(store, state, models_dir, config.policies)
    clock.lap("serving_setup")
    exposures: list[pl.DataFrame] = []
    events: list[pl.DataFrame] = []
    start = world.day
    for done in range(1, config.days + 1):
        day_exposures, day_events = _one_day(world, config, served, arms_of, clock)
        post_events(store, state, day_events, f"sim-{world.day - 1}")
        clock.lap("ingest")
        exposures.append(day_exposures)
        events.append(day_events.select(EVENT_COLUMNS))
        if config.retrain_every and done % config.retrain_every == 0 and done < config.days:
            trainings.append(_train(store, models_dir, config, world.day))
            served = services(store, state, models_dir, config.policies)
            clock.lap("train")
        if on_day is not None:
            on_day(done, config.days)
    arms = pl.DataFrame({"user_id": world.listeners.ids.to_pylist(),
                         "arm": [arms_of.get(u) for u in world.listeners.ids.to_pylist()]},
                        schema={"user_id": pl.String, "arm": pl.String})
    return LoopRun(config, start, arms, pl.concat(exposures), pl.concat(events, how="vertical_relaxed"),
                   _artists(history), _tracks(world), history, trainings, clock.seconds)


def assign_arms(config: LoopConfig, user_ids: list[str]) -> dict[str, str]:
    """Each listener's arm through the experiment :class:`Assigner` (listeners in no arm left out).

    Example:
        >>> arms = assign_arms(LoopConfig(), [f"tm:user:{i:06d}" for i in range(100)])
        >>> sorted(set(arms.values()))
        ['personal', 'popularity']
    """
    weights = config.weights or (1.0,) * len(config.policies)
    experiment = Experiment(config.experiment, [Variant(p, w) for p, w in zip(config.policies, weights,
                                                                              strict=True)])
    assigner = Assigner([experiment], holdout_share=config.holdout_share)
    users = list(user_ids)
    return {u: a for u, a in zip(users, assigner.assign_many(users, config.experiment), strict=True)
            if a is not None}


def _one_day(world: World, config: LoopConfig, served: dict[str, RecommendationService],
             arms_of: dict[str, str], clock: _Clock) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Serve, respond and listen organically for the world's current day; returns (exposures, events)."""
    day = world.day
    active = np.flatnonzero((world.listeners.signup_day <= day) & (world.state.churn_day > day))
    users = [u for u in world.listeners.ids.take(active).to_pylist() if u in arms_of]
    order = [u for policy in config.policies for u in users if arms_of[u] == policy]
    lists: list[list[str | None]] = []
    levels: list[str] = []
    for policy in config.policies:
        got, how = served_lists(served[policy], [u for u in order if arms_of[u] == policy], config.surface,
                                config.list_size)
        lists += got
        levels += how
    clock.lap("serve")
    grid = np.array(lists, dtype=object).reshape(len(order), config.list_size)
    rng = np.random.default_rng([config.world.seed, _RESPONSE_STREAM, day])
    outcomes = world.respond(order, np.where(grid == None, "", grid), day, rng)  # noqa: E711
    shown = exposure_log(world, day, order, [arms_of[u] for u in order], levels, grid, outcomes)
    events = response_events(world, day, shown, config.surface, rng).with_columns(source=pl.lit("list"))
    clock.lap("respond")
    if config.organic:
        events = pl.concat([events, _organic(world)], how="diagonal_relaxed")
    else:
        world.day += 1  # what step_day does after the organic listening it skips here
    clock.lap("organic")
    return shown, events.with_columns(pl.lit(day, pl.Int32).alias("day"))


def _organic(world: World) -> pl.DataFrame:
    """The world's organic listening of the current day (advancing it), as event rows with ``ts`` in ms."""
    table = pl.from_arrow(world.step_day())
    assert isinstance(table, pl.DataFrame)
    return table.with_columns(pl.col("ts").dt.epoch("ms"), pl.lit("organic").alias("source"))


def post_events(store: Any, state: ListeningState, events: pl.DataFrame, request_id: str) -> None:
    """Store ``events`` and add them to the listening state, as ``POST /v1/events`` does."""
    if events.is_empty():
        return
    records = events.select(c for c in CLIENT_FIELDS if c in events.columns).to_dicts()
    mark = state.mark()
    result = ingest_events(store, records, request_id)
    if result.quarantined:
        raise RuntimeError(f"{result.quarantined} simulated events were quarantined: {result.rejected[:3]}")
    if result.duplicates:  # which rows the store already had is not known: read those listeners back
        state.reload(store, result.rows["user_id"].unique().to_list())
    elif result.accepted:
        state.add(result.rows, since=mark)


def _train(store: Any, models_dir: Path, config: LoopConfig, day: int) -> dict[str, Any]:
    began = time.perf_counter()
    trained = train(store, models_dir, config.policies)
    return {"day": day, "pairs": trained.pairs, "store_version": trained.store_version,
            "versions": trained.versions, "seconds": round(time.perf_counter() - began, 3)}


def _artists(history: pl.DataFrame, head_share: float = 0.8) -> pl.DataFrame:
    """``artist_id, plays_before, tail``: the long tail is every artist outside those holding ``head_share``
    of the history's plays (artists never played before the experiment are in the tail)."""
    plays = (history.filter(pl.col("type") == "play").group_by("artist_id").len("plays_before")
             .sort("plays_before", "artist_id", descending=[True, False]))
    before = (pl.col("plays_before").cum_sum() - pl.col("plays_before")) / pl.col("plays_before").sum()
    return plays.with_columns((before >= head_share).alias("tail"))


def _tracks(world: World) -> pl.DataFrame:
    """``item_id, release_day`` of every catalog track."""
    return pl.DataFrame({"item_id": world.catalog.track_ids.to_pylist(),
                         "release_day": world.catalog.release_day.astype(np.int32)})
