"""The synthetic listener world: determinism, integrity, and the behaviour it is meant to show."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tastemaker.cli.main import app
from tastemaker.simulate import World, WorldConfig, write_world
from tastemaker.simulate.behaviour import Behaviour, skip_probability
from tastemaker.simulate.tables import artists_table, audio_features_table, tracks_table, users_table
from tastemaker.store import conform

SMALL = WorldConfig(seed=7, n_users=400, n_tracks=3_000, days=30, events_per_user=80, churn_rate=0.01,
                    new_release_share=0.2)
TINY = WorldConfig(seed=1, n_users=60, n_tracks=400, days=5, events_per_user=30)


@pytest.fixture(scope="module")
def world() -> World:
    return World(SMALL)


@pytest.fixture(scope="module")
def events(world: World) -> pl.DataFrame:
    return pl.DataFrame(pa.concat_tables(world.generate_events()))


@pytest.fixture(scope="module")
def plays(world: World, events: pl.DataFrame) -> pl.DataFrame:
    """Plays with the hidden taste match and each event's day index."""
    p = events.filter(pl.col("type") == "play")
    start_ms = int(np.datetime64(SMALL.start, "ms").astype(np.int64))
    return p.with_columns(
        match=pl.Series(world.match(p["user_id"].to_numpy(), p["item_id"].to_numpy())),
        day=(pl.col("ts").dt.epoch("ms") - start_ms) // 86_400_000,
    )


def _events(config: WorldConfig) -> pa.Table:
    return pa.concat_tables(World(config).generate_events())


def test_same_seed_same_events_other_seed_other_events() -> None:
    first, again = _events(TINY), _events(TINY)
    assert first.num_rows > 0 and first.equals(again)
    assert not first.equals(_events(replace(TINY, seed=2)))


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    for fmt in ("parquet", "csv"):
        a = write_world(World(TINY), tmp_path / f"a-{fmt}", fmt)
        b = write_world(World(TINY), tmp_path / f"b-{fmt}", fmt)
        for name in a.files:
            assert Path(a.files[name]["path"]).read_bytes() == Path(b.files[name]["path"]).read_bytes(), name


def test_generating_twice_on_one_world_restarts_from_day_zero() -> None:
    w = World(TINY)
    first = pa.concat_tables(w.generate_events())
    assert w.day == TINY.days
    assert pa.concat_tables(w.generate_events()).equals(first)


def test_every_event_points_into_the_catalog(world: World, events: pl.DataFrame) -> None:
    tracks = pl.DataFrame(tracks_table(world.catalog, SMALL.start))
    artists = set(world.catalog.artist_ids.to_pylist())
    users = set(world.listeners.ids.to_pylist())
    on_tracks = events.filter(pl.col("item_kind") == "track")
    assert set(on_tracks["item_id"]) <= set(tracks["track_id"])
    assert set(events["artist_id"]) <= artists and set(events["user_id"]) <= users
    follows = events.filter(pl.col("type") == "follow_artist")
    assert follows.height > 0 and set(follows["item_id"]) <= artists
    assert (follows["item_id"] == follows["artist_id"]).all() and (follows["item_kind"] == "artist").all()
    joined = on_tracks.join(tracks.select("track_id", pl.col("artist_id").alias("track_artist")),
                            left_on="item_id", right_on="track_id")
    assert joined.height == on_tracks.height and (joined["artist_id"] == joined["track_artist"]).all()
    assert events.group_by("session_id").agg(pl.col("user_id").n_unique())["user_id"].max() == 1


