"""ItemIndex: exact below the size threshold, HNSW above; recall against exact, exclusions, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.candidates.ann import EXACT_BELOW, ItemIndex
from tastemaker.errors import NotFittedError


def _vectors(n: int, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item ids, item vectors with heavy-tailed norms (as ALS items have) and 50 query vectors."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(n, d))
    norms = rng.lognormal(0.0, 1.0, size=(n, 1))
    items = (directions / np.linalg.norm(directions, axis=1, keepdims=True) * norms).astype(np.float32)
    ids = np.array([f"tr:{i:05d}" for i in range(n)])
    return ids, items, rng.normal(size=(50, d)).astype(np.float32)


def _brute(items: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    scores = queries @ items.T
    return [list(np.argsort(-row, kind="stable")[:k]) for row in scores]


def _lists(found: pl.DataFrame) -> list[list[str]]:
    ordered = found.sort("query", "rank")
    return [g["item_id"].to_list() for _, g in ordered.group_by("query", maintain_order=True)]


def _approximate(ids: np.ndarray, items: np.ndarray) -> ItemIndex:
    index = ItemIndex(exact_below=0, m=32, ef_construction=100, ef_search=100, build_threads=1)
    return index.build(ids, items)


def test_a_small_catalog_is_scored_exactly() -> None:
    ids, items, queries = _vectors(500)
    index = ItemIndex().build(ids, items)
    assert index.exact and len(ids) < EXACT_BELOW
    found = index.search(queries, k=10)
    assert found.columns == ["query", "item_id", "score", "rank"]
    assert _lists(found) == [list(ids[row]) for row in _brute(items, queries, 10)]
    first = found.filter(pl.col("query") == 0)
    assert np.allclose(first["score"].to_numpy(), np.sort(queries[0] @ items.T)[::-1][:10], rtol=1e-5)
    assert first["rank"].to_list() == list(range(1, 11))


def test_the_exact_path_stops_early_on_the_norm_bound_and_still_returns_the_exact_top() -> None:
    ids, items, queries = _vectors(20_000, seed=3)  # several blocks of the descending-norm scan
    index = ItemIndex().build(ids, items)
    heard = [set(ids[row][:30]) for row in _brute(items, queries, 30)]  # the best 30 of each, excluded
    found = _lists(index.search(queries, k=100, exclude=heard))
    scores = queries @ items.T
    for row, (got, banned) in enumerate(zip(found, heard, strict=True)):
        allowed = [i for i in np.argsort(-scores[row], kind="stable") if ids[i] not in banned]
        assert got == list(ids[allowed[:100]])


def test_a_large_catalog_goes_through_the_graph_and_finds_most_of_the_exact_top() -> None:
    ids, items, queries = _vectors(4000)
    index = _approximate(ids, items)
    assert not index.exact
    found = _lists(index.search(queries, k=20))
    truth = [set(ids[row]) for row in _brute(items, queries, 20)]
    recall = np.mean([len(set(f) & t) / 20 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.9
    scores = index.search(queries[:1], k=5)
    exact = {i: float(queries[0] @ items[int(i[3:])]) for i in scores["item_id"]}
    expected = [exact[i] for i in scores["item_id"]]
    assert np.allclose(scores["score"].to_numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("exact_below", [EXACT_BELOW, 0])
def test_excluded_items_never_come_back_and_the_next_best_take_their_place(exact_below: int) -> None:
    ids, items, queries = _vectors(3000)
    index = ItemIndex(exact_below=exact_below, m=32, build_threads=1).build(ids, items)
    plain = _lists(index.search(queries[:2], k=10))
    banned = [set(plain[0][:5]) | {"not-in-the-catalog"}, set()]
    found = _lists(index.search(queries[:2], k=10, exclude=banned))
    assert not set(found[0]) & banned[0] and len(found[0]) == 10
    assert found[0][:5] == plain[0][5:]  # what was ranked 6th to 10th moves up
    assert found[1] == plain[1]


@pytest.mark.parametrize("exact_below", [EXACT_BELOW, 0])
def test_save_and_load_answer_the_same(tmp_path: Path, exact_below: int) -> None:
    ids, items, queries = _vectors(2000)
    index = ItemIndex(exact_below=exact_below, m=16, build_threads=1).build(ids, items)
    index.save(tmp_path / "index")
    again = ItemIndex.load(tmp_path / "index")
    assert again.exact == index.exact and again.m == 16
    before = index.search(queries, k=15, exclude=[{ids[0]}] * len(queries))
    after = again.search(queries, k=15, exclude=[{ids[0]}] * len(queries))
    assert before["item_id"].to_list() == after["item_id"].to_list()
    assert np.allclose(before["score"].to_numpy(), after["score"].to_numpy())


def test_cosine_scores_are_cosines_and_k_beyond_the_catalog_returns_it_all() -> None:
    ids, items, queries = _vectors(50)
    found = ItemIndex("cosine").build(ids, items).search(queries[0], k=80, exclude=[{ids[1]}])
    assert found.height == 49 and ids[1] not in found["item_id"].to_list()
    unit = items / np.linalg.norm(items, axis=1, keepdims=True)
    cosines = unit @ (queries[0] / np.linalg.norm(queries[0]))
    assert np.isclose(found["score"][0], cosines.max(), rtol=1e-5)
    wide = _approximate(ids, items).search(queries[:1], k=45, exclude=[{ids[1]}])  # wider than half: scanned
    assert wide.height == 45 and ids[1] not in wide["item_id"].to_list()


def test_caller_mistakes_are_named() -> None:
    ids, items, queries = _vectors(20)
    with pytest.raises(NotFittedError):
        ItemIndex().search(queries, k=5)
    with pytest.raises(ValueError, match="metric"):
        ItemIndex("l1").build(ids, items)
    with pytest.raises(ValueError, match="one id per row"):
        ItemIndex().build(ids[:-1], items)
    with pytest.raises(ValueError, match="distinct"):
        ItemIndex().build(np.array(["a"] * 20), items)
    index = ItemIndex().build(ids, items)
    with pytest.raises(ValueError, match="16 columns"):
        index.search(queries[:, :8], k=5)
    with pytest.raises(ValueError, match="k must be"):
        index.search(queries, k=0)
    with pytest.raises(ValueError, match="one per query row"):
        index.search(queries, k=5, exclude=[set()])
