"""For-you from a trained pipeline on arrays: the pipeline ranks, this explains.

The pipeline (:class:`~tastemaker.ranking.pipeline.Pipeline`) scores its members, blends them and
applies its ranker's corrections to one listener's candidates in :meth:`Pipeline.ranked`; a pipeline
serving its blend alone is answered by :class:`~tastemaker.ranking.retrieval.BlendRetriever` instead
(the same items, retrieved rather than scored over the whole catalogue); this
module turns a served listener's ids into the pipeline's rows once per model load (dictionaries,
no frame per request) and names, for each track it returns, the recent history track it lies
closest to in the pipeline's item space ("because you played X").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: how many of the listener's most recent history tracks a reason looks at
HISTORY_WINDOW = 50


class RankedPath:
    """The arrays of one loaded pipeline for serving one listener at a time.

    >>> path = RankedPath(pipeline)  # doctest: +SKIP
    >>> rows, scores, because = path.top("u1", heard_ids, history_ids, recency, n=10)  # doctest: +SKIP
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.items = np.asarray(model.item_ids).astype(str)
        self.item_row: dict[str, int] = {item: i for i, item in enumerate(self.items.tolist())}
        self.user_row: dict[str, int] = {str(user): i for i, user in enumerate(model.users_.tolist())}
        vectors = np.asarray(model.item_vectors(), dtype=np.float32)
        self.unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        #: the most items one call can return (the pipeline's candidates per listener)
        self.depth = int(model.n_candidates)
        #: the blend's top retrieved rather than scored over every item, when the pipeline serves a blend
        self.retriever = model.retriever() if callable(getattr(model, "retriever", None)) else None

    @classmethod
    def of(cls, model: Any) -> RankedPath | None:
        """The path of a model that ranks on rows (a pipeline), None for any other."""
        return cls(model) if callable(getattr(model, "ranked", None)) else None

    def rows_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Rows of the items the pipeline knows (unknown ids dropped)."""
        get = self.item_row.get
        return np.fromiter((r for r in map(get, item_ids) if r is not None), dtype=np.int64)

    def top(self, user_id: str, heard: Sequence[str], history: Sequence[str], recency: np.ndarray, n: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The listener's ``n`` best unheard item rows with their scores and, per row, the history row it is
        closest to (-1 without history); None when the pipeline was not trained on them."""
        row = self.user_row.get(user_id)
        if row is None:
            return None
        k = min(max(n, 1), self.depth)
        if self.retriever is not None:
            items, scores = self.retriever.top(row, self.rows_of(heard), k)
        else:
            items, scores = self.model.ranked(np.array([row]), [self.rows_of(heard)], k)
            items, scores = items[0], scores[0]
        because = np.full(len(items), -1, dtype=np.int64)
        known = np.asarray([self.item_row.get(i, -1) for i in history], dtype=np.int64)
        weights = np.asarray(recency, dtype=np.float64)[known >= 0]
        known = known[known >= 0]
        if len(known) and len(items):
            near = known[np.argsort(-weights, kind="stable")[:HISTORY_WINDOW]]
            because = near[(self.unit[items] @ self.unit[near].T).argmax(axis=1)]
        return items, scores, because
