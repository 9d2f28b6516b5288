"""Episodes for you on real data: similar shows share a category, played episodes never come back.

Measured on the podcast metadata (2,430 shows with a parent category, 8 parent categories):
the share of a show's 5 most similar shows that are in its parent category, against the share a
random pick would have. The text encoder needs the content extra and runs on a stratified
sample (30 shows per parent category), since embedding all shows takes minutes on a small CPU.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.store import open_store
from tastemaker.surfaces.podcasts import EpisodeRecommender, content_extra_available

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def catalog(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(shows, episodes)`` as the podcasts importer stores them."""
    store = open_store(tmp_path_factory.mktemp("podcasts") / "store")
    run_import(store, FORMATS["podcasts"], shared_data / "podcast-metadata")
    return store.entities("shows"), store.entities("episodes")


def _same_category(model: EpisodeRecommender, shows: pl.DataFrame, k: int = 5) -> tuple[float, float]:
    """(share of each show's ``k`` nearest categorised shows in its parent category, the chance rate)."""
    parent = dict(shows.filter(pl.col("parent_category").is_not_null())
                  .select("show_id", "parent_category").iter_rows())
    hits = total = 0
    for show_id, category in parent.items():
        near = [s for s in model.similar_shows(show_id, k=2 * k)["show_id"].to_list() if s in parent][:k]
        hits += sum(parent[s] == category for s in near)
        total += len(near)
    sizes = pl.Series(list(parent.values())).value_counts()["count"].to_numpy()
    chance = float((sizes * (sizes - 1)).sum() / (len(parent) * (len(parent) - 1)))
    assert total > 0.95 * k * len(parent)  # nearly every show has k categorised neighbours
    return hits / total, chance


def test_word_neighbours_share_the_parent_category_far_above_chance(
        catalog: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    shows, episodes = catalog
    no_events = pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String})
    # the category is left out of the text, so the score measures what names and descriptions say
    model = EpisodeRecommender("words", text_columns=["name", "description"]).fit(no_events, episodes, shows)
    assert model.encoder_ == "words"
    precision, chance = _same_category(model, shows)
    assert chance == pytest.approx(0.187, abs=0.005)
    assert precision > 0.6 and precision > 3 * chance, (precision, chance)  # measured: 0.751 vs 0.187


@pytest.mark.slow
def test_text_neighbours_share_the_parent_category_far_above_chance(
        catalog: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    if not content_extra_available():
        pytest.skip("the content extra is not installed: "
                    "pip install torch==2.13.0 && pip install 'tastemaker[content]'")
    shows, episodes = catalog
    sample = (shows.filter(pl.col("parent_category").is_not_null()).sort("show_id")
              .filter(pl.int_range(pl.len()).over("parent_category") < 30)
              .with_columns(pl.col("description").str.slice(0, 300)))  # 240 shows, short texts: seconds
    no_events = pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String})
    columns = ["name", "description"]
    text = EpisodeRecommender("text", text_columns=columns).fit(no_events, episodes, sample)
    assert text.encoder_ == "text"
    precision, chance = _same_category(text, sample)
    words_model = EpisodeRecommender("words", text_columns=columns).fit(no_events, episodes, sample)
    words, _ = _same_category(words_model, sample)
    assert chance == pytest.approx(29 / 239)
    # measured: text 0.609, words 0.537, chance 0.121 (all 2,430 shows: text 0.815, words 0.751)
    assert precision > 3 * chance and precision > words, (precision, words, chance)


def test_spotify_listeners_never_get_a_played_episode_back(shared_data: Path, tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    run_import(store, FORMATS["spotify-extended"],
               shared_data / "spotify-extended-streaming-history-sample" / "events.csv.gz")
    run_import(store, FORMATS["podcasts"], shared_data / "podcast-metadata")
    events = store.scan("events").collect()
    shows, episodes = store.entities("shows"), store.entities("episodes")
    listens = events.filter(pl.col("item_kind") == "episode").sort("user_id", "ts", "row_id")
    assert listens["user_id"].value_counts().sort("user_id")["count"].to_list() == [49, 15]
    # fit on each listener's first 70% of episode plays: what they played later is still unplayed
    early = listens.filter(pl.int_range(pl.len()).over("user_id") < 0.7 * pl.len().over("user_id"))
    model = EpisodeRecommender("words").fit(early, episodes, shows)
    shelf = model.recommend(["e01", "e02"], k=20)
    assert shelf.group_by("user_id").len().sort("user_id")["len"].to_list() == [20, 20]
    played = set(early.select("user_id", "item_id").iter_rows())
    assert not played & set(shelf.select("user_id", "episode_id").iter_rows())
    own = set(early.join(episodes, left_on="item_id", right_on="episode_id")
              .select("user_id", "show_id").iter_rows())
    new = shelf.filter(pl.col("reason").str.starts_with("new episode of"))
    assert set(new.select("user_id", "show_id").iter_rows()) <= own
    assert not own & set(shelf.filter(~pl.col("reason").str.starts_with("new episode of"))
                         .select("user_id", "show_id").iter_rows())
    # e01 played more Rotten Mango after the cut: those episodes come back as new ones, and are
    # episodes e01 did go on to play
    later = set(listens.join(early, on="row_id", how="anti").filter(pl.col("user_id") == "e01")["item_id"])
    mango = new.filter(pl.col("user_id") == "e01", pl.col("show_name") == "Rotten Mango")
    assert mango.height == 2 and set(mango["episode_id"]) <= later
    # with the whole history, nothing a listener played is on their shelf
    everything = EpisodeRecommender("words").fit(events, episodes, shows).recommend(["e01", "e02"], k=50)
    all_played = set(listens.select("user_id", "item_id").iter_rows())
    assert everything.height == 100
    assert not all_played & set(everything.select("user_id", "episode_id").iter_rows())
