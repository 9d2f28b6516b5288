"""Odd data never fails a list: every batch surface (Discover Weekly for everyone, Daily Mixes, home, for you,
radio, similar) and the online service build lists for everyone when the store holds events naming items the
catalogue has no row for, listeners with no listening, a forgotten listener, and catalogue rows without names.

Each test builds a small generated world in a workspace (as ``tastemaker generate`` and ``import table`` do),
adds one kind of odd data, and asks every surface, through :class:`tastemaker.Workspace`, the functions of
:mod:`tastemaker.surfaces.lists` and the :class:`~tastemaker.engine.recommend.RecommendationService` a server
builds (:class:`~tastemaker.engine.snapshot.Sources`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tastemaker.api import Workspace
from tastemaker.engine import precomputed
from tastemaker.engine.precomputed import PARQUET, PRECOMPUTED_DIR
from tastemaker.engine.recommend import SURFACES, RecommendationService
from tastemaker.engine.snapshot import Sources
from tastemaker.engine.state import ListeningState
from tastemaker.simulate import World, WorldConfig, write_world
from tastemaker.surfaces import lists
from tastemaker.surfaces.discover_weekly import write_playlists
from tastemaker.surfaces.for_you import for_you

GHOST = "tr:ghost-0001"  # a track id no catalogue row has
LISTENER = "tm:user:000039"
SEED = "tm:track:000010"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tastemaker generate --users 60 --tracks 600 --days 10``, written once for the module."""
    folder = tmp_path_factory.mktemp("odd-world") / "world"
    write_world(World(WorldConfig(seed=0, n_users=60, n_tracks=600, days=10, events_per_user=100)), folder, "parquet")
    return folder


def _workspace(tmp_path: Path, world: Path) -> Workspace:
    ws = Workspace.create(tmp_path / "ws")
    ws.import_(world, "table")
    return ws


def _add(ws: Workspace, table: str, rows: dict[str, list[Any]]) -> None:
    """Import ``rows`` as a one-table CSV file, the way a user adds a file of ``table`` rows."""
    folder = ws.path.parent / f"add-{len(list(ws.path.parent.glob('add-*')))}"
    folder.mkdir()
    pl.DataFrame(rows).write_csv(folder / f"{table}.csv")
    assert ws.import_(folder / f"{table}.csv", "table").accepted == len(next(iter(rows.values())))


def _plays(users: list[str], item: str, ts: str = "2024-01-09T12:00:00Z") -> dict[str, list[Any]]:
    return {"user_id": users, "ts": [ts] * len(users), "item_id": [item] * len(users)}


def _service(ws: Workspace, batch: bool = True) -> RecommendationService:
    """What a server answers from, built as ``serve`` builds it (with every listener's batch list written)."""
    path = ws.path / PRECOMPUTED_DIR / PARQUET
    if batch:
        write_playlists(ws.discover_weekly(model="als"), path.parent, "Discover Weekly")
    sources = Sources(ws.models_dir, "als", "popularity", path, ranker=None)
    return sources.build(ws.store, ListeningState.load(ws.store)).recommendations


def _served(service: RecommendationService, user: str) -> dict[str, Any]:
    """Every surface of ``user`` as served, each checked to be a list a client can show."""
    out = {}
    for surface in SURFACES:
        served = service.recommend(user, surface, 10)
        assert served.items and served.cause != "error", (user, surface, served)
        assert all(isinstance(i["title"], str) and i["reason"] for i in served.items), (user, surface, served.items)
        out[surface] = served
    return out


def _texts(frame: pl.DataFrame) -> list[str]:
    """Every string value of ``frame``."""
    return [v for c in frame.select(pl.col(pl.String)).columns for v in frame[c].drop_nulls().to_list()]


