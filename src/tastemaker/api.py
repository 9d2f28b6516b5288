"""The Python API: a workspace (a store and a model registry in one folder) and everything the ``tastemaker``
command does with it, as methods that return Polars frames with names and plain values.

>>> import tastemaker
>>> ws = tastemaker.Workspace.create("tm-workspace")  # doctest: +SKIP
>>> ws.import_("~/Downloads/MyData", "spotify-account", user="me")  # doctest: +SKIP
>>> ws.train("pipeline").version  # doctest: +SKIP
'v0001'
>>> ws.discover_weekly("me").select("name", "artist_name", "reason")  # doctest: +SKIP

The commands call these same methods (or the surface functions of :mod:`tastemaker.surfaces.lists` they
wrap) and only parse their arguments and print; so a list here is the list the command prints for the
same workspace and model version. Caller mistakes and questions the workspace cannot answer (nothing
imported, no such model trained, an unknown track) raise ``ValueError`` saying what to do.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tastemaker.evaluation.report import EVALUATED, MIN_LISTENERS, HeldOut, SideFiles
from tastemaker.settings import Settings

if TYPE_CHECKING:
    from tastemaker.candidates.contract import Recommender
    from tastemaker.ingest.pipeline import ImportSummary
    from tastemaker.store import Store

__all__ = ["HeldOut", "SideFiles", "Trained", "Workspace", "evaluate_split"]


@dataclass(frozen=True)
class Trained:
    """One training run, as the registry keeps it: the ``model`` name, its registry ``version``, the
    ``pairs`` (listener × track) or lists it learned from, the seconds of each phase, and ``summary``: what a
    pipeline chose or the ranker's held-out scores (empty for the other models)."""

    model: str
    version: str
    pairs: int
    seconds: dict[str, float]
    summary: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """A workspace folder: its store (listening and catalogue) and its registry of trained models.

    >>> ws = Workspace.open("tm-workspace")  # doctest: +SKIP
    >>> ws.stats()  # doctest: +SKIP
    {'events': 38756, 'users': 2, 'tracks': 7411, 'artists': 2213, ...}
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    @classmethod
    def open(cls, path: str | Path, store_url: str | None = None) -> Workspace:
        """The existing workspace at ``path``; ``store_url`` when its store lives elsewhere
        (``FileNotFoundError`` when there is none: :meth:`create` makes one)."""
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"no workspace at {folder}: Workspace.create({str(folder)!r}) makes one")
        return cls(Settings(workspace=folder, store_url=store_url))

    @classmethod
    def create(cls, path: str | Path, store_url: str | None = None) -> Workspace:
        """The workspace at ``path``, made with its store and models folder if it is not there yet
        (``tastemaker init``)."""
        made = cls(Settings(workspace=Path(path).expanduser(), store_url=store_url))
        made.store  # noqa: B018 -- opening the store creates it
        made.models_dir.mkdir(parents=True, exist_ok=True)
        return made

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    @property
    def path(self) -> Path:
        """The workspace folder."""
        return self.settings.workspace

    @property
    def models_dir(self) -> Path:
        """The model registry's folder."""
        return self.settings.models_dir

    @property
    def store(self) -> Store:
        """The workspace's store, opened (and created) on first use."""
        if self._store is None:
            from tastemaker.store import open_store

            self.path.mkdir(parents=True, exist_ok=True)
            self._store = open_store(self.settings.store)
        return self._store

    def import_(self, path: str | Path, format: str, *, user: str | None = None, user_prefix: str = "",
                mapping: Mapping[str, str] | None = None, table: str = "events", commit_rows: int = 1_000_000,
                on_progress: Callable[[ImportSummary, int], None] | None = None) -> ImportSummary:
        """Import a file or folder of ``format`` (``spotify-account``, ``spotify-extended``, ``lastfm-hetrec``,
        ``table``... see ``docs/ingest.md``) and return the account: ``read == accepted + duplicates +
        quarantined + forgotten`` (records of forgotten listeners, refused and kept nowhere). ``user``: the listener of an export that names none (Spotify's); ``mapping`` and
        ``table``: the ``table`` format's columns and target; ``on_progress(summary, total_files)`` after
        every durable commit of ``commit_rows`` rows.

        >>> ws.import_("~/Downloads/MyData", "spotify-account", user="me").accepted  # doctest: +SKIP
        14213
        """
        from tastemaker.ingest import ReadOptions, run_import
        from tastemaker.ingest.formats import get_format

        fmt = get_format(format)
        options = ReadOptions(user=user, user_prefix=user_prefix, mapping=dict(mapping or {}), table=table)
        return run_import(self.store, fmt, Path(path).expanduser(), options, commit_rows=commit_rows,
                          on_progress=on_progress)

    def stats(self) -> dict[str, int]:
        """Counts of events, users, tracks and artists in the store."""
        from tastemaker.store.stats import store_stats

        return dict(store_stats(self.store))

    def train(self, model: str = "pipeline", **params: Any) -> Trained:
        """Train ``model`` (a catalogue name: ``pipeline``, ``als``, ``artist``, ``popularity``..., or ``ranker``,
        the serving path's learning-to-rank model) on every listen in the store with ``params`` (its typed
        config: ``tastemaker models catalogue`` lists them), register it and return the version.

        >>> ws.train("als", factors=64).version  # doctest: +SKIP
        'v0002'
        """
        if model == "ranker":
            if params:
                raise ValueError(f"ranker takes no parameters, got {', '.join(params)}")
            return self._train_ranker()
        return self._fit(model, params)

    def candidate(self, model: str, until: datetime, **params: Any) -> Trained:
        """Train ``model`` on the listens before ``until`` and register it **without** making it the version in
        use: a candidate a gate judges on the listening after ``until`` (``tastemaker loop``)."""
        return self._fit(model, params, until=until, promote=False)

    def _fit(self, model: str, params: dict[str, Any], until: datetime | None = None,
             promote: bool = True) -> Trained:
        from tastemaker.candidates.catalogue import create
        from tastemaker.candidates.data import TrainingData
        from tastemaker.ranking.pipeline import Pipeline

        estimator = create(model, **params)
        started = time.perf_counter()
        seen = self.store.version()
        data = TrainingData.from_store(self.store, until=until)
        if data.interactions.is_empty():
            raise ValueError("the store has no listens yet: run `tastemaker import` or `tastemaker generate` first"
                             if until is None else f"the store has no listens before {until:%Y-%m-%d %H:%M}")
        loaded = time.perf_counter()
        estimator.fit(data)
        fitted = time.perf_counter()
        summary: dict[str, Any] = estimator.summary() if isinstance(estimator, Pipeline) else {}
        newest = data.plays["ts"].max() if data.plays is not None else None
        version = self._register(model, estimator, data.interactions.height, seen, summary or None, until=until,
                                 promote=promote, newest=newest)
        return Trained(model, version, data.interactions.height,
                       _phases(started, loaded, fitted, time.perf_counter()), summary)

    def _train_ranker(self) -> Trained:
        """LambdaRank over ALS candidates, labels from each listener's last week of music (ranking/online.py)."""
        from tastemaker.candidates.catalogue import create
        from tastemaker.features.kinds import music_events
        from tastemaker.ranking.online import train_online_ranker

        started = time.perf_counter()
        seen = self.store.version()
        events = music_events(self.store).filter(pl.col("type") != "impression").collect()
        tracks = self.store.entities("tracks")
        artists = (dict(zip(tracks["track_id"].to_list(), tracks["artist_id"].to_list(), strict=True))
                   if tracks.height else {})
        loaded = time.perf_counter()
        ranker = train_online_ranker(events, lambda: create("als"), artists)
        fitted = time.perf_counter()
        lists = int(ranker.meta["train_lists"])
        version = self._register("ranker", ranker, lists, seen)
        return Trained("ranker", version, lists, _phases(started, loaded, fitted, time.perf_counter()),
                       {k: v for k, v in ranker.meta.items() if k != "params"})

    def _register(self, name: str, model: Any, pairs: int, store_version: int,
                  metrics: dict[str, Any] | None = None, until: datetime | None = None, promote: bool = True,
                  newest: Any = None) -> str:
        """Save ``model`` as the next version of ``name`` with the store snapshot it saw: ``store_version``,
        read *before* the training data (a write during training then shows as newer than the model),
        ``until``, the instant its listening was cut at (none: everything stored), and ``newest``, the time
        of the newest play it learnt from (the data's own clock, which the loop's gate compares)."""
        from tastemaker.candidates.registry import register

        data = {"store": self.store.url, "store_version": store_version, "events": self.store.count("events"),
                "pairs": pairs, **({"until": until.isoformat()} if until is not None else {}),
                **({"newest": newest.isoformat()} if isinstance(newest, datetime) else {})}
        return register(self.models_dir, name, model, data, metrics, promote=promote)

    def model(self, name: str | None = None, version: str | None = None) -> Recommender:
        """A trained model from the registry: ``version`` of ``name`` (default its latest); ``name=None``: the
        pipeline once trained, else als, else popularity (what every surface uses by default)."""
        return self._trained(name, version)[0]

    def _trained(self, name: str | None = None, version: str | None = None) -> tuple[Recommender, int | None]:
        """:meth:`model`, and the store version it was trained on (None when its registry entry does not say):
        a listener forgotten since is not personalised by it (:func:`tastemaker.surfaces.lists.strangers`)."""
        from tastemaker.candidates.catalogue import load
        from tastemaker.candidates.registry import default_model, describe, resolve

        chosen = name or default_model(self.models_dir)
        try:
            folder = resolve(self.models_dir, chosen, version)
            trained_on = describe(self.models_dir, chosen, folder.name).get("data", {}).get("store_version")
            return load(folder), None if trained_on is None else int(trained_on)
        except ValueError as exc:
            raise ValueError(f"{exc} (workspace {self.path})") from None

    def models(self) -> pl.DataFrame:
        """Every trained version: ``model, version, latest, trained, pairs, store_version``."""
        from tastemaker.candidates.registry import catalogue

        rows = [{"model": r["name"], "version": r["version"], "latest": bool(r["latest"]), "trained": r["created_at"],
                 "pairs": r["data"].get("pairs"), "store_version": r["data"].get("store_version")}
                for r in catalogue(self.models_dir)]
        schema = {"model": pl.String, "version": pl.String, "latest": pl.Boolean, "trained": pl.String,
                  "pairs": pl.Int64, "store_version": pl.Int64}
        return pl.DataFrame(rows, schema=schema)

    def recommend(self, user: str, k: int = 10, model: str | None = None) -> pl.DataFrame:
        """The top ``k`` tracks ``user`` has not heard: ``rank, item_id, name, artist_name, score``.

        >>> ws.recommend("me", k=5, model="als")  # doctest: +SKIP
        """
        from tastemaker.surfaces import lists

        trained, trained_on = self._trained(model)
        return lists.recommend(self.store, trained, user, k, trained_on=trained_on)

    def discover_weekly(self, user: str | None = None, size: int = 30, model: str | None = None) -> pl.DataFrame:
        """``user``'s Discover Weekly (every listener's when ``None``): ``user_id, position, track_id, name,
        artist_name, score, reason, ...``; unheard tracks, at most two per artist.

        >>> ws.discover_weekly("me").select("name", "artist_name", "reason").head(3)  # doctest: +SKIP
        """
        from tastemaker.surfaces import lists

        trained, trained_on = self._trained(model)
        return lists.discover_weekly(self.store, trained, None if user is None else [user], size,
                                     trained_on=trained_on)

    def daily_mixes(self, user: str | None = None, model: str | None = None) -> pl.DataFrame:
        """``user``'s Daily Mixes (every listener's when ``None``), taste clusters mostly familiar with a few
        new tracks: ``user_id, mix, mix_name, description, position, item_id, name, artist_name, familiar,
        reason``; empty when the model knows none of their tracks.

        >>> ws.daily_mixes("me").group_by("mix_name").len()  # doctest: +SKIP
        """
        from tastemaker.surfaces import lists

        trained, trained_on = self._trained(model)
        return lists.daily_mixes(self.store, trained, None if user is None else [user], trained_on=trained_on)

    def search(self, query: str, kind: str | None = None, limit: int = 10) -> pl.DataFrame:
        """Tracks, artists and podcast shows named like ``query`` (fuzzy; case, accents and punctuation aside),
        best first: ``kind, name, by, id, listeners, score, exact``; ``kind``: only ``track``, ``artist`` or
        ``show``.

        >>> ws.search("back in black", kind="track", limit=3)  # doctest: +SKIP
        """
        from tastemaker.surfaces.search import CatalogueSearch

        found = CatalogueSearch.from_store(self.store).search(query, kind, limit)
        schema = {"kind": pl.String, "name": pl.String, "by": pl.String, "id": pl.String, "listeners": pl.Int64,
                  "score": pl.Float64, "exact": pl.Boolean}
        return pl.DataFrame([m.as_dict() for m in found], schema=schema)

    def _ids(self, kind: str, queries: Sequence[str]) -> list[str]:
        """The id of the ``kind`` (track or artist) each of ``queries`` names: an id as it is (one of the
        catalogue, or one the listening names that the catalogue has no row for), a name through the catalogue
        search (a warning says which item a name that is not exact was taken for)."""
        from tastemaker.surfaces.search import CatalogueSearch

        tracks = self.store.entities("tracks")
        known = set(tracks[f"{kind}_id"].drop_nulls().to_list()) if tracks.height else set()
        if unlisted := sorted(set(queries) - known):  # an item an event names, without a catalogue row
            column = "item_id" if kind == "track" else "artist_id"
            named = self.store.events().filter(pl.col(column).is_in(unlisted)).select(column).unique().collect()
            known |= set(named[column].to_list())
        search: CatalogueSearch | None = None
        ids = []
        for query in queries:
            if query not in known:
                search = search or CatalogueSearch.from_store(self.store)
                found = search.resolve(query, kind)
                if found.note:
                    warnings.warn(found.note, stacklevel=3)
                query = found.match.id
            ids.append(query)
        return ids

    def radio(self, seed: str | None = None, *, artist: str | None = None, playlist: str | None = None,
              played: Sequence[str] = (), skipped: Sequence[str] = (), k: int = 10,
              model: str | None = None) -> pl.DataFrame:
        """The next ``k`` tracks of a radio from a ``seed`` track, an ``artist`` or a ``playlist`` (one of them),
        steered by the session's ``played`` and ``skipped`` tracks: ``position, item_id, name, artist_name,
        score, reason``. Tracks and artists go by name ("Back In Black", "AC/DC - Back In Black") or by id.

        >>> ws.radio(artist="AC/DC", k=5)  # doctest: +SKIP
        """
        from tastemaker.surfaces import lists

        seeds = self._ids("track", [seed] if seed is not None else [])
        artists = self._ids("artist", [artist] if artist is not None else [])
        queue, _ = lists.radio(self.store, self.model(model), seed=seeds[0] if seeds else None,
                               artist=artists[0] if artists else None, playlist=playlist,
                               played=self._ids("track", played), skipped=self._ids("track", skipped), k=k)
        return queue

    def similar(self, track: str | None = None, *, artist: str | None = None, k: int = 10,
                model: str | None = None) -> pl.DataFrame:
        """The ``k`` tracks most like ``track`` (``item_id, name, artist_name, score, rank, reason, ...``), or
        the ``k`` artists most like ``artist`` (``artist_id, name, score, rank, reason, ...``), each by name or id.

        >>> ws.similar("Back In Black", k=5)  # doctest: +SKIP
        """
        from tastemaker.surfaces import lists

        tracks = self._ids("track", [track] if track is not None else [])
        artists = self._ids("artist", [artist] if artist is not None else [])
        return lists.similar(self.store, self.model(model), track=tracks[0] if tracks else None,
                             artist=artists[0] if artists else None, k=k)

    def home(self, user: str, cards: int = 10, model: str | None = None, chart: str = "country") -> pl.DataFrame:
        """``user``'s home page, shelves ranked for them and no card twice, one row per card: ``user_id,
        shelf_position, shelf, shelf_title, relevance, card_position, item_id, kind, title, subtitle, score,
        reason``. ``chart``: the trained chart model of the popular shelf (left out when it is not trained).

        >>> ws.home("me").select("shelf_title", "title", "subtitle")  # doctest: +SKIP
        """
        from tastemaker.surfaces import lists

        personal, trained_on = self._trained(model)
        try:
            charts: Recommender | None = self.model(chart)
        except ValueError:
            charts = None
        return lists.home(self.store, personal, user, charts, cards, trained_on=trained_on)

    def episodes(self, user: str, k: int = 10, encoder: str = "words") -> pl.DataFrame:
        """``user``'s "Episodes for you": ``item_id, kind, title, subtitle, score, reason``; ``encoder``: show
        similarity from ``words`` (TF-IDF), ``text`` (MiniLM, the content extra) or ``auto``."""
        from tastemaker.surfaces import lists

        cards = lists.episode_cards(self.store, [user], k, encoder)
        if cards.is_empty():
            raise ValueError("the store has no podcast episodes: import them first (`tastemaker import podcasts PATH`)")
        return cards.drop("user_id")

    def evaluate(self, test_days: float = 7.0, k: int = 10, models: Sequence[str] = EVALUATED, *,
                 protocol: str = "auto", min_listeners: int = MIN_LISTENERS) -> pl.DataFrame:
        """Train each of ``models`` on the music before the cut and score the tracks each listener heard for the
        first time after it: one row per model, ``model, users, ndcg@k, ndcg@k_low, ndcg@k_high, recall@k, ...``
        (``users``: the listeners scored; ``_low``/``_high``: a bootstrap 95 % interval over them).

        ``protocol``: ``global``, ``per-listener`` or ``auto`` (per listener when most listeners have nothing
        in the store's last ``test_days``, as with exports from different years; a ``UserWarning`` says so).
        ``ValueError`` when fewer than ``min_listeners`` listeners can be scored.

        >>> ws.evaluate(models=["popularity", "als"]).select("model", "ndcg@10")  # doctest: +SKIP
        """
        from tastemaker.evaluation.report import temporal_report

        report = temporal_report(self.store, test_days, k, tuple(models), protocol=protocol,
                                 min_listeners=min_listeners)
        for note in report.notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        frame = pl.DataFrame([{"model": name, **row} for name, row in report.models.items()])
        return frame.select("model", pl.col("users").cast(pl.Int64), pl.exclude("model", "users"))


