"""Split protocols on a small generated world: time order, disjointness, discovery targets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tastemaker.evaluation.fixed_split import FixedSplit
from tastemaker.evaluation.protocols import make_split, write_split
from tastemaker.features.interactions import listens
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.simulate import World, WorldConfig, write_world


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> pl.LazyFrame:
    from tastemaker.store import open_store

    root = tmp_path_factory.mktemp("protocols")
    write_world(World(WorldConfig(seed=5, n_users=120, n_tracks=1_500, days=30)), root / "world", "parquet")
    store = open_store(root / "store")
    run_import(store, FORMATS["table"], root / "world")
    return pl.scan_parquet(store.segments("events"))


def _pairs(frame: pl.DataFrame) -> set[tuple[str, str]]:
    return set(frame.select("user_id", "item_id").iter_rows())


def test_random_split_partitions_each_users_items_about_80_10_10(events: pl.LazyFrame) -> None:
    parts = make_split(events, "random", seed=1)
    train, valid, test = (_pairs(parts[p]) for p in ("train", "valid", "test"))
    assert not (train & valid or train & test or valid & test)
    total = len(train) + len(valid) + len(test)
    assert 0.75 < len(train) / total < 0.85 and 0.05 < len(test) / total < 0.15
    assert make_split(events, "random", seed=1)["test"].equals(parts["test"])


@pytest.mark.parametrize("protocol", ["temporal-global", "temporal-user"])
def test_temporal_discovery_targets_are_new_and_come_after_training(events: pl.LazyFrame, protocol: str) -> None:
    parts = make_split(events, protocol, discovery=True)
    train = _pairs(parts["train"])
    assert not _pairs(parts["test"]) & (train | _pairs(parts["valid"]))
    first = listens(events).collect().group_by("user_id", "item_id").agg(pl.col("ts").min().alias("first"))
    newest_train = parts["train"].join(first, on=["user_id", "item_id"]).group_by("user_id").agg(pl.col("first").max())
    oldest_test = parts["test"].join(first, on=["user_id", "item_id"]).group_by("user_id").agg(pl.col("first").min())
    both = newest_train.join(oldest_test, on="user_id", suffix="_test")
    assert both.height > 10 and (both["first"] < both["first_test"]).all()  # nothing from the future in train
    familiar = make_split(events, protocol, discovery=False)
    assert familiar["test"].height > parts["test"].height  # re-listening counts in the familiar protocol


def test_a_written_split_reads_back_as_a_fixed_split(events: pl.LazyFrame, tmp_path: Path) -> None:
    counts = write_split(make_split(events, "temporal-user"), tmp_path / "s", {"protocol": "temporal-user"})
    split = FixedSplit.load(tmp_path / "s")
    assert [split.matrices[p].nnz for p in ("train", "valid", "test")] == [counts["train"], counts["valid"], counts["test"]]
    with pytest.raises(ValueError, match="known: random"):
        make_split(events, "leave-one-out")