def test_plays_carry_timing_and_other_events_do_not(events: pl.DataFrame) -> None:
    assert set(events["type"]) == {"play", "save", "add_to_playlist", "follow_artist", "ban", "replay"}
    plays = events.filter(pl.col("type") == "play")
    timing = plays.select("ms_played", "duration_ms", "skipped", "reason_start", "reason_end")
    assert timing.null_count().sum_horizontal().item() == 0
    assert (plays["ms_played"] <= plays["duration_ms"]).all() and (plays["ms_played"] >= 0).all()
    finished = plays.filter(~pl.col("skipped"))
    assert (finished["ms_played"] == finished["duration_ms"]).all()
    assert set(plays.filter(pl.col("skipped"))["reason_end"]) == {"fwdbtn", "endplay"}
    others = events.filter(pl.col("type") != "play")
    assert others["ms_played"].null_count() == others.height


def test_tables_fit_the_store_schema(world: World, events: pl.DataFrame) -> None:
    cat, people = world.catalog, world.listeners
    tables = {
        "events": events,
        "tracks": pl.DataFrame(tracks_table(cat, SMALL.start)),
        "artists": pl.DataFrame(artists_table(cat)),
        "users": pl.DataFrame(users_table(people, cat, SMALL.start)),
        "audio_features": pl.DataFrame(audio_features_table(cat)),
    }
    for name, frame in tables.items():
        stored = conform(name, frame)  # raises on a column the store does not know
        for column in frame.columns:
            assert stored[column].null_count() == frame[column].null_count(), (name, column)


