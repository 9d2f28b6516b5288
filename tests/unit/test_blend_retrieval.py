"""The pipeline's blend retrieved (ranking/retrieval.py) gives the items the full scoring gives, in order."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.features.interactions import interactions
from tastemaker.ranking.residual import scored_pool
from tastemaker.ranking.retrieval import BlendRetriever
from tastemaker.simulate import World, WorldConfig


@pytest.fixture(scope="module")
def pipeline() -> tuple[object, TrainingData]:
    world = World(WorldConfig(n_users=300, n_tracks=3000, days=21, seed=5))
    events = pl.from_arrow(pa.concat_tables(world.generate_events())).with_columns(count=pl.lit(1))
    data = TrainingData(interactions(events.lazy()), plays=None)
    pipe = create("pipeline", only=["history", "itemknn", "als", "artist"], max_grid=1, folds=2, ranker=False,
                  candidates=50).fit(data)
    pipe.members_ = dict(pipe.tried_)  # every member it tried, whatever blend it chose: the tests set weights
    pipe.weights_, pipe.fusion_ = [1.0] * len(pipe.members_), "zscore"
    return pipe, data


@pytest.mark.parametrize("weights", [[1.0, 1.0, 1.0, 1.0], [1.0, 0.5, 2.0, 0.25], [0.0, 0.0, 0.0, 1.0],
                                     [3.0, 1.0, 0.1, 1.0]])
def test_retrieved_top_items_are_the_full_blends(pipeline: tuple, weights: list[float]) -> None:
    pipe, data = pipeline
    assert "als" in pipe.members_ and len(pipe.members_) == len(weights)
    pipe.weights_ = weights  # the rule must hold for any blend with no negative weight
    retriever = BlendRetriever.of(pipe)
    assert retriever is not None
    heard = data.interactions.select("user_id", "item_id")
    for user in pipe.users_[::15][:20].tolist():
        row = int(np.searchsorted(pipe.users_, user))
        mine = heard.filter(pl.col("user_id") == user)["item_id"].to_numpy()
        blocked = np.searchsorted(pipe.items_, mine)
        _, blend = scored_pool(pipe.hybrid(), dict(zip(pipe.members_, pipe.hybrid().models, strict=True)),
                               np.array([row]), pipe.X_, [blocked], 50, described=False)
        best = np.sort(blend[0])[::-1][:20]  # the full blend's 20 best values, heard items at -inf
        got, scores = retriever.top(row, blocked, k=20)
        # the same items up to float rounding: each place holds an item of the full blend's value there
        assert np.allclose(blend[0][got], best, rtol=0, atol=1e-6), user
        assert np.allclose(scores, best, rtol=0, atol=1e-6)
        assert not set(got.tolist()) & set(blocked.tolist()) and np.all(np.diff(scores) <= 1e-12)
        listed = pipe.recommend([user], k=20, exclude=heard.filter(pl.col("user_id") == user))
        assert listed["item_id"].to_list() == pipe.items_[got].tolist()  # the command lists what the server serves


def test_a_pipeline_with_a_ranker_or_rank_fusion_is_not_retrieved(pipeline: tuple) -> None:
    pipe, _ = pipeline
    fused = pipe.blend_only()
    fused.fusion_ = "rrf"
    assert BlendRetriever.of(fused) is None
    negative = pipe.blend_only()
    negative.fusion_, negative.weights_ = "zscore", [-1.0] + [1.0] * (len(pipe.members_) - 1)
    assert BlendRetriever.of(negative) is None