def test_events_naming_items_without_a_catalogue_row_leave_every_list_built(tmp_path: Path, world: Path) -> None:
    ws = _workspace(tmp_path, world)
    ws.train("popularity")
    ws.train("als", factors=8)
    # after the weekly training: a listener plays a track nobody has metadata for, and a new listener (first in
    # order) plays only that one, so the batch meets a list whose listener has nothing the model can place
    _add(ws, "events", _plays([LISTENER, "0-new"], GHOST))
    model = ws.model("als")
    weekly = lists.discover_weekly(ws.store, model)
    players = ws.store.events().filter(pl.col("type") == "play").select("user_id").unique().collect()
    assert sorted(weekly["user_id"].unique().to_list()) == sorted(players["user_id"].to_list())
    assert weekly.group_by("user_id").len()["len"].min() == 30
    fresh = weekly.filter(pl.col("user_id") == "0-new")
    assert fresh["reason"].str.starts_with("new to you").all() and fresh["because"].null_count() == 30
    mixes = ws.daily_mixes(model="als")
    assert "0-new" not in mixes["user_id"].to_list() and mixes.filter(pl.col("user_id") == LISTENER).height
    for user in ("0-new", LISTENER):
        assert ws.recommend(user, model="als").height == 10 and ws.home(user, model="als").height
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the id is taken as it is, never for a track with a similar name
        assert ws.radio(SEED, played=[GHOST], model="als").height == 10
    assert ws.similar(SEED, model="als").height

    ws.train("als", factors=8)  # the model now learns the track without a row, and may pick it for anyone
    model = ws.model("als")
    weekly, mixes = lists.discover_weekly(ws.store, model), ws.daily_mixes(model="als")
    page = ws.home(LISTENER, model="als")
    for frame in (weekly, mixes, page, ws.discover_weekly(LISTENER, model="als")):
        assert GHOST not in _texts(frame)  # neither listed, nor the X of "because you played X"
    heard = lists.heard(ws.store, LISTENER)
    history = lists.weighted(ws.store.events().filter(pl.col("user_id") == LISTENER)).drop("user_id")
    assert for_you(model, LISTENER, heard, ws.store.entities("tracks"), 10, history=history,
                   rng=np.random.default_rng(0)).height == 10
    service = _service(ws)
    served = _served(service, LISTENER)
    assert GHOST not in {i["because"] for s in served.values() for i in s.items}
    _served(service, "0-new")  # whose only play is the track without a row


def test_listeners_with_no_listening_get_lists_without_reasons_from_it(tmp_path: Path, world: Path) -> None:
    ws = _workspace(tmp_path, world)
    shown = [SEED, "tm:track:000011", "tm:track:000012"]
    _add(ws, "events", {"user_id": ["0-shown"] * 3, "ts": ["2024-01-09T12:00:00Z"] * 3, "type": ["impression"] * 3,
                        "item_id": shown})
    _add(ws, "events", {"user_id": ["0-skips"] * 3, "ts": ["2024-01-09T12:00:00Z"] * 3, "type": ["play"] * 3,
                        "skipped": [True] * 3, "ms_played": [1_000] * 3, "item_id": shown})
    ws.train("popularity")
    ws.train("als", factors=8)
    model = ws.model("als")
    odd = ["0-shown", "0-skips", "nobody"]
    weekly = lists.discover_weekly(ws.store, model)  # the skips are listening: "0-skips" has the first list
    assert weekly["user_id"][0] == "0-skips" and not set(shown) & set(
        weekly.filter(pl.col("user_id") == "0-skips")["track_id"].to_list())
    chosen = lists.discover_weekly(ws.store, model, [*odd, LISTENER])
    assert chosen.group_by("user_id").len().sort("user_id")["len"].to_list() == [30] * 4
    assert chosen.filter(pl.col("user_id").is_in(odd))["because"].null_count() == 90
    assert ws.daily_mixes(model="als").filter(pl.col("user_id").is_in(odd)).is_empty()
    for user in odd:
        assert ws.discover_weekly(user, model="als").height == 30
        assert ws.daily_mixes(user, model="als").is_empty()
        assert ws.recommend(user, model="als").height == 10
        assert ws.home(user, model="als")["shelf"].is_in(["made-for-you", "recommended", "popular"]).all()
        assert for_you(model, user, lists.heard(ws.store, user), ws.store.entities("tracks"), 10,
                       rng=np.random.default_rng(0)).height == 10
    service = _service(ws)
    for user in odd:  # the batch list of "0-skips" stands in where one may
        assert {s.cause for s in _served(service, user).values()} == {"unknown_user"}


def test_a_forgotten_listener_gets_what_a_stranger_gets(tmp_path: Path, world: Path) -> None:
    ws = _workspace(tmp_path, world)
    ws.train("popularity")
    ws.train("als", factors=8)
    model = ws.model("als")
    write_playlists(ws.discover_weekly(model="als"), ws.path / PRECOMPUTED_DIR, "Discover Weekly")
    mine = ws.recommend(LISTENER, model="als")["item_id"].to_list()
    ws.store.forget_user(LISTENER)  # the model in use still holds their factors
    assert precomputed.forget(ws.path / PRECOMPUTED_DIR / PARQUET, LISTENER)  # as `tastemaker forget` does

    def items(frame: pl.DataFrame, column: str = "item_id") -> list[str]:
        return frame[column].to_list()

    stranger = items(ws.recommend("never-seen", model="als"))
    assert items(ws.recommend(LISTENER, model="als")) == stranger != mine
    assert items(lists.recommend(ws.store, model, LISTENER)) == stranger
    assert (items(ws.discover_weekly(LISTENER, model="als"), "track_id")
            == items(ws.discover_weekly("never-seen", model="als"), "track_id"))
    assert ws.daily_mixes(LISTENER, model="als").is_empty()
    page = ws.home(LISTENER, model="als")
    assert items(page.filter(pl.col("shelf") == "recommended")) == items(
        ws.home("never-seen", model="als").filter(pl.col("shelf") == "recommended"))
    assert LISTENER not in lists.discover_weekly(ws.store, model)["user_id"].to_list()
    served = _served(_service(ws, batch=False), LISTENER)
    assert {(s.level, s.cause) for s in served.values()} == {("popularity", "forgotten")}

    ws.store.unforget(LISTENER)  # they came back: a model trained on what they did since personalises again
    _add(ws, "events", {"user_id": [LISTENER] * 4, "ts": ["2024-01-09T12:00:00Z"] * 4,
                        "item_id": [f"tm:track:00000{i}" for i in range(4)]})
    since = lists.heard(ws.store, LISTENER).with_columns(pl.lit("never-seen").alias("user_id"))
    assert items(ws.recommend(LISTENER, model="als")) == items(  # the old model: still a stranger to it
        model.recommend(["never-seen"], k=10, exclude=since))
    ws.train("als", factors=8)
    again = ws.model("als").recommend([LISTENER], k=10, exclude=lists.heard(ws.store, LISTENER))
    assert items(ws.recommend(LISTENER, model="als")) == items(again)


