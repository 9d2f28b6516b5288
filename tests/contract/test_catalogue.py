"""Every model of the catalogue keeps the one contract: fit on a training bundle, score every item of
its catalogue, save and load back to identical scores, refuse unknown parameters and unfitted use."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.candidates.catalogue import CATALOGUE, create, load
from tastemaker.candidates.data import TrainingData
from tastemaker.errors import NotFittedError

#: settings that keep each fit small (the contract, not the quality, is under test)
SMALL: dict[str, dict[str, object]] = {
    "als": {"factors": 8, "iterations": 3}, "bpr": {"factors": 8, "iterations": 10},
    "ease": {"l2": 10.0}, "item2vec": {"dim": 8, "epochs": 2}, "slim": {"alpha": 0.01},
    "pipeline": {"max_grid": 1, "only": ["history", "itemknn", "als", "artist"], "candidates": 20, "folds": 2},
}
NOW = datetime(2026, 3, 1)


def _bundle() -> TrainingData:
    """40 listeners in 4 taste groups over 80 tracks of 8 artists, three weeks of timed plays."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        group = u % 4
        for n in range(30):
            item = group * 20 + int(rng.integers(0, 20)) if rng.random() < 0.85 else int(rng.integers(0, 80))
            rows.append((f"u{u:02d}", f"t{item:02d}", NOW - timedelta(days=21) + timedelta(hours=int(n * 16 + u)),
                         bool(rng.random() < 0.2)))
    plays = pl.DataFrame(rows, schema=["user_id", "item_id", "ts", "skipped"], orient="row")
    artist = pl.col("item_id").str.slice(1).cast(pl.Int64) // 10
    listened = plays.filter(~pl.col("skipped"))
    interactions = (listened.group_by("user_id", "item_id")
                    .agg(pl.len().cast(pl.Float64).alias("weight"), pl.col("ts").max().alias("last_ts"))
                    .with_columns(("a" + artist.cast(pl.String)).alias("artist_id"),
                                  pl.when(pl.col("user_id").str.slice(1).cast(pl.Int64) % 2 == 0)
                                  .then(pl.lit("SE")).otherwise(pl.lit("BR")).alias("country")))
    items = [f"t{i:02d}" for i in range(80)]
    audio = pl.DataFrame({"track_id": items, "energy": rng.random(80), "acousticness": rng.random(80),
                          "tempo": rng.random(80) * 100 + 60})
    releases = pl.DataFrame({"item_id": items, "release_date": [(NOW - timedelta(days=i)).date() for i in range(80)]})
    return TrainingData(interactions, plays=plays, audio_features=audio, releases=releases, now=NOW)


@pytest.fixture(scope="module")
def bundle() -> TrainingData:
    return _bundle()


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_model_keeps_the_contract(name: str, bundle: TrainingData, tmp_path: Path) -> None:
    model = create(name, **SMALL.get(name, {}))
    assert not model.is_fitted
    with pytest.raises(NotFittedError):
        model.score(["u01"])
    assert model.fit(bundle) is model and model.is_fitted
    users = ["u01", "u02", "never-seen"]
    scores = model.score(users)
    assert scores.shape == (3, len(model.item_ids))
    heard = bundle.interactions.filter(pl.col("user_id") == "u01").select("user_id", "item_id")
    masked = model.score(users, exclude=heard)
    at = np.isin(model.item_ids, heard["item_id"].to_list())
    assert np.isneginf(masked[0, at]).all() and not np.isneginf(masked[1:, at]).all()
    recs = model.recommend(users, k=5, exclude=heard)
    assert recs.filter(pl.col("user_id") == "u01").join(heard, on=["user_id", "item_id"]).is_empty()
    model.save(tmp_path / name)
    again = load(tmp_path / name)
    assert type(again) is type(model) and again.config == model.config
    np.testing.assert_array_equal(again.item_ids, model.item_ids)
    np.testing.assert_allclose(again.score(users), scores)


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_an_unknown_parameter_is_refused_by_name(name: str) -> None:
    with pytest.raises(ValueError, match="colour"):
        create(name, colour="red")


def test_a_wrong_type_is_refused_and_an_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="factors"):
        create("als", factors="many")
    with pytest.raises(ValueError, match="known: .*pipeline"):
        create("neumf")
