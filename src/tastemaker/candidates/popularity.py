"""Popularity: the baseline every other model must beat, per country, and for new releases.

:class:`Popularity` scores an item by how many listens it had, optionally decayed with a
half-life so recent listening counts more (trending), optionally one chart per country.
:class:`NewReleases` ranks tracks released in the last days by how fast they are being played.
Recommending excludes what the user already heard when asked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Self, TypeVar

import numpy as np
import polars as pl
from pydantic import Field

from tastemaker.candidates.contract import Config, Fitted, excluded_cells
from tastemaker.candidates.data import TrainingData, lookup

#: the chart key of the global chart (country charts are keyed by country code)
GLOBAL = ""
#: what ``Popularity(by=...)`` can split charts by
CHART_KEYS = (None, "country")
_Model = TypeVar("_Model", "Popularity", "NewReleases")


class PopularityConfig(Config):
    """``count="listeners"``: an item scores one per listener who has it (a few fans replaying a track a
    thousand times do not make it popular); ``"listens"``: the summed listens. ``half_life_days``:
    None counts everyone equally; a number decays older listening (by each pair's last listen).

    ``window_days``: count only pairs listened in the last that many days. Both count back from the
    data's own clock (the newest listen it holds, not today's date), which the chart keeps and
    :meth:`Popularity.describe` states; listening without times is counted undecayed.

    ``by="country"``: one chart per listener country with at least ``min_country_listens``
    (summed weight); everyone else, and every slot a short country chart cannot fill, gets the
    global chart. ``by="auto"``: per country when the listening carries countries, else global.
    """

    count: Literal["listeners", "listens"] = "listeners"
    half_life_days: float | None = Field(None, gt=0)
    window_days: float | None = Field(None, gt=0)
    by: Literal["country", "auto"] | None = None
    min_country_listens: float = Field(100.0, ge=0)


class Popularity(Fitted):
    """Most-listened items, the same list for everyone (or everyone in a country), minus what each heard.

    >>> model = Popularity().fit(interactions)  # doctest: +SKIP
    >>> model.recommend(["u1"], k=10, exclude=interactions)  # doctest: +SKIP
    >>> Popularity(by="country").fit(interactions).recommend(["u1"], countries={"u1": "SE"})  # doctest: +SKIP
    """

    name = "popularity"

    def __init__(self, half_life_days: float | None = None, by: str | None = None,
                 min_country_listens: float = 100.0, count: str = "listeners", window_days: float | None = None) -> None:
        self.config = PopularityConfig(half_life_days=half_life_days, by=by, min_country_listens=min_country_listens,
                                       count=count, window_days=window_days)

    def fit(self, data: TrainingData) -> Self:
        """Learn item scores from the bundle's ``user_id, item_id, weight[, last_ts][, country]`` interactions.

        ``by="country"`` needs ``country`` (the listener's country; each user is placed in the
        country carrying most of their weight, ties by name); decay counts back from ``data.now``.
        """
        interactions, now = data.interactions, data.now
        by = self.config.by
        if by == "auto":
            known = "country" in interactions.columns and interactions["country"].null_count() < interactions.height
            by = "country" if known else None
        missing = {"user_id", "item_id", "weight"} | ({"country"} if by else set())
        missing -= set(interactions.columns)
        if missing:
            raise ValueError(f"interactions need columns {sorted(missing)}"
                             + (" (by='country' needs the listener's country)" if "country" in missing else ""))
        timed = "last_ts" in interactions.columns
        if self.config.window_days is not None and not timed:
            raise ValueError("window_days needs a last_ts column in the interactions (listening times)")
        clock = now or (interactions["last_ts"].max() if timed else None)
        if self.config.window_days is not None:
            interactions = interactions.filter(pl.col("last_ts") > pl.lit(clock) - timedelta(days=self.config.window_days))
        weighted = interactions.with_columns(self._weight(clock if timed else None).alias("weight"))
        chart = _chart(weighted, [])
        self.item_ids_ = chart["item_id"].to_numpy().astype(str)
        self.scores_ = chart["score"].to_numpy().astype(np.float64)
        self.clock_ = np.array("" if clock is None else clock.isoformat())
        self.charts_by_ = np.array(by or "")
        if by == "country":
            self._fit_countries(weighted.filter(pl.col("country").is_not_null()))
        return self

    def describe(self) -> str:
        """What the chart counts, over which time, to which date of the data's clock, in words.

        >>> Popularity(window_days=7).fit(data).describe()  # doctest: +SKIP
        'listeners in the 7 days to 2023-02-03'
        """
        self._check()
        what = "listeners" if self.config.count == "listeners" else "listens"
        clock = str(getattr(self, "clock_", ""))[:10]
        if self.config.window_days is not None:
            what += f" in the {self.config.window_days:g} days"
        elif self.config.half_life_days is not None and clock:
            what += f", older listening halved every {self.config.half_life_days:g} days,"
        return f"{what} to {clock}" if clock else what

    @property
    def by_country(self) -> bool:
        """Whether the fitted model keeps one chart per country."""
        return str(getattr(self, "charts_by_", self.config.by or "")) == "country"

    @property
    def weekly(self) -> bool:
        """Whether the chart counts one week (the home page calls it "this week" only then)."""
        return self.config.window_days is not None and self.config.window_days <= 7

    def _weight(self, clock: datetime | None) -> pl.Expr:
        weight = pl.lit(1.0) if self.config.count == "listeners" else pl.col("weight")
        if self.config.half_life_days is None or clock is None:  # no listening times: nothing to decay by
            return weight
        age_days = (pl.lit(clock) - pl.col("last_ts")).dt.total_seconds() / 86400.0
        return weight * (0.5 ** (age_days / self.config.half_life_days))

    def _fit_countries(self, rows: pl.DataFrame) -> None:
        """Per-country charts for countries with enough listening, and each user's country."""
        totals = rows.group_by("country").agg(pl.col("weight").sum())
        big = totals.filter(pl.col("weight") >= self.config.min_country_listens)["country"]
        charts = _chart(rows.filter(pl.col("country").is_in(big.implode())), ["country"])
        self.chart_countries_ = charts["country"].to_numpy().astype(str)
        self.chart_items_ = charts["item_id"].to_numpy().astype(str)
        self.chart_scores_ = charts["score"].to_numpy().astype(np.float64)
        home = (rows.group_by("user_id", "country").agg(pl.col("weight").sum())
                .sort(["user_id", "weight", "country"], descending=[False, True, False])
                .unique("user_id", keep="first", maintain_order=True))
        self.user_ids_ = home["user_id"].to_numpy().astype(str)
        self.user_countries_ = home["country"].to_numpy().astype(str)

    def item_vectors(self) -> None:
        """A chart learns no item vectors."""
        return None

    def score(self, user_ids: Sequence[str], exclude: pl.DataFrame | None = None) -> np.ndarray:
        """Users × :attr:`item_ids` chart scores (a listener's country chart first, the global one after it);
        ``exclude`` pairs get ``-inf``."""
        self._check()
        scores = np.tile(self.scores_, (len(user_ids), 1))
        if self.by_country:
            homes = self._homes(None)
            at = lookup(homes["user_id"].to_numpy().astype(str), np.asarray(user_ids, dtype=str))
            for row in np.flatnonzero(at >= 0):
                mine = self.chart_countries_ == homes["chart"][int(at[row])]
                cols = lookup(self.item_ids_, self.chart_items_[mine])
                # the global chart, shrunk below every country score, orders what the country chart lacks
                scores[row] = self.scores_ / (self.scores_.max() + 1.0) * 1e-3
                scores[row, cols[cols >= 0]] = self.chart_scores_[mine][cols >= 0] + 1.0
        return _masked(scores, user_ids, self.item_ids_, exclude)

    def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None,
                  countries: Mapping[str, str] | None = None) -> pl.DataFrame:
        """Top ``k`` items per user as ``user_id, item_id, score, rank`` (rank 1 = best).

        ``exclude``: ``user_id, item_id`` pairs never to recommend (e.g. already heard).
        ``countries``: ``user_id -> country`` overriding the countries learned at fit (``by="country"``).
        Users without a country chart get the global one; ``score`` is the chart's own score.
        """
        self._check()
        charts, learned = self._frames()
        users = pl.DataFrame({"user_id": pl.Series(user_ids, dtype=pl.String)})
        if self.by_country:
            users = users.join(self._homes(countries, learned), on="user_id", how="left", maintain_order="left")
            users = users.with_columns(pl.when(pl.col("chart").is_in(charts["chart"].unique().implode()))
                                       .then("chart").otherwise(pl.lit(GLOBAL)))
            # only the charts these listeners use (one request: its country's and the global one)
            charts = charts.filter(pl.col("chart").is_in(users["chart"].unique().implode()) | (pl.col("chart") == GLOBAL))
        else:
            users = users.with_columns(pl.lit(GLOBAL).alias("chart"))
        return from_charts(users, charts, k, exclude)

    def _frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The charts as one frame (``chart, item_id, score``, best first within each) and the homes learned
        at fit (``user_id, chart``), built once per fitted state: turning the arrays' strings into
        frames took most of a request's time."""
        key = (id(self.item_ids_), id(getattr(self, "chart_items_", None)), id(getattr(self, "user_ids_", None)))
        cached = self.__dict__.get("_frames_cache")
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        charts = pl.DataFrame({"chart": GLOBAL, "item_id": self.item_ids_, "score": self.scores_})
        learned = pl.DataFrame(schema={"user_id": pl.String, "chart": pl.String})
        if self.by_country:
            charts = pl.concat([charts, pl.DataFrame({"chart": self.chart_countries_, "item_id": self.chart_items_,
                                                      "score": self.chart_scores_})])
            learned = pl.DataFrame({"user_id": self.user_ids_, "chart": self.user_countries_},
                                   schema={"user_id": pl.String, "chart": pl.String})
        self.__dict__["_frames_cache"] = (key, charts, learned)
        return charts, learned

    def _homes(self, countries: Mapping[str, str] | None, learned: pl.DataFrame | None = None) -> pl.DataFrame:
        """``user_id, chart``: the given countries first, then the ones learned at fit."""
        learned = self._frames()[1] if learned is None else learned
        if not countries:
            return learned
        given = pl.DataFrame({"user_id": list(countries), "chart": list(countries.values())},
                             schema={"user_id": pl.String, "chart": pl.String})
        return pl.concat([given, learned.join(given, on="user_id", how="anti")])

    def save(self, path: Path) -> None:
        """Write ``params.json`` and ``arrays.npz`` into folder ``path``."""
        self._check()
        _save(path, {"model": self.name, **self.config.model_dump()}, self)

    @classmethod
    def load(cls, path: Path) -> Popularity:
        """Read a model written by :meth:`save`."""
        return _load(path, cls)