def test_a_few_tracks_get_most_plays(plays: pl.DataFrame) -> None:
    counts = np.sort(plays["item_id"].value_counts()["count"].to_numpy())[::-1]
    share = counts.cumsum() / counts.sum()
    assert share[SMALL.n_tracks // 100] > 0.1 and share[SMALL.n_tracks // 10] > 0.4  # 10x and 4x uniform
    top = counts[: counts.size // 10]
    slope = np.polyfit(np.log(np.arange(1, top.size + 1)), np.log(top), 1)[0]
    assert slope < -0.3  # a straight falling line on a log-log rank plot
    per_user = np.sort(plays["user_id"].value_counts()["count"].to_numpy())[::-1]
    assert per_user[: len(per_user) // 10].sum() / per_user.sum() > 0.3  # heavy listeners


def test_poorly_matched_tracks_are_skipped_more(plays: pl.DataFrame) -> None:
    low, high = plays["match"].quantile(0.25), plays["match"].quantile(0.75)
    poor = plays.filter(pl.col("match") <= low)["skipped"].mean()
    good = plays.filter(pl.col("match") >= high)["skipped"].mean()
    assert poor > good + 0.3


def test_late_plays_in_a_session_are_skipped_more(plays: pl.DataFrame) -> None:
    early = plays.filter(pl.col("position").is_between(1, 3))["skipped"].mean()
    late = plays.filter(pl.col("position") >= 12)["skipped"].mean()
    assert late > early + 0.02
    b = Behaviour()
    p = skip_probability(b, np.full(2, 0.5), np.array([0, 20]), np.ones(2, bool), np.zeros(2), np.ones(2),
                         np.zeros(2, bool))
    assert p[1] > p[0]


def test_churned_listeners_start_no_session_after_churning(world: World, events: pl.DataFrame) -> None:
    churn = world.state.churn_day
    churned = np.flatnonzero(churn < SMALL.days)
    assert churned.size > 10
    start_ms = int(np.datetime64(SMALL.start, "ms").astype(np.int64))
    starts = events.group_by("session_id").agg(pl.col("user_id").first(), pl.col("ts").min().dt.epoch("ms"))
    day = (starts["ts"].to_numpy() - start_ms) // 86_400_000
    assert (day < churn[world.user_index(starts["user_id"].to_numpy())]).all()
    later = np.isin(world.listeners.ids.to_numpy(zero_copy_only=False)[churned], starts["user_id"].to_numpy())
    assert later.any()  # churned listeners did listen before they left


def test_new_releases_are_not_played_before_release(world: World, plays: pl.DataFrame) -> None:
    release = world.catalog.release_day[world.track_index(plays["item_id"].to_numpy())]
    assert (release >= 0).sum() > 100  # new releases are played...
    assert (plays["day"].to_numpy() >= release).all()  # ...but never before their day
    signup = world.listeners.signup_day[world.user_index(plays["user_id"].to_numpy())]
    assert (plays["day"].to_numpy() >= signup).all()


def test_respond_uses_the_same_model(world: World) -> None:
    rng = np.random.default_rng(0)
    users = np.flatnonzero(world.state.churn_day > SMALL.days)[:200]
    released = np.flatnonzero(world.catalog.release_day <= SMALL.days)
    match = world.listeners.taste[users] @ world.catalog.track_vectors[released].T
    order = np.argsort(match, axis=1)
    best, worst = released[order[:, -5:]], released[order[:, :5]]
    shown = np.where(rng.random((users.size, 1)) < 0.5, np.hstack([best, worst]), np.hstack([worst, best]))
    out = world.respond(world.listeners.ids.take(pa.array(users)).to_pylist(), shown, SMALL.days,
                        np.random.default_rng(1), update=False)
    good = np.isin(shown, best) & out.played
    bad = np.isin(shown, worst) & out.played
    assert out.skipped[good].mean() + 0.3 < out.skipped[bad].mean()
    assert (out.ms_played[~out.played] == 0).all() and not (out.saved & ~out.played).any()
    again = world.respond(users, shown, SMALL.days, np.random.default_rng(1), update=False)
    assert (again.skipped == out.skipped).all() and (again.played == out.played).all()


def test_respond_skips_churned_listeners_unreleased_tracks_and_blanks(world: World) -> None:
    churned = int(np.flatnonzero(world.state.churn_day <= SMALL.days)[0])
    active = int(np.flatnonzero((world.state.churn_day > SMALL.days) & (world.listeners.signup_day < 0))[0])
    future = int(np.argmax(world.catalog.release_day))
    popular = int(np.argmax(world.catalog.track_popularity))
    rng = np.random.default_rng(0)
    gone = world.respond([churned] * 50, np.full((50, 1), popular), SMALL.days, rng)
    before = int(world.catalog.release_day[future]) - 1
    early = world.respond([active] * 50, np.full((50, 1), future), before, rng)
    blank = world.respond([active], [[None, "", world.catalog.track_ids[popular].as_py()]], SMALL.days, rng)
    assert not gone.played.any() and not early.played.any()
    assert blank.played.tolist() == [[False, False, True]]
    with pytest.raises(ValueError, match="unknown user ids"):
        world.respond(["someone"], [[popular]], date(2024, 1, 1), rng)


def test_respond_saves_grow_the_library() -> None:
    w = World(TINY)
    user = int(np.argmax(w.listeners.signup_day < 0))
    fits = np.argsort(w.catalog.track_vectors @ w.listeners.taste[user])[::-1]
    fits = fits[w.catalog.release_day[fits] <= 0][:40]
    out = w.respond([user] * 40, fits.reshape(40, 1), 0, np.random.default_rng(3))
    assert out.saved.any()
    assert w.state.contains(np.full(int(out.saved.sum()), user), fits[out.saved[:, 0]]).all()


def test_cli_generate_writes_files_whose_counts_match(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--workspace", str(tmp_path / "ws"), "generate", "--users", "40", "--tracks", "300",
            "--days", "4", "--seed", "5", "--events-per-user", "20", "--format", "csv", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert Path(summary["out"]) == tmp_path / "ws" / "world"
    events = pl.read_csv(summary["files"]["events"]["path"])
    assert events.height == summary["events"] > 0
    assert (events["type"] == "play").sum() == summary["plays"]
    assert events["ts"].str.ends_with("Z").all()
    assert pl.read_csv(summary["files"]["users"]["path"]).height == summary["users"] == 40
    assert pl.read_csv(summary["files"]["tracks"]["path"]).height == summary["tracks"] == 300
    assert pl.read_csv(summary["files"]["artists"]["path"]).height == summary["artists"]
    assert WorldConfig.from_dict(json.loads(Path(summary["files"]["world"]["path"]).read_text())).seed == 5


def test_cli_generate_parquet_with_progress_bar(tmp_path: Path) -> None:
    out = tmp_path / "w"
    args = ["generate", "-o", str(out), "--users", "20", "--tracks", "100", "--days", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "world written to" in result.stdout
    assert pl.read_parquet(out / "events.parquet").height > 0


@pytest.mark.parametrize(("args", "message"), [(["--users", "-3"], "--users"), (["--days", "0"], "--days"),
                                                (["--format", "xml"], "--format")])
def test_cli_generate_rejects_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["generate", "-o", str(tmp_path / "w"), *args])
    assert result.exit_code != 0
    assert message in result.stderr and result.stdout == ""


def _plays_of_day(world: World) -> pl.DataFrame:
    frame = pl.from_arrow(world.step_day())
    assert isinstance(frame, pl.DataFrame)
    return frame.filter(pl.col("type") == "play")


def test_held_back_albums_are_unheard_until_released_then_a_wave_of_listens() -> None:
    world = World(WorldConfig(seed=5, n_users=300, n_tracks=2_000, days=10, events_per_user=40))
    albums = world.hold_back(0.05)
    held = world.catalog.track_ids.filter(pa.array(np.isin(world.catalog.track_album, albums))).to_pylist()
    history = pl.from_arrow(pa.concat_tables(world.generate_events()))
    assert isinstance(history, pl.DataFrame) and len(held) > 0
    assert history.filter(pl.col("item_id").is_in(held)).is_empty()
    assert _plays_of_day(world).filter(pl.col("item_id").is_in(held)).is_empty()
    assert world.release(albums) == len(held)
    fresh = _plays_of_day(world)
    assert fresh.filter(pl.col("item_id").is_in(held)).height / fresh.height > 0.03  # boosted as new releases are


def test_a_taste_shift_moves_a_share_of_listeners_to_other_genres_and_skips_follow() -> None:
    world = World(WorldConfig(seed=6, n_users=600, n_tracks=3_000, days=10, events_per_user=60))
    for _ in world.generate_events():
        pass
    genres, taste = world.listeners.genres.copy(), world.listeners.taste.copy()
    before = _plays_of_day(world)["skipped"].mean()
    moved = world.shift_taste(0.5)
    assert moved.size == 300
    others = np.setdiff1d(np.arange(600), moved)
    assert (world.listeners.genres[moved] != genres[moved]).all()
    assert np.array_equal(world.listeners.genres[others], genres[others])
    assert np.allclose(np.linalg.norm(world.listeners.taste[moved], axis=1), 1.0, atol=1e-5)
    assert np.array_equal(world.listeners.taste[others], taste[others])
    assert _plays_of_day(world)["skipped"].mean() > before + 0.03  # their old habits meet their new taste


def test_plays_from_a_served_list_carry_the_listeners_country_and_device() -> None:
    from tastemaker.simulate.exposure import exposure_log, response_events
    from tastemaker.simulate.listeners import COUNTRIES, PLATFORMS

    world = World(WorldConfig(seed=8, n_users=50, n_tracks=400, days=3, events_per_user=10))
    users = world.listeners.ids.to_pylist()[:20]
    lists = np.array([[f"tm:track:{(7 * i + j) % 400:06d}" for j in range(5)] for i in range(20)], dtype=object)
    rng = np.random.default_rng(0)
    out = world.respond(users, lists, 1, rng)
    played = response_events(world, 1, exposure_log(world, 1, users, ["a"] * 20, ["model"] * 20, lists, out),
                             "for-you", rng)
    assert played.height > 0
    who = world.user_index(played["user_id"].to_numpy())
    assert played["country"].to_list() == [COUNTRIES[c][0] for c in world.listeners.country[who]]
    assert played["platform"].to_list() == [PLATFORMS[p] for p in world.listeners.platform[who]]
