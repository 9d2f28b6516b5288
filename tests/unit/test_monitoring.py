"""Monitoring: drift per signal, per-surface quality from impressions, guardrails, the shipped alerting rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from tastemaker.monitoring.config import Bounds
from tastemaker.monitoring.drift import SIGNALS, check, psi
from tastemaker.monitoring.quality import per_surface
from tastemaker.monitoring.report import judge

START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 42


def _world(seed: int = 0, shift_day: int | None = None) -> pl.DataFrame:
    """Six weeks of listening by 400 listeners over 3,000 tracks, the same every day; from ``shift_day`` on,
    a taste shift: skips double, a new country, and half the listens go to tracks never heard before."""
    rng = np.random.default_rng(seed)
    users = [f"u{i}" for i in range(400)]
    country = {u: ("SE", "DE", "BR")[i % 3] for i, u in enumerate(users)}
    rows: dict[str, list] = {c: [] for c in ("user_id", "ts", "type", "item_id", "artist_id", "ms_played",
                                             "duration_ms", "country", "platform", "surface")}
    new_track = 0
    for day in range(DAYS):
        shifted = shift_day is not None and day >= shift_day
        for u in users:
            for _ in range(int(rng.poisson(6))):
                if shifted and rng.random() < 0.5:
                    item, new_track = f"new{new_track}", new_track + 1
                else:
                    item = f"t{int(rng.zipf(1.3)) % 3000}"
                skip = rng.random() < (0.5 if shifted else 0.2)
                rows["user_id"].append(u)
                rows["ts"].append(START + timedelta(days=day, seconds=int(rng.integers(86_400))))
                rows["type"].append("play")
                rows["item_id"].append(item)
                rows["artist_id"].append("a" + item[1:] if not item.startswith("new") else f"na{item[3:]}")
                rows["ms_played"].append(int(rng.integers(5_000, 29_000)) if skip else int(rng.integers(60_000, 200_000)))
                rows["duration_ms"].append(200_000)
                rows["country"].append("JP" if shifted and rng.random() < 0.4 else country[u])
                rows["platform"].append(("ios", "android", "web")[int(rng.integers(3))])
                rows["surface"].append(("for-you", "search", "library")[int(rng.integers(3))])
    return pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC")}).with_columns(
        pl.lit(None, pl.Boolean).alias("skipped"))


@pytest.fixture(scope="module")
def steady() -> pl.DataFrame:
    return _world()


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.0)
    assert 0 < psi(np.array([0.5, 0.5]), np.array([0.6, 0.4])) < psi(np.array([0.5, 0.5]), np.array([0.9, 0.1]))


def test_a_steady_stream_raises_no_drift_alarm_on_any_day_of_its_last_two_weeks(steady: pl.DataFrame) -> None:
    alarms = []
    for day in range(DAYS - 14, DAYS):
        found = check(steady, START + timedelta(days=day + 1))
        assert {d.signal for d in found} == set(SIGNALS)
        alarms += [(day, d.signal, d.effect) for d in found if d.drifted]
    assert alarms == []


def test_a_taste_shift_is_caught_on_its_first_day_by_the_signals_it_moves() -> None:
    shifted = _world(shift_day=DAYS - 1)
    found = {d.signal: d for d in check(shifted, START + timedelta(days=DAYS))}
    drifted = {name for name, d in found.items() if d.drifted}
    assert {"skip_rate", "new_tracks", "new_artists", "country_mix", "completion", "catalogue_growth"} <= drifted
    assert "platform_mix" not in drifted and "active_listeners" not in drifted  # what did not move stays quiet
    assert found["skip_rate"].current > found["skip_rate"].reference + 0.2
    assert "JP" in found["country_mix"].note
    the_day_before = {d.signal for d in check(shifted, START + timedelta(days=DAYS - 1)) if d.drifted}
    assert the_day_before == set()


def test_a_mix_counts_listeners_so_one_heavy_listener_abroad_moves_nothing(steady: pl.DataFrame) -> None:
    at = START + timedelta(days=DAYS)
    day = at - timedelta(days=1)
    one = steady.filter(pl.col("user_id") == "u7").head(1)
    binge = pl.concat([one.with_columns(pl.lit(day + timedelta(seconds=i)).alias("ts"), pl.lit("JP").alias("country"),
                                        pl.lit(f"t{i % 50}").alias("item_id"))
                       for i in range(2_000)])  # as many listens as all the others' that day, from one listener
    found = {d.signal: d for d in check(pl.concat([steady, binge]), at)}
    assert not found["country_mix"].drifted and found["country_mix"].effect < 0.02
    moved = steady.with_columns(pl.when((pl.col("ts") >= day) & (pl.col("user_id").str.slice(1).cast(pl.Int64) < 120))
                                .then(pl.lit("JP")).otherwise(pl.col("country")).alias("country"))
    assert {d.signal: d for d in check(moved, at)}["country_mix"].drifted  # 30 % of the listeners abroad


def test_a_quiet_day_is_a_volume_drift_and_thin_data_is_no_verdict(steady: pl.DataFrame) -> None:
    at = START + timedelta(days=DAYS)
    quiet = steady.filter((pl.col("ts") < at - timedelta(days=1)) | (pl.col("user_id").str.slice(1).cast(pl.Int64) < 40))
    found = {d.signal: d for d in check(quiet, at)}
    assert found["volume"].drifted and found["active_listeners"].drifted and found["volume"].effect < -4
    thin = {d.signal: d for d in check(steady.head(30), START + timedelta(days=2))}
    assert not any(d.drifted for d in thin.values())
    assert "too few" in thin["completion"].note


def test_a_daily_count_needs_a_change_worth_paging_for_not_only_a_large_z(steady: pl.DataFrame) -> None:
    at = START + timedelta(days=DAYS)
    user = pl.col("user_id").str.slice(1).cast(pl.Int64)
    dip = steady.filter((pl.col("ts") < at - timedelta(days=1)) | (user >= 52))  # 13 % fewer listeners today
    found = {d.signal: d for d in check(dip, at)}["volume"]
    assert found.effect < -4 and found.p_value < 0.01  # the test alone would page
    assert not found.drifted and found.note.startswith("change -1")
    assert {d.signal: d for d in check(dip, at, bounds=Bounds(count_change=0.1))}["volume"].drifted


def test_bounds_come_from_the_workspace_file_and_a_typo_is_an_error(tmp_path: Path, steady: pl.DataFrame) -> None:
    (tmp_path / "monitoring.toml").write_text("alpha = 0.05\n[drift]\nskip_rate = 0.0001\n")
    bounds = Bounds.read(tmp_path)
    assert bounds.alpha == 0.05 and bounds.of("skip_rate") == 0.0001 and bounds.of("volume") == 4.0
    (tmp_path / "monitoring.toml").write_text("[drift]\nskip_rat = 0.1\n")
    with pytest.raises(ValueError, match="skip_rat"):
        Bounds.read(tmp_path)
    (tmp_path / "monitoring.toml").write_text("[quality]\nmin_play_rat = 0.1\n")
    with pytest.raises(ValueError, match="min_play_rat"):
        Bounds.read(tmp_path)


def _impressions(lists: list[tuple[str, str, str, list[str], datetime, str]]) -> pl.DataFrame:
    rows = []
    for request, user, surface, items, ts, level in lists:
        rows += [{"user_id": user, "ts": ts, "type": "impression", "item_id": item, "surface": surface,
                  "session_id": request, "reason_start": level, "ms_played": None, "skipped": None}
                 for item in items]
    return pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC"), "ms_played": pl.Int64,
                                                "skipped": pl.Boolean})


def _act(user: str, item: str, ts: datetime, kind: str = "play", ms: int = 120_000) -> dict:
    return {"user_id": user, "ts": ts, "type": kind, "item_id": item, "surface": None, "session_id": None,
            "reason_start": None, "ms_played": ms, "skipped": None}


def test_each_listen_and_save_is_credited_to_the_latest_impression_of_its_track_within_a_day() -> None:
    t0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
    shown = _impressions([("r1", "u1", "for-you", ["a", "b", "c", "d"], t0, "model"),
                          ("r2", "u1", "discover-weekly", ["a", "e"], t0 + timedelta(hours=1), "model"),
                          ("r3", "u2", "for-you", ["a", "b"], t0, "popularity")])
    acts = pl.DataFrame([
        _act("u1", "a", t0 + timedelta(hours=2)),                 # credited to discover-weekly (the latest)
        _act("u1", "b", t0 + timedelta(minutes=5), ms=10_000),     # a skip on for-you
        _act("u1", "c", t0 + timedelta(hours=30)),                 # too late: credited to nothing
        _act("u1", "d", t0 + timedelta(minutes=9), "save", 0),     # a save on for-you
        _act("u2", "b", t0 - timedelta(minutes=1)),                # before it was shown: nothing
        _act("u3", "a", t0 + timedelta(minutes=1)),                # somebody else: nothing
    ], schema_overrides={"ts": pl.Datetime("us", "UTC"), "ms_played": pl.Int64, "skipped": pl.Boolean,
                         "surface": pl.String, "session_id": pl.String, "reason_start": pl.String})
    events = pl.concat([shown, acts.select(shown.columns)])
    tracks = pl.DataFrame({"track_id": list("abcdefgh"), "artist_id": ["x", "x", "y", "y", "z", "z", "w", "w"]})
    q = {r["surface"]: r for r in per_surface(events, t0 - timedelta(hours=1), t0 + timedelta(days=1),
                                              tracks=tracks).iter_rows(named=True)}
    fy, dw = q["for-you"], q["discover-weekly"]
    assert (fy["lists"], fy["impressions"], dw["lists"], dw["impressions"]) == (2, 6, 1, 2)
    assert dw["play_rate"] == 0.5 and dw["minutes_per_impression"] == pytest.approx(2.0 / 2)
    assert fy["play_rate"] == 0.0 and fy["skip_rate"] == 1.0 and fy["save_rate"] == pytest.approx(1 / 6)
    assert fy["fallback_rate"] == 0.5 and dw["fallback_rate"] == 0.0
    assert fy["coverage"] == pytest.approx(4 / 8) and dw["top_artist_share"] == 1.0


def test_guardrails_alert_on_drift_and_on_a_surface_past_its_bound(steady: pl.DataFrame) -> None:
    at = START + timedelta(days=DAYS)
    shifted = check(_world(shift_day=DAYS - 1), at)
    quality = pl.DataFrame({"surface": ["for-you", "radio"], "lists": [500, 10], "play_rate": [0.001, 0.0],
                            "skip_rate": [0.2, 0.9], "fallback_rate": [0.6, 1.0]})
    alerts = judge(shifted, quality, Bounds(), at)
    names = {a.name for a in alerts}
    assert {"skip_rate", "country_mix", "for-you.play_rate", "for-you.fallback_rate"} <= names
    assert not any(n.startswith("radio.") for n in names)  # 10 lists are too few to judge
    assert all(a.message for a in alerts)
    assert judge(check(steady, at), quality.filter(pl.col("surface") == "radio"), Bounds(), at) == []


def test_every_metric_the_alerting_rules_name_is_one_the_product_exports() -> None:
    from tastemaker.monitoring import report
    from tastemaker.serving.metrics import Metrics

    rules = yaml.safe_load((Path(report.__file__).parent / "rules.yml").read_text())
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    named = {m for e in exprs for m in re.findall(r"\b(tastemaker_[a-z_]+)", e)}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exported = {family.name + suffix for family in Metrics().registry.collect()
                for suffix in suffixes.get(family.type, ("",))}
    source = Path(report.__file__).read_text()
    exported |= set(re.findall(r'Gauge\("(tastemaker_[a-z_]+)"', source))
    assert named and named <= exported, named - exported