class NewReleasesConfig(Config):
    """``days``: how recent a release must be (counted back from ``now``)."""

    days: float = Field(30.0, gt=0)


class NewReleases(Fitted):
    """Tracks released in the last ``days``, fastest-played first: listens per day since release.

    Released tracks nobody has played yet follow, newest first. Release dates come from
    ``releases`` (``item_id, release_date``: the tracks table, which also knows unplayed tracks)
    or from a ``release_date`` column of the interactions.

    >>> NewReleases(days=14).fit(interactions, releases=tracks).recommend(["u1"], k=10)  # doctest: +SKIP
    """

    name = "new-releases"

    def __init__(self, days: float = 30.0) -> None:
        self.config = NewReleasesConfig(days=days)

    def fit(self, data: TrainingData) -> Self:
        """Score the tracks released in ``(now - days, now]`` (``data.releases``, else a ``release_date``
        column of the interactions); ``now`` is ``data.now``, else the newest listen."""
        interactions, now, releases = data.interactions, data.now, data.releases
        catalog = releases if releases is not None else interactions
        if "release_date" not in catalog.columns or catalog["release_date"].null_count() == catalog.height:
            raise ValueError("new releases need release dates (tracks.release_date), and there are none: import "
                             "a catalog that has them, e.g. `tastemaker generate` then `tastemaker import table`")
        if now is None and "last_ts" not in interactions.columns:
            raise ValueError("pass now= or give the interactions a last_ts column")
        today = (now or interactions["last_ts"].max()).date()
        dates = (catalog.select("item_id", pl.col("release_date").cast(pl.Date)).drop_nulls().unique("item_id")
                 .filter(pl.col("release_date").is_between(today - timedelta(days=self.config.days), today,
                                                           closed="right")))
        listened = interactions.group_by("item_id").agg(pl.col("weight").sum())
        age_days = ((pl.lit(today) - pl.col("release_date")).dt.total_days() + 1).clip(1)
        chart = (dates.join(listened, on="item_id", how="left")
                 .with_columns((pl.col("weight").fill_null(0.0) / age_days).alias("score"))
                 .sort(["score", "release_date", "item_id"], descending=[True, True, False]))
        self.item_ids_ = chart["item_id"].to_numpy().astype(str)
        self.scores_ = chart["score"].to_numpy().astype(np.float64)
        return self

    def item_vectors(self) -> None:
        """A chart learns no item vectors."""
        return None

    def score(self, user_ids: Sequence[str], exclude: pl.DataFrame | None = None) -> np.ndarray:
        """Users × :attr:`item_ids` scores (listens per day since release); ``exclude`` pairs get ``-inf``."""
        self._check()
        return _masked(np.tile(self.scores_, (len(user_ids), 1)), user_ids, self.item_ids_, exclude)

    def recommend(self, user_ids: list[str], k: int = 10, exclude: pl.DataFrame | None = None) -> pl.DataFrame:
        """Top ``k`` new releases per user as ``user_id, item_id, score, rank``, minus the ``exclude`` pairs."""
        self._check()
        users = pl.DataFrame({"user_id": pl.Series(user_ids, dtype=pl.String), "chart": GLOBAL})
        return from_charts(users, pl.DataFrame({"chart": GLOBAL, "item_id": self.item_ids_, "score": self.scores_}),
                           k, exclude)

    def save(self, path: Path) -> None:
        """Write ``params.json`` and ``arrays.npz`` into folder ``path``."""
        self._check()
        _save(path, {"model": self.name, **self.config.model_dump()}, self)

    @classmethod
    def load(cls, path: Path) -> NewReleases:
        """Read a model written by :meth:`save`."""
        return _load(path, cls)


