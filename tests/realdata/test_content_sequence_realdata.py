"""Content and next-track models on real data beat popularity measured the same way.

Full numbers and the protocol behind them: ``bench/content_lastfm2k.py`` and ``bench/next_track.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.candidates.content import ContentModel, hetrec_tag_assignments, tag_vectors
from tastemaker.evaluation.fixed_split import FixedSplit, ItemPopularity, evaluate_model

pytestmark = pytest.mark.realdata


def test_lastfm2k_tag_model_beats_popularity_on_test(shared_data: Path) -> None:
    split = FixedSplit.load(shared_data / "benchmarks" / "lastfm2k")
    X = split.matrices["train"]
    # a listener's own tag on a held-out artist would reveal that pair: such assignments are dropped
    held_out = pl.concat([split.frames[p].select("user_id", "item_id") for p in ("valid", "test")])
    tags = hetrec_tag_assignments(shared_data / "lastfm-hetrec2011-2k").join(held_out, on=["user_id", "item_id"],
                                                                        how="anti")
    model = ContentModel(tag_vectors(split.items.to_list(), tags, max_tags=256)).fit(X)
    content = evaluate_model(split, model, "test", (10,))["ndcg@10"]
    popular = evaluate_model(split, ItemPopularity().fit(X), "test", (10,))["ndcg@10"]
    assert popular == pytest.approx(0.0654, abs=1e-3)  # the peers' popularity number: same protocol
    assert content > popular * 1.5, (content, popular)


def test_item2vec_predicts_the_next_spotify_track_better_than_popularity(shared_data: Path) -> None:
    pytest.importorskip("gensim", reason="the sequence extra is not installed (pip install 'tastemaker[sequence]')")
    from tastemaker.candidates.sequence import Item2Vec

    raw = pl.read_csv(shared_data / "spotify-extended-streaming-history-sample" / "events.csv.gz",
                      infer_schema_length=0)
    plays = (raw.filter(pl.col("spotify_track_uri").is_not_null() & (pl.col("ms_played").cast(pl.Int64) >= 30_000))
             .select("user_id", pl.col("spotify_track_uri").alias("item_id"),
                     pl.col("ts").str.to_datetime(time_zone="UTC"))
             .with_row_index("order").sort("user_id", "ts", "order"))
    span = (pl.col("ts") - pl.col("ts").min().over("user_id")).dt.total_seconds()
    plays = plays.with_columns((span < 0.8 * span.max().over("user_id")).alias("train"),
                               pl.int_range(pl.len()).over("user_id").alias("pos"))
    model = Item2Vec(window=3, random_state=0).fit_plays(plays.filter("train"))
    history = dict(plays.group_by("user_id").agg("item_id").iter_rows())
    test = plays.filter(~pl.col("train") & (pl.col("pos") >= 5))
    contexts = [history[u][p - 5:p] for u, p in test.select("user_id", "pos").iter_rows()]
    popular = np.argsort(-model.counts_, kind="stable")
    hits = {"item2vec": 0, "popular": 0}
    for context, target in zip(contexts, test["item_id"].to_list(), strict=True):
        excluded = set(context)
        ranked = model.next_items(context, k=10, exclude=excluded)["item_id"].to_list()
        hits["item2vec"] += target in ranked
        hits["popular"] += target in [i for i in model.item_ids_[popular[:15]] if i not in excluded][:10]
    assert len(contexts) > 5_000
    assert hits["item2vec"] > 2 * hits["popular"], hits
