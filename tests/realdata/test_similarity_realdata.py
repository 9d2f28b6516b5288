"""Similarity with support on real data: it beats plain ALS cosine on Last.fm tags, and on the real Spotify
exports no similar artist of a mainstream seed rests on a single shared listener."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.content import hetrec_tag_assignments
from tastemaker.candidates.data import TrainingData
from tastemaker.candidates.similarity import CoListening, Vectors
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.surfaces import lists
from tastemaker.surfaces.similar import similar_artists

pytestmark = pytest.mark.realdata


def test_support_beats_plain_als_cosine_on_lastfm_tag_overlap(shared_data: Path) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    folder = shared_data / "lastfm-hetrec2011-2k"
    plays = pl.read_csv(folder / "user_artists.dat.gz", separator="\t",
                        schema_overrides={"userID": pl.String, "artistID": pl.String}).select(
        pl.col("userID").alias("user_id"), pl.col("artistID").alias("item_id"), pl.col("weight").cast(pl.Float64))
    tags = hetrec_tag_assignments(folder)
    counts = tags.group_by("item_id", "tag").agg(pl.len().alias("n"))
    top = {a: set(t) for a, t in counts.sort(["item_id", "n", "tag"], descending=[False, True, False])
           .group_by("item_id", maintain_order=True).agg(pl.col("tag").head(3)).iter_rows()}
    every = {a: set(t) for a, t in counts.group_by("item_id").agg(pl.col("tag")).iter_rows()}
    tagged = counts.group_by("item_id").agg(pl.col("n").sum(), pl.len().alias("d"))
    eligible = set(tagged.filter((pl.col("n") >= 10) & (pl.col("d") >= 3))["item_id"]) & set(plays["item_id"])
    seeds = sorted(eligible)[::10]  # every tenth by id: a fixed set of several hundred
    als = create("als").fit(TrainingData(plays))
    identity = {a: a for a in plays["item_id"].unique().to_list()}
    vectors = Vectors(als.item_ids, als.item_vectors())

    def shares(similarity: CoListening) -> np.ndarray:
        found = [similar_artists(s, similarity, 10)["artist_id"].to_list() for s in seeds]
        return np.array([sum(bool(top[s] & every.get(a, set())) for a in like) / 10 for s, like in zip(seeds, found)])

    plain = shares(CoListening(shrinkage=0.0, min_shared=0, blend=1.0).fit(plays, identity, vectors))
    supported = shares(CoListening().fit(plays, identity, vectors))
    assert len(seeds) > 300
    assert supported.mean() - plain.mean() > 0


@pytest.fixture(scope="module")
def spotify(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """The 26 account-data exports in a store, with ALS trained on them."""
    from tastemaker.store import open_store

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    store = open_store(tmp_path_factory.mktemp("spotify") / "store")
    run_import(store, FORMATS["spotify-account"], shared_data / "spotify-streaming-history-basic" / "raw")
    return store, create("als").fit(TrainingData.from_store(store))


def test_similar_artists_of_mainstream_seeds_rest_on_several_shared_listeners(spotify: tuple[object, object]) -> None:
    store, als = spotify
    similarity = lists.similarity(store, als)  # type: ignore[arg-type]
    level = similarity.artists_
    mainstream = level.ids[np.argsort(-level.listeners, kind="stable")[:20]].tolist()  # the most listened
    tracks = store.entities("tracks")  # type: ignore[attr-defined]
    named = tracks.filter(pl.col("artist_name").is_in(["AC/DC", "Led Zeppelin", "The Beatles", "Bad Bunny"]))
    seeds = [*mainstream, *named["artist_id"].unique().sort().to_list()]
    assert len(seeds) == 24
    for artist in seeds:
        like = similar_artists(artist, similarity, k=10)
        assert like.height == 10 and (like["basis"] == "co-listeners").all(), artist
        assert (like["shared_listeners"] >= 2).all(), artist
        assert like["score"].is_between(0.0, 1.0).all() and like["score"].is_sorted(descending=True)
    shown = lists.similar(store, als, artist=seeds[-1], k=10)  # type: ignore[arg-type]  # the command's path
    assert shown["shared_listeners"].min() >= 2 and shown["reason"].str.contains(" listeners of ").all()