def _masked(scores: np.ndarray, user_ids: Sequence[str], items: np.ndarray, exclude: pl.DataFrame | None) -> np.ndarray:
    if exclude is not None and exclude.height:
        scores[excluded_cells(np.asarray(user_ids, dtype=str), items, exclude)] = -np.inf
    return scores


def _save(path: Path, params: dict[str, object], model: object) -> None:
    """``params.json`` and the model's learned arrays (attributes ending in ``_``) as ``arrays.npz``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "params.json").write_text(json.dumps(params))
    np.savez(path / "arrays.npz", **{k.removesuffix("_"): v for k, v in vars(model).items() if k.endswith("_")})


def _load(path: Path, cls: type[_Model]) -> _Model:
    params = json.loads((path / "params.json").read_text())
    params.pop("model", None)
    model = cls(**params)
    with np.load(path / "arrays.npz", allow_pickle=False) as arrays:
        for key in arrays.files:
            setattr(model, f"{key}_", arrays[key])
    return model


def _chart(weighted: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Summed weight per item (per ``keys``), best first, ties by item id."""
    return (weighted.group_by([*keys, "item_id"]).agg(pl.col("weight").sum().alias("score"))
            .sort([*keys, "score", "item_id"], descending=[False] * len(keys) + [True, False]))


