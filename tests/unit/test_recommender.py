"""Matrix models behind external ids: recommend, exclude, cold users, save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.recommender import MatrixRecommender
from tastemaker.candidates.data import TrainingData
from tastemaker.errors import NotFittedError


def _interactions() -> pl.DataFrame:
    rows = [(f"a{u}", f"x{i}") for u in range(6) for i in range(3)] + [(f"b{u}", f"y{i}") for u in range(6) for i in range(3)]
    rows += [("new-ish", "x0"), ("new-ish", "x1")]
    return pl.DataFrame({"user_id": [u for u, _ in rows], "item_id": [i for _, i in rows], "weight": [1.0] * len(rows)})


@pytest.mark.parametrize(("name", "params"), [("ease", {"l2": 1.0}), ("itemknn", {"k": 5}),
                                              ("rp3beta", {"alpha": 1.0, "beta": 0.0, "k": 5}),
                                              ("slim", {"alpha": 0.01, "l1_ratio": 0.1}),
                                              ("als", {"factors": 4, "regularization": 0.01, "alpha": 10.0, "iterations": 30})])
def test_the_missing_cluster_item_comes_first_and_survives_save_load(tmp_path: Path, name: str, params: dict) -> None:  # type: ignore[type-arg]
    data = _interactions()
    model = create(name, **params).fit(TrainingData(data))
    heard = data.filter(pl.col("user_id") == "new-ish").select("user_id", "item_id")
    recs = model.recommend(["new-ish"], k=2, exclude=heard)
    assert recs["item_id"][0] == "x2" and not set(recs["item_id"]) & {"x0", "x1"}
    model.save(tmp_path / name)
    again = MatrixRecommender.load(tmp_path / name).recommend(["new-ish"], k=2, exclude=heard)
    assert again["item_id"].to_list() == recs["item_id"].to_list()
    assert np.allclose(again["score"].to_numpy(), recs["score"].to_numpy())


def test_a_user_never_seen_gets_popular_items_and_unknown_models_are_named() -> None:
    model = create("als", factors=4).fit(TrainingData(_interactions()))
    recs = model.recommend(["stranger"], k=3)
    assert recs.height == 3 and recs["item_id"][0] in {"x0", "x1"}  # played by 7 listeners, the most
    with pytest.raises(ValueError, match="known: .*als"):
        create("neumf")
    with pytest.raises(NotFittedError):
        create("ease").recommend(["a0"])


def test_exclusions_apply_to_every_request_row_even_repeated_users() -> None:
    model = create("ease", l2=1.0).fit(TrainingData(_interactions()))
    exclude = pl.DataFrame({"user_id": ["a0", "a0"], "item_id": ["x0", "x1"]})
    recs = model.recommend(["b0", "a0", "a0"], k=3, exclude=exclude)
    for_a0 = recs.filter(pl.col("user_id") == "a0")
    assert for_a0.height == 6 and not set(for_a0["item_id"]) & {"x0", "x1"}
    alone = model.recommend(["b0"], k=3)  # another user's exclusions leave b0's list as it was
    assert recs.filter(pl.col("user_id") == "b0")["item_id"].to_list() == alone["item_id"].to_list()


@pytest.mark.parametrize(("name", "params"), [
    ("ease", {"l2": 1.0}), ("itemknn", {"k": 5}), ("history", {}), ("bpr", {"factors": 4, "iterations": 200}),
    ("rp3beta", {"alpha": 1.0, "beta": 0.0, "k": 5}), ("slim", {"alpha": 0.01, "l1_ratio": 0.1}),
    ("als", {"factors": 4, "regularization": 0.01, "alpha": 10.0, "iterations": 30})])
def test_similar_items_stay_in_the_co_listened_cluster_and_survive_save_load(tmp_path: Path, name: str,
                                                                             params: dict) -> None:  # type: ignore[type-arg]
    model = create(name, **params).fit(TrainingData(_interactions()))
    like = model.similar_items("x0", k=2)
    assert set(like["item_id"]) == {"x1", "x2"} and like["rank"].to_list() == [1, 2]
    assert like["score"].is_sorted(descending=True)
    model.save(tmp_path / name)
    assert MatrixRecommender.load(tmp_path / name).similar_items("x0", k=2).equals(like)
    assert model.similar_items("never-heard", k=3).is_empty()
    with pytest.raises(ValueError, match="k must be"):
        model.similar_items("x0", k=0)
