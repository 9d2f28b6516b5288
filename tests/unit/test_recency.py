"""Recency-weighted re-listening: recent plays outweigh old ones, and split timestamps are checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.evaluation.fixed_split import FixedSplit
from tastemaker.features.interactions import interactions

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _plays(rows: list[tuple[str, str, int]]) -> pl.LazyFrame:
    """``(user, item, days ago)`` plays of a minute each."""
    return pl.DataFrame(
        {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "artist_id": ["a"] * len(rows),
         "ts": [NOW - timedelta(days=r[2]) for r in rows], "type": ["play"] * len(rows),
         "skipped": [False] * len(rows), "ms_played": [60_000] * len(rows), "count": [None] * len(rows)},
        schema_overrides={"count": pl.Int32, "ts": pl.Datetime("ms", "UTC")},
    ).lazy()


def test_recency_halves_a_listen_every_half_life() -> None:
    frame = interactions(_plays([("u", "x", 0), ("u", "x", 60), ("u", "y", 120)]), half_life_days=60.0)
    got = dict(frame.select("item_id", "recency").iter_rows())
    assert got == pytest.approx({"x": 1.5, "y": 0.25})
    with pytest.raises(ValueError, match="half_life_days"):
        interactions(_plays([("u", "x", 0)]), half_life_days=0)


def test_recent_favourite_outranks_an_old_one_with_recency_but_not_with_counts() -> None:
    # five plays of "old" a year ago, two plays of "new" this week
    data = interactions(_plays([("u", "old", 365)] * 5 + [("u", "new", 1)] * 2 + [("v", "new", 3)]))
    by_count = create("history", half_life_days=None).fit(TrainingData(data)).recommend(["u"], k=1)
    by_recency = create("history").fit(TrainingData(data)).recommend(["u"], k=1)
    assert by_count["item_id"].to_list() == ["old"]
    assert by_recency["item_id"].to_list() == ["new"]


def test_a_splits_train_events_give_recency_and_must_be_its_train_part(tmp_path) -> None:  # type: ignore[no-untyped-def]
    train = pl.DataFrame({"user_id": ["u", "u"], "item_id": ["x", "y"], "weight": [2, 1]})
    train.write_csv(tmp_path / "train.tsv", separator="\t")
    for part in ("valid", "test"):
        pl.DataFrame({"user_id": ["u"], "item_id": ["z"]}).write_csv(tmp_path / f"{part}.tsv", separator="\t")
    when = [(NOW - timedelta(days=d)).strftime("%Y-%m-%d %H:%M") for d in (100, 0, 50, 10)]
    events = pl.DataFrame({"user_id": ["u"] * 4, "item_id": ["x", "x", "y", "y"], "end_time": when,
                           "ms_played": [200_000, 200_000, 180_000, 5_000]})  # the last stream of y is a skip
    events.write_csv(tmp_path / "train_events.tsv", separator="\t")
    data = FixedSplit.load(tmp_path).training_data()
    assert data.plays is not None and data.plays["skipped"].to_list() == [False, False, False, True]
    weights = data.index.recency(50.0).toarray()[0]
    # x: one play 100 days before the user's newest (0.25) plus the newest itself (1); y: 50 days (0.5); skips don't count
    assert weights[:2] == pytest.approx([1.25, 0.5]) and weights[2] == 0
    events.head(3).write_csv(tmp_path / "train_events.tsv", separator="\t")  # without the skip: still the train part
    assert FixedSplit.load(tmp_path).plays is not None
    events.slice(1).write_csv(tmp_path / "train_events.tsv", separator="\t")  # one play of x short
    with pytest.raises(ValueError, match="not the train part"):
        FixedSplit.load(tmp_path)


def test_ratings_are_the_confidence_of_their_pairs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pl.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["x", "y", "x"]}).write_csv(tmp_path / "train.tsv", separator="\t")
    for part in ("valid", "test"):
        pl.DataFrame({"user_id": ["u"], "item_id": ["z"]}).write_csv(tmp_path / f"{part}.tsv", separator="\t")
    split = FixedSplit.load(tmp_path)
    ratings = pl.DataFrame({"user_id": ["v", "u", "u"], "item_id": ["x", "y", "x"], "value": [2, 5, 4]})
    assert split.training_data(ratings=ratings).index.confidence().toarray().tolist() == [[4, 5, 0], [2, 0, 0]]
    assert split.training_data().index.confidence().toarray().tolist() == [[np.log(2)] * 2 + [0], [np.log(2), 0, 0]]


def test_a_split_from_frames_shares_the_id_map_and_refuses_ids_outside_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pl.DataFrame({"user_id": ["u", "v"], "item_id": ["x", "y"], "weight": [3, 1]}).write_csv(tmp_path / "train.tsv", separator="\t")
    for part in ("valid", "test"):
        pl.DataFrame({"user_id": ["u"], "item_id": ["z"]}).write_csv(tmp_path / f"{part}.tsv", separator="\t")
    split = FixedSplit.load(tmp_path)
    early = {"train": pl.DataFrame({"user_id": ["u"], "item_id": ["x"], "weight": [2]}),
             "valid": pl.DataFrame({"user_id": ["v"], "item_id": ["y"]}), "test": pl.DataFrame({"user_id": [], "item_id": []},
                                                                                              schema={"user_id": pl.String, "item_id": pl.String})}
    cut = FixedSplit.from_frames("earlier", early, split.users, split.items)
    assert cut.train_weights.toarray().tolist() == [[2, 0, 0], [0, 0, 0]]  # same rows and columns as the split's
    assert cut.matrices["valid"].toarray().tolist() == [[0, 0, 0], [0, 1, 0]] and cut.matrices["test"].nnz == 0
    stranger = {**early, "valid": pl.DataFrame({"user_id": ["w"], "item_id": ["y"]})}
    with pytest.raises(ValueError, match="earlier valid: 1 rows name a user or an item outside"):
        FixedSplit.from_frames("earlier", stranger, split.users, split.items)
