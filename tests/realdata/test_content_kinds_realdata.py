"""Content kinds on the shared exports: the hand-labelled sample's podcasts stay off music, the podcast class
meets its targets, and every listener's Discover Weekly from a model trained on the import is music only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.domain import NOT_MUSIC
from tastemaker.features.interactions import heard
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import track_ids
from tastemaker.ingest.kind_signals import show_key
from tastemaker.store import open_store
from tastemaker.surfaces.discover_weekly import discover_weekly_batch

pytestmark = pytest.mark.realdata

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "content_kinds_sample.csv"


@pytest.fixture(scope="module")
def imported(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A store holding podcast-metadata, the 26 account-data exports and the 2 extended exports."""
    store = open_store(tmp_path_factory.mktemp("kinds") / "store")
    run_import(store, FORMATS["podcasts"], shared_data / "podcast-metadata")
    run_import(store, FORMATS["spotify-account"], shared_data / "spotify-streaming-history-basic" / "raw")
    extended = shared_data / "spotify-extended-streaming-history-sample" / "raw"
    run_import(store, FORMATS["spotify-extended"], extended)
    return store


def _decided(store: Any) -> pl.DataFrame:
    """The sample with each row's stored ``content_kind`` (episodes of the extended export: podcast)."""
    sample = pl.read_csv(SAMPLE)
    tracks = store.entities("tracks").select(pl.col("track_id").alias("item_id"), "content_kind")
    shows = store.entities("shows").select("show_id", pl.col("name").alias("artist"))
    episodes = (store.entities("episodes").join(shows, on="show_id")
                .select("artist", pl.col("name").alias("title"), pl.lit("podcast").alias("episode_kind")))
    rows = (sample.with_columns(track_ids(sample["artist"], sample["title"]).alias("item_id"))
            .join(tracks, on="item_id", how="left")
            .join(episodes.unique(["artist", "title"]), on=["artist", "title"], how="left")
            .with_columns(pl.coalesce("content_kind", "episode_kind").alias("content_kind")))
    assert rows["content_kind"].null_count() == 0, rows.filter(pl.col("content_kind").is_null()).head(3)
    return rows


def test_no_podcast_of_the_labelled_sample_is_decided_music(imported: Any) -> None:
    rows = _decided(imported)
    podcasts = rows.filter(pl.col("label") == "podcast")
    assert podcasts.height >= 200
    missed = podcasts.filter(pl.col("content_kind") == "music")
    assert missed.is_empty(), missed.select("artist", "title").rows()


def test_the_podcast_class_meets_its_precision_and_recall_targets(imported: Any) -> None:
    rows = _decided(imported)
    truth, said = rows["label"] == "podcast", rows["content_kind"] == "podcast"
    precision = (truth & said).sum() / said.sum()
    recall = (truth & said).sum() / truth.sum()
    assert precision >= 0.95 and recall >= 0.90, (precision, recall)


def test_discover_weekly_of_every_listener_is_music_only(imported: Any, shared_data: Path) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    store = imported
    model = create("artist").fit(TrainingData.from_store(store))
    played = heard(store.events()).collect()
    users = played["user_id"].unique().sort().to_list()
    tracks = store.entities("tracks")
    lists = discover_weekly_batch(model, users, played, tracks, size=30)
    assert len(users) == 28 and lists["user_id"].n_unique() == 28
    kinds = lists.join(tracks.select(pl.col("track_id"), "content_kind", "artist_name"), on="track_id", how="left")
    assert kinds.filter(pl.col("content_kind").is_in(sorted(NOT_MUSIC))).is_empty()
    sample = pl.read_csv(SAMPLE)
    podcasts = sample.filter(pl.col("label") == "podcast")
    assert set(track_ids(podcasts["artist"], podcasts["title"]).to_list()).isdisjoint(lists["track_id"].to_list())
    # no track of a show of podcast-metadata, but for the bands that share a show's name (labelled music)
    metadata = shared_data / "podcast-metadata"
    shows = pl.concat([pl.read_csv(metadata / file, columns=[column]).rename({column: "name"})
                       for file, column in (("spotify_podcast_shows_by_category.csv", "Podcast_Name"),
                                            ("spotify_podcast_episodes_sample.csv", "Podcast Name"))])
    shows = shows.select(show_key(pl.col("name")).alias("key"))
    collisions = sample.filter(pl.col("label_from").str.contains("a show of the same name is in podcast-metadata"))
    allowed = set(collisions.select(show_key(pl.col("artist")))["artist"].to_list())
    from_shows = kinds.with_columns(show_key(pl.col("artist_name")).alias("key")).join(shows.unique(), on="key")
    assert set(from_shows["key"].to_list()) <= allowed, from_shows.select("artist_name", "name").rows()[:5]

