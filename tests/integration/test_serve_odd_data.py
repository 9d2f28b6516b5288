"""Odd data as a user meets it: the batch commands and a real `tastemaker serve` build every list when the store
holds events naming tracks no catalogue row has, listeners with no listening, a catalogue row without a name,
and a listener forgotten through the API (``docs/surfaces.md``, *Odd data*)."""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
import pytest
from serving_support import copy_workspace, serve, tm

from tastemaker.engine.recommend import SURFACES
from tastemaker.serving.schemas import RadioOut, RecommendationsOut, SimilarOut

pytestmark = pytest.mark.slow

GHOST = "tr:ghost-0001"  # a track id no catalogue row has, as a client may post it
NAMELESS = "tr:nameless"  # a catalogue row with no name, no artist
LISTENER = "tm:user:000039"
#: first in every batch: one who only skipped, a new listener whose only play has no row, one only shown tracks
ODD = ["0-skips", "1-ghost", "0-shown", "nobody"]
SEED = "tm:track:000010"


def _odd_tables(folder: Path) -> Path:
    """``events.parquet`` and ``tracks.parquet`` of odd rows, for ``tastemaker import table``."""
    folder.mkdir(parents=True)
    fans = [f"tm:user:{i:06d}" for i in range(0, 150, 2)]
    shown = [SEED, "tm:track:000011", "tm:track:000012"]
    rows = ([(LISTENER, GHOST, "play", None, None), ("1-ghost", GHOST, "play", None, None)]
            + [("0-skips", t, "play", True, 1_000) for t in shown] + [("0-shown", t, "impression", None, None)
                                                                      for t in shown]
            + [(u, NAMELESS, "play", False, 200_000) for u in fans])
    pl.DataFrame(rows, schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String, "skipped": pl.Boolean,
                               "ms_played": pl.Int64}, orient="row").with_columns(
        pl.lit("2024-01-20T12:00:00Z").str.to_datetime(time_zone="UTC").alias("ts")).write_parquet(
        folder / "events.parquet")
    pl.DataFrame({"track_id": [NAMELESS], "name": [None], "artist_id": [None], "artist_name": [None]},
                 schema={c: pl.String for c in ("track_id", "name", "artist_id", "artist_name")}).write_parquet(
        folder / "tracks.parquet")
    return folder


@pytest.fixture(scope="module")
def odd(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained workspace with the odd rows imported, ALS retrained on them, and every listener's Discover
    Weekly written where the server reads it, all through the commands a user runs."""
    root = tmp_path_factory.mktemp("serve-odd")
    ws = copy_workspace(trained, root / "ws")
    for args in (("import", "table", str(_odd_tables(root / "odd"))), ("train", "als"),
                 ("playlist", "discover-weekly", "--all", "--model", "als", "--out",
                  str(ws / "playlists" / "discover-weekly"))):
        done = tm(ws, *args)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return ws


@pytest.fixture(scope="module")
def server(odd: Path, request: pytest.FixtureRequest) -> httpx.Client:
    return serve(odd, request).client


def _recommend(client: httpx.Client, user: str, surface: str) -> RecommendationsOut:
    response = client.get(f"/v1/users/{user}/recommendations", params={"surface": surface, "n": 10})
    assert response.status_code == 200, (user, surface, response.text)
    served = RecommendationsOut.model_validate(response.json())
    assert served.items, (user, surface)
    return served


def test_the_batch_playlists_are_written_for_every_listener(odd: Path, tmp_path: Path) -> None:
    weekly = pl.read_parquet(odd / "playlists" / "discover-weekly" / "playlists.parquet")
    assert {"1-ghost", "0-skips", LISTENER} <= set(weekly["user_id"].to_list())
    assert weekly.group_by("user_id").len()["len"].min() == 30
    assert GHOST not in weekly["track_id"].to_list() and GHOST not in weekly["because"].to_list()
    assert weekly["name"].null_count() == 0 and NAMELESS in weekly.filter(pl.col("track_id") == NAMELESS)["name"]
    done = tm(odd, "playlist", "daily-mix", "--all", "--model", "als", "--out", str(tmp_path / "mixes"))
    assert done.returncode == 0, done.stderr
    mixes = pl.read_parquet(tmp_path / "mixes" / "playlists.parquet")
    assert mixes.height and GHOST not in mixes["track_id"].to_list()


def test_every_surface_is_served_to_listeners_with_odd_listening(server: httpx.Client) -> None:
    for user in (LISTENER, *ODD):
        for surface in SURFACES:
            _recommend(server, user, surface)


def test_a_track_without_a_name_is_served_by_its_id(server: httpx.Client, odd: Path) -> None:
    weekly = pl.read_parquet(odd / "playlists" / "discover-weekly" / "playlists.parquet")
    first = weekly.filter((pl.col("track_id") == NAMELESS) & (pl.col("position") <= 3))["user_id"].to_list()
    assert first
    items = [i for user in first for i in _recommend(server, user, "discover-weekly").items]
    assert any(i.item_id == NAMELESS and i.title == NAMELESS for i in items)
    like = SimilarOut.model_validate(server.get(f"/v1/tracks/{NAMELESS}/similar").json())
    assert like.items and not [i for i in like.items if "None" in i.reason]


def test_radio_and_similar_take_a_track_without_a_row(server: httpx.Client) -> None:
    queue = server.get("/v1/radio", params={"seed": SEED, "played": GHOST, "n": 5})
    assert queue.status_code == 200, queue.text
    assert len(RadioOut.model_validate(queue.json()).items) == 5
    assert server.get(f"/v1/tracks/{GHOST}/similar").status_code in (200, 404)


def test_a_listener_forgotten_through_the_api_gets_the_popular_list(server: httpx.Client) -> None:
    user = "tm:user:000041"
    assert _recommend(server, user, "for-you").served_by.level == "model"
    assert server.delete(f"/v1/users/{user}").status_code == 200
    for surface in SURFACES:
        served = _recommend(server, user, surface).served_by
        assert (served.level, served.cause) == ("popularity", "forgotten"), (surface, served)
