"""Top-k items by inner product over a model's item vectors: exact for small catalogs, HNSW above.

Below :data:`EXACT_BELOW` items every item is scored, in descending norm with an early stop that
keeps the answer exact (see ``ItemIndex._exact``). From there on the search goes through an HNSW
graph built by ``hnswlib`` in its native inner-product space, with many links per node (``m=48``):
our ALS vectors fill most of their 64 dimensions and their norms are heavy-tailed, which is where
fewer links, the IVF lists of FAISS and the "equal norms" transform to Euclidean search (what
Voyager does for inner product) lose most of the true top 100. The numbers and the choice are in
``docs/benchmarks.md`` (Approximate nearest neighbours) and ``docs/retrieval.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from tastemaker.errors import MissingDependencyError, NotFittedError

#: Catalogs with fewer items than this are scored exactly. Set by the exact scan's worst case, equal
#: norms (cosine), where it scores every item: 1.1 ms a query at 50k items and 62 ms at 1M in
#: bench/ann.py (linear, so ~12 ms at 200k on that loaded 2-core machine, half the 25 ms budget of
#: a request), while hnswlib's graph stays under 1 ms at 1M. On ALS vectors the scan stops early
#: (0.46 ms at 1M, recall 1.0): for such a model pass a larger ``exact_below`` (docs/retrieval.md).
EXACT_BELOW = 200_000
METRICS = ("ip", "cosine")
#: queries scored per matrix product on the exact path (256 × 200k float32 scores is 200 MB)
CHUNK = 256
#: items scored in the first block of the exact path (each next block doubles)
FIRST_BLOCK = 4096
INSTALL = "pip install hnswlib"


class ItemIndex:
    """Nearest items of query vectors by inner product (``metric="ip"``) or cosine, with exclusions.

    ``exact_below``: catalogs smaller than this are scored exactly; ``m``, ``ef_construction``:
    the HNSW graph's links per node and build-time beam; ``ef_search``: the search beam (raised
    to what a query asks for when that is more); ``build_threads``: threads for building the graph
    (``None``: every core). A search runs on one thread: a server answers each request on one core.

    >>> index = ItemIndex().build(model.items_, model.item_vectors())  # doctest: +SKIP
    >>> index.search(user_vectors, k=100, exclude=[{"tr:1", "tr:2"}])  # doctest: +SKIP
    shape: (100, 4): query, item_id, score, rank
    """

    def __init__(self, metric: str = "ip", *, exact_below: int = EXACT_BELOW, m: int = 48,
                 ef_construction: int = 100, ef_search: int = 200, build_threads: int | None = None,
                 random_state: int = 0) -> None:
        self.metric = metric
        self.exact_below = exact_below
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.build_threads = build_threads
        self.random_state = random_state

    # ------------------------------------------------------------------ build
    def build(self, item_ids: Sequence[str] | np.ndarray, vectors: np.ndarray) -> Self:
        """Index ``vectors`` (one row per item of ``item_ids``, which must be distinct).

        Raises ``ValueError`` for a metric not in :data:`METRICS`, vectors that are not a finite
        2-D array, or ids that do not match them one to one.
        """
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        ids = np.asarray(item_ids).astype(str)
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"vectors must be a non-empty 2-D array (items × dimensions), "
                             f"got shape {x.shape}")
        if ids.shape != (x.shape[0],):
            raise ValueError(f"item_ids has {ids.size} ids for {x.shape[0]} vectors: give one id per row")
        if not np.isfinite(x).all():
            raise ValueError("vectors hold NaN or infinite values")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("item_ids must be distinct")
        x = self._normed(x)
        if len(ids) < self.exact_below:
            by_norm = np.argsort(-np.linalg.norm(x, axis=1), kind="stable")  # see _exact
            ids, x = ids[by_norm], x[by_norm]
            self.vectors_: np.ndarray | None = np.ascontiguousarray(x)
            self.graph_: Any = None
            self.source_: np.ndarray = by_norm
        else:
            self.vectors_, self.graph_ = None, self._graph(x)
            self.source_ = np.arange(len(ids))
        self._id_map(ids)
        return self

    def _id_map(self, ids: np.ndarray) -> None:
        self.inside_ = np.empty(len(ids), dtype=np.int64)  # row given to build -> stored position
        self.inside_[self.source_] = np.arange(len(ids))
        self.ids_, self.order_ = ids, np.argsort(ids, kind="stable")
        self.sorted_ids_ = ids[self.order_]
        self.norms_ = None if self.vectors_ is None else np.linalg.norm(self.vectors_, axis=1)

    @property
    def exact(self) -> bool:
        """Whether searches are exact (the catalog is smaller than ``exact_below``), not through the graph."""
        self._check()
        return self.graph_ is None

    def _graph(self, x: np.ndarray) -> Any:
        index = _hnswlib().Index(space="ip", dim=x.shape[1])
        index.init_index(max_elements=len(x), ef_construction=self.ef_construction, M=self.m,
                         random_seed=self.random_state)
        index.add_items(x, np.arange(len(x)), num_threads=self.build_threads or os.cpu_count() or 1)
        index.set_ef(self.ef_search)
        return index

    def _normed(self, x: np.ndarray) -> np.ndarray:
        if self.metric == "ip":
            return x
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    # ------------------------------------------------------------------ search
    def search(self, query_vectors: np.ndarray, k: int,
               exclude: Sequence[Collection[str]] | None = None) -> pl.DataFrame:
        """The ``k`` best items of each query row as ``query, item_id, score, rank``.

        ``query`` is the row of ``query_vectors``; ``score`` its inner product (cosine for
        ``metric="cosine"``) with the item; ``rank`` counts from 1. ``exclude``: one collection of
        item ids per query row, never returned for that row (ids the index does not hold are
        ignored). A row gets fewer than ``k`` items only when the catalog minus its exclusions is
        smaller than ``k``.
        """
        self._check()
        q = np.asarray(query_vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        dim = self.vectors_.shape[1] if self.vectors_ is not None else self.graph_.dim
        if q.ndim != 2 or q.shape[1] != dim:
            raise ValueError(f"query_vectors must have {dim} columns (the item vectors'), "
                             f"got shape {q.shape}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if exclude is not None and len(exclude) != len(q):
            raise ValueError(f"exclude has {len(exclude)} collections for {len(q)} queries: "
                             "give one per query row")
        q = self._normed(q)
        banned = self._positions(exclude or [()] * len(q))
        search = self._exact if self.graph_ is None else self._approximate
        parts = [search(q[lo:lo + CHUNK], k, banned[lo:lo + CHUNK], lo) for lo in range(0, len(q), CHUNK)]
        rows, cols, scores = (np.concatenate(p) for p in zip(*parts, strict=True))
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.empty(0, np.int64)
        rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)])) + 1
        return pl.DataFrame({"query": rows.astype(np.int64), "item_id": self.ids_[cols],
                             "score": scores.astype(np.float64), "rank": rank.astype(np.int64)})

    def search_rows(self, query: np.ndarray, k: int, exclude_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One query's ``k`` best items as rows of the vectors given to :meth:`build`, and their scores.

        The serving path's call: no ids, no frame. ``exclude_rows``: rows never returned.
        """
        self._check()
        q = self._normed(np.asarray(query, dtype=np.float32).reshape(1, -1))
        banned = [self.inside_[np.asarray(exclude_rows, dtype=np.int64)]]
        search = self._exact if self.graph_ is None else self._approximate
        _, cols, scores = search(q, k, banned, 0)
        return self.source_[cols], scores

    def _positions(self, exclude: Sequence[Collection[str]]) -> list[np.ndarray]:
        """Each query's excluded ids as item positions (unknown ids dropped)."""
        known = self.sorted_ids_
        out = []
        for ids in exclude:
            wanted = np.asarray(list(ids), dtype=str)
            at = np.minimum(np.searchsorted(known, wanted), len(known) - 1)
            out.append(self.order_[at[known[at] == wanted]])
        return out

    def _exact(self, q: np.ndarray, k: int, banned: list[np.ndarray], first: int,
               vectors: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Score items in blocks of descending norm; a query stops once no item left can enter its top.

        Cauchy–Schwarz: an unscored item scores at most ``‖q‖ · ‖x‖``, and the items are stored by
        descending norm, so when a query's k-th best beats ``‖q‖`` times the next norm its answer is
        final. ALS norms are heavy-tailed, so most queries stop within the first blocks (0.25 ms
        for 1M items in bench/ann.py); with equal norms (cosine) every block is scored, as plainly.
        """
        x = self.vectors_ if vectors is None else vectors
        norms = self.norms_ if vectors is None and self.metric == "ip" else None
        n, k = len(x), min(k, len(x))
        top_s, top_i = np.full((len(q), k), -np.inf, dtype=np.float32), np.zeros((len(q), k), dtype=np.int64)
        bound = np.linalg.norm(q, axis=1)
        active, lo, block = np.arange(len(q)), 0, (FIRST_BLOCK if norms is not None else n)
        while lo < n and active.size:
            hi = min(n, lo + block)
            scores = q[active] @ x[lo:hi].T
            for row, query in enumerate(active):
                cols = banned[query]
                scores[row, cols[(cols >= lo) & (cols < hi)] - lo] = -np.inf
            cand_s = np.hstack([top_s[active], scores])
            cand_i = np.hstack([top_i[active], np.broadcast_to(np.arange(lo, hi), scores.shape)])
            keep = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
            top_s[active] = np.take_along_axis(cand_s, keep, axis=1)
            top_i[active] = np.take_along_axis(cand_i, keep, axis=1)
            lo, block = hi, block * 2
            if norms is not None and lo < n:
                kth, limit = top_s[active].min(axis=1), bound[active] * norms[lo]
                active = active[~(kth > limit + 1e-6 * np.abs(limit))]
        order = np.argsort(-top_s, axis=1, kind="stable")
        best, top = np.take_along_axis(top_s, order, axis=1), np.take_along_axis(top_i, order, axis=1)
        keep = np.isfinite(best)
        return np.nonzero(keep)[0] + first, top[keep], best[keep]

    def _approximate(self, q: np.ndarray, k: int, banned: list[np.ndarray],
                     first: int) -> tuple[np.ndarray, ...]:
        # ask for k more than the longest exclusion, so k survive the filter whatever is excluded: the
        # cost grows with the exclusions (a listener with 2,000 heard tracks widens the beam to 2,000+k)
        n = len(self.ids_)
        fetch = min(n, k + max(len(b) for b in banned))
        if 2 * fetch >= n:  # a beam that wide visits most of the graph anyway (and may come back short)
            vectors = np.asarray(self.graph_.get_items(np.arange(n)), dtype=np.float32)
            return self._exact(q, k, banned, first, vectors)
        self.graph_.set_ef(self.ef_search)  # hnswlib searches with max(ef, k): the beam is at least `fetch`
        labels, distances = self.graph_.knn_query(q, k=fetch, num_threads=1)
        labels = labels.astype(np.int64)
        pairs = np.concatenate([row * n + cols for row, cols in enumerate(banned)] + [np.empty(0, np.int64)])
        allowed = ~np.isin(np.arange(len(q))[:, None] * n + labels, pairs)
        keep = allowed & (np.cumsum(allowed, axis=1) <= k)
        # hnswlib's inner-product distance is 1 − q·x
        return np.nonzero(keep)[0] + first, labels[keep], 1.0 - distances[keep]

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        """Write ``params.json``, ``arrays.npz`` (ids; vectors when exact) and ``graph.hnsw`` (when not)."""
        self._check()
        path.mkdir(parents=True, exist_ok=True)
        params = {"metric": self.metric, "exact_below": self.exact_below, "m": self.m,
                  "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                  "build_threads": self.build_threads, "random_state": self.random_state}
        (path / "params.json").write_text(json.dumps(params))
        dim = self.vectors_.shape[1] if self.vectors_ is not None else self.graph_.dim
        arrays = {"ids": self.ids_, "dim": np.asarray(dim)} | (
            {"vectors": self.vectors_} if self.vectors_ is not None else {})
        arrays["source"] = self.source_
        np.savez(path / "arrays.npz", **arrays)
        if self.graph_ is not None:
            self.graph_.save_index(str(path / "graph.hnsw"))

    @classmethod
    def load(cls, path: Path) -> ItemIndex:
        """Read an index written by :meth:`save`."""
        self = cls(**json.loads((path / "params.json").read_text()))
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            self.ids_ = npz["ids"]
            self.vectors_ = npz["vectors"] if "vectors" in npz.files else None
            self.source_ = npz["source"] if "source" in npz.files else np.arange(len(self.ids_))
            dim = int(npz["dim"])
        self.graph_ = None
        self._id_map(self.ids_)
        if self.vectors_ is None:
            graph = path / "graph.hnsw"
            if not graph.exists():
                raise FileNotFoundError(f"{graph} is missing: the index was saved with an HNSW graph")
            self.graph_ = _hnswlib().Index(space="ip", dim=dim)
            self.graph_.load_index(str(graph), max_elements=len(self.ids_))
            self.graph_.set_ef(self.ef_search)
        return self

    def _check(self) -> None:
        if not hasattr(self, "ids_"):
            raise NotFittedError("ItemIndex is not built: call build() or load() first")


def _hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError as exc:
        raise MissingDependencyError(f"approximate search over large catalogs needs hnswlib: "
                                     f"{INSTALL}") from exc
    return hnswlib