def evaluate_split(split_dir: str | Path, model: str = "pipeline", params: Mapping[str, Any] | None = None, *,
                   part: str = "test", familiar: bool = False, segments: bool = False, cold_items: int = 10,
                   protocol: str = "fixed", held: HeldOut | None = None, side: SideFiles | None = None
                   ) -> dict[str, Any]:
    """Fit ``model`` (with ``params``) on a split folder's train part (``train/valid/test.tsv[.gz]``) and score
    it with full ranking, as ``tastemaker evaluate-split`` does: ``{"split", "model", "params", "protocol",
    "metrics": {"ndcg@10": ...}, ...}``. ``protocol="strong"`` scores users held out of training (``held``).

    >>> tastemaker.evaluate_split("splits/ml100k", "als", {"factors": 64})["metrics"]["ndcg@10"]  # doctest: +SKIP
    """
    from tastemaker.evaluation.report import split_report

    return split_report(Path(split_dir).expanduser(), model, dict(params or {}), part=part, familiar=familiar,
                        segments=segments, cold_items=cold_items, protocol=protocol, held=held, side=side)


def _phases(started: float, loaded: float, fitted: float, saved: float) -> dict[str, float]:
    return {"load": round(loaded - started, 3), "fit": round(fitted - loaded, 3), "save": round(saved - fitted, 3)}