def from_charts(users: pl.DataFrame, charts: pl.DataFrame, k: int, exclude: pl.DataFrame | None) -> pl.DataFrame:
    """Top ``k`` per user from the chart each is assigned (``users``: ``user_id, chart``), topped up from
    the global chart; ``charts`` (``chart, item_id, score``) is sorted best first within each chart."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n_ex = 0 if exclude is None else int(exclude.group_by("user_id").len()["len"].max() or 0)
    top = (charts.with_columns(pl.int_range(pl.len()).over("chart").alias("_pos"))
           .filter(pl.col("_pos") < k + n_ex))
    users = users.unique(maintain_order=True)
    own = users.join(top, on="chart").with_columns(pl.lit(0).alias("_fill"))
    fill = (users.filter(pl.col("chart") != GLOBAL).drop("chart")
            .join(top.filter(pl.col("chart") == GLOBAL), how="cross").with_columns(pl.lit(1).alias("_fill")))
    recs = (pl.concat([own, fill.select(own.columns)]).sort(["user_id", "_fill", "_pos"])
            .unique(["user_id", "item_id"], keep="first", maintain_order=True))
    if exclude is not None:
        recs = recs.join(exclude.select("user_id", "item_id"), on=["user_id", "item_id"], how="anti")
    return (
        recs.with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("rank"))
        .filter(pl.col("rank") <= k)
        .select("user_id", "item_id", "score", "rank")
        .sort(["user_id", "rank"])
    )