def test_a_forgotten_listeners_batch_list_written_before_is_not_served(tmp_path: Path, world: Path) -> None:
    ws = _workspace(tmp_path, world)
    ws.train("popularity")
    ws.train("als", factors=8)
    write_playlists(ws.discover_weekly(model="als"), ws.path / PRECOMPUTED_DIR, "Discover Weekly")
    ws.store.forget_user(LISTENER)
    served = _served(_service(ws, batch=False), LISTENER)
    assert {s.level for s in served.values()} == {"popularity"}


def test_catalogue_rows_without_a_name_are_listed_by_their_id(tmp_path: Path, world: Path) -> None:
    ws = _workspace(tmp_path, world)
    nameless = "tr:nameless"
    _add(ws, "tracks", {"track_id": [nameless], "name": [None], "artist_id": [None], "artist_name": [None]})
    fans = [f"tm:user:{i:06d}" for i in range(0, 60, 2)]
    for day in (7, 8, 9):  # played by half the listeners: the model picks it for the others
        _add(ws, "events", _plays(fans, nameless, f"2024-01-0{day}T12:00:00Z"))
    ws.train("popularity")
    ws.train("als", factors=8)
    model = ws.model("als")
    weekly = lists.discover_weekly(ws.store, model)
    listed = weekly.filter(pl.col("track_id") == nameless)
    assert listed.height and (listed["name"] == nameless).all()
    assert weekly["name"].null_count() == 0
    mixes = ws.daily_mixes(model="als")
    assert (mixes.filter(pl.col("item_id") == nameless)["name"] == nameless).all()
    like = ws.similar(nameless, model="als")
    assert like.height and like["reason"].str.contains(f"similar to {nameless}", literal=True).all()
    assert ws.radio(nameless, model="als").height == 10
    for user in ("tm:user:000001", fans[0]):
        page = ws.home(user, model="als")
        assert page["title"].null_count() == 0
        for frame in (page, ws.recommend(user, model="als"), ws.discover_weekly(user, model="als"), mixes):
            assert not [t for t in _texts(frame) if "None" in t]
    ws.search("nameless")
    service = _service(ws)
    first = weekly.filter((pl.col("track_id") == nameless) & (pl.col("position") <= 3))["user_id"].to_list()
    served = [_served(service, user)["discover-weekly"].items for user in first]
    assert any(i["item_id"] == nameless and i["title"] == nameless for items in served for i in items)


def test_the_servers_lists_never_name_an_item_without_a_catalogue_row_as_what_was_played(
        tmp_path: Path, world: Path) -> None:
    ws = _workspace(tmp_path, world)
    ws.train("popularity")
    _add(ws, "events", _plays(["0-new"], GHOST))  # a listener whose only play has no catalogue row
    ws.train("als", factors=8)  # and the model learns it
    served = _served(_service(ws, batch=False), "0-new")
    for surface, answer in served.items():
        assert not any(GHOST in str(i["reason"]) or i["because"] == GHOST for i in answer.items), surface
        assert not any(i["item_id"] == GHOST for i in answer.items if surface == "daily-mix"), surface


def test_the_command_line_takes_an_id_events_name_without_a_catalogue_row_as_that_id(tmp_path: Path,
                                                                                    world: Path) -> None:
    from typer.testing import CliRunner

    from tastemaker.cli.main import app

    ws = _workspace(tmp_path, world)
    ws.train("als", factors=8)
    _add(ws, "events", _plays([LISTENER], GHOST))
    done = CliRunner().invoke(app, ["--workspace", str(ws.path), "radio", "--seed", SEED, "--played", GHOST,
                                    "--model", "als", "--json"])
    assert done.exit_code == 0, done.output  # not "no track is named", nor a track with a similar name
    assert "note:" not in done.output
