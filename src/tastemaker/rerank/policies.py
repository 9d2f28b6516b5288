"""Re-ranking policies: what a music product does to a scored candidate list before anyone sees it.

Every policy takes one listener's candidates as a Polars frame sorted best first, with at least
``item_id`` and ``score`` (and whatever columns it names: ``artist_id``, ``album_id``, ``genre``,
``release_date``, ``explicit``, ``is_new_artist``...), and returns a frame in the new order. A
``reason`` column, when present, is kept; policies that add an item say why in it, and an
exploration slot records its ``propensity`` (the chance this item was shown there), which
off-policy evaluation needs later. Policies compose left to right::

    ranked = cap(mmr(rules(cands, heard=heard), vectors, lam=0.7), "artist_id", 2).head(30)

The surfaces declare their chains of configured policies in :mod:`tastemaker.surfaces.chains`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl


def _check(frame: pl.DataFrame, *columns: str) -> None:
    _need(frame, "item_id", "score", *columns)


def _need(frame: pl.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the candidates need columns {missing}; they have {frame.columns}")


def rules(candidates: pl.DataFrame, *, heard: Sequence[str] = (), blocked_items: Sequence[str] = (),
          blocked_artists: Sequence[str] = (), allow_explicit: bool = True) -> pl.DataFrame:
    """Business rules: drop heard tracks (discovery surfaces), blocked tracks and artists, explicit ones.

    >>> rules(cands, heard=["t1"], blocked_artists=["a9"], allow_explicit=False)  # doctest: +SKIP
    """
    _check(candidates)
    keep = []
    if len(heard) or len(blocked_items):
        keep.append(~pl.col("item_id").is_in([*heard, *blocked_items]))
    if len(blocked_artists):
        _check(candidates, "artist_id")
        keep.append(~pl.col("artist_id").is_in(list(blocked_artists)))
    if not allow_explicit:
        _check(candidates, "explicit")
        keep.append(~pl.col("explicit").fill_null(False))
    return candidates.filter(*keep) if keep else candidates


def cap(candidates: pl.DataFrame, column: str, limit: int, *, counted: Sequence[object] = (),
        by: Sequence[str] = ()) -> pl.DataFrame:
    """At most ``limit`` items per value of ``column`` (artist or album caps), keeping the best ones.

    ``counted``: values of ``column`` already on the list (e.g. the familiar tracks' artists when
    new tracks join a mix): each takes one of its value's places. ``by``: columns holding several
    lists in one frame (``("user_id",)``: every listener's list capped at once). A null value is
    never capped: an unknown artist counts as an artist of its own. Only ``column`` and ``by``
    are read, so any frame works (episodes capped per show, cards per artist).

    >>> cap(cands, "artist_id", 2, counted=["a1"])  # doctest: +SKIP
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    _need(candidates, column, *by)
    nth = pl.int_range(pl.len()).over(*by, column)
    if not len(counted):
        return candidates.filter(pl.col(column).is_null() | (nth < limit))
    before = pl.DataFrame({column: list(counted)}, schema={column: candidates.schema[column]})
    framed = candidates.join(before.group_by(column).agg(pl.len().alias("_had")), on=column, how="left",
                             maintain_order="left")
    return framed.filter(pl.col(column).is_null() | (nth + pl.col("_had").fill_null(0) < limit)).drop("_had")


def dedupe(candidates: pl.DataFrame, on: Sequence[str] = ("item_id",), *, shown: pl.DataFrame | None = None,
           by: Sequence[str] = ()) -> pl.DataFrame:
    """Each item once (its best row), and none that ``shown`` holds (cards higher up the page, tracks
    already in another mix). ``on``: the columns naming an item (``("kind", "item_id")`` on a
    page of tracks, playlists and episodes); ``by``: columns holding several lists in one frame.

    >>> dedupe(cards, ("kind", "item_id"), shown=page.select("kind", "item_id"))  # doctest: +SKIP
    """
    keys = [*by, *on]
    _need(candidates, *keys)
    out = candidates.unique(keys, keep="first", maintain_order=True)
    if shown is not None and shown.height:
        _need(shown, *on)
        out = out.join(shown.select(*on).unique(), on=list(on), how="anti", maintain_order="left")
    return out


def spread(candidates: pl.DataFrame, column: str, gap: int, *, before: Sequence[object] = (),
           k: int | None = None) -> pl.DataFrame:
    """No value of ``column`` twice within ``gap`` places (artist spacing): walking the list best first,
    an item whose value is among the last ``gap`` placed is skipped for good.

    ``before``: the values shown just before the list (a radio session's tracks, most recent
    last), which count as placed. Returns the first ``k`` picks (all by default). A null value
    never repeats (an unknown artist counts as an artist of its own).

    >>> spread(queue, "artist_id", 3, before=["a7"], k=10)  # doctest: +SKIP
    """
    if gap < 0:
        raise ValueError(f"gap must not be negative, got {gap}")
    _need(candidates, column)
    n = candidates.height
    k = n if k is None else min(k, n)
    if gap == 0 or n == 0:
        return candidates.head(k)
    earlier = pl.Series(column, list(before), dtype=candidates.schema[column])
    values = pl.concat([earlier, candidates[column]])
    codes = values.rank("dense").fill_null(0).cast(pl.Int64).to_numpy().copy()
    unknown = values.is_null().to_numpy()
    codes[unknown] = -1 - np.flatnonzero(unknown)  # a code of its own: never equal to another
    window = list(codes[: len(before)][-gap:])
    own = codes[len(before):]
    picked: list[int] = []
    at = 0
    while len(picked) < k and at < n:
        free = np.flatnonzero(~np.isin(own[at:], window))  # one vectorised scan per pick
        if not free.size:
            break
        at += int(free[0])
        picked.append(at)
        window = [*window, int(own[at])][-gap:]
        at += 1
    return candidates[picked]


def no_repeat(candidates: pl.DataFrame, served: pl.DataFrame, now: np.datetime64 | object,
              window_days: float) -> pl.DataFrame:
    """Drop items this listener was served within the last ``window_days`` (``served``: ``item_id, ts``)."""
    if window_days < 0:
        raise ValueError(f"window_days must not be negative, got {window_days}")
    recent = served.filter((pl.lit(now) - pl.col("ts")).dt.total_seconds() < window_days * 86400.0)
    return candidates.join(recent.select("item_id").unique(), on="item_id", how="anti", maintain_order="left")


def demote_shown(candidates: pl.DataFrame, impressions: pl.DataFrame | None, times: int = 3,
                 by: Sequence[str] = ()) -> pl.DataFrame:
    """Move items shown at least ``times`` times to the end of each list, in their order, and count the showings.

    Shown is not heard: a track the listener was only shown stays a candidate (heard tracks are
    the caller's ``exclude``), but one shown again and again without a play has had its chance,
    so fresh candidates go first. ``impressions``: ``[by...,] item_id, shown`` (showings per item);
    adds ``shown`` (0 when never shown). Candidates must be unheard, so every showing counted here
    went unplayed.

    >>> demote_shown(pl.DataFrame({"item_id": ["a", "b"]}), pl.DataFrame({"item_id": ["a"], "shown": [3]}))["item_id"].to_list()
    ['b', 'a']
    """
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    if impressions is None or impressions.is_empty():
        return candidates.with_columns(pl.lit(0, dtype=pl.Int64).alias("shown"))
    keys = [*by, "item_id"]
    counts = impressions.select(*keys, pl.col("shown").cast(pl.Int64))
    marked = (candidates.join(counts, on=keys, how="left", maintain_order="left")
              .with_columns(pl.col("shown").fill_null(0)))
    tired = (pl.col("shown") >= times).cast(pl.Int8)
    if not by:
        return marked.sort(tired, maintain_order=True)
    order = pl.int_range(pl.len()).over(list(by)).alias("_at")
    return (marked.with_columns(order, tired.alias("_tired"))
            .sort([*by, "_tired", "_at"], maintain_order=True).drop("_at", "_tired"))


def freshness(candidates: pl.DataFrame, today: date, boost: float = 0.5, half_life_days: float = 14.0) -> pl.DataFrame:
    """Add ``boost · 0.5^(age / half-life)`` to the score of recent releases (``release_date``), then re-sort.

    Scores are compared as they come, so pass standardised scores (as the hybrid makes them).
    """
    _check(candidates, "release_date")
    age = (pl.lit(today) - pl.col("release_date")).dt.total_days().clip(lower_bound=0)
    bonus = (boost * 0.5 ** (age / half_life_days)).fill_null(0.0)
    return candidates.with_columns(pl.col("score") + bonus).sort("score", descending=True, maintain_order=True)


def mmr(candidates: pl.DataFrame, vectors: np.ndarray, lam: float = 0.7, k: int | None = None) -> pl.DataFrame:
    """Maximal marginal relevance: pick ``argmax λ·relevance − (1−λ)·max similarity to what is picked``.

    ``vectors``: one row per candidate row (embeddings; cosine similarity is used). Relevance is
    the score min-max scaled to [0, 1] so λ means the same for every model. Returns the first
    ``k`` picks (all by default) in pick order.
    """
    _check(candidates)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be within [0, 1], got {lam}")
    n = candidates.height
    if len(vectors) != n:
        raise ValueError(f"need one vector per candidate: {len(vectors)} vectors for {n} candidates")
    k = n if k is None else min(k, n)
    score = candidates["score"].to_numpy().astype(np.float64)
    span = score.max() - score.min() if n else 0.0
    rel = (score - score.min()) / span if span > 0 else np.ones(n)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    picked: list[int] = []
    closest = np.full(n, -np.inf)  # max similarity of each candidate to the picks so far
    free = np.ones(n, dtype=bool)
    for _ in range(k):
        value = lam * rel - (1 - lam) * np.where(np.isfinite(closest), closest, 0.0)
        value[~free] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        free[best] = False
        closest = np.maximum(closest, sim[best])
    return candidates[picked]


def calibrate(candidates: pl.DataFrame, target: dict[str, float], k: int, lam: float = 0.5) -> pl.DataFrame:
    """Calibrated lists (Steck 2018): match the genre mix of the listener's history.

    Greedily picks ``k`` items maximising ``(1−λ)·Σ relevance − λ·KL(target ‖ list mix)``;
    ``target``: genre → share of the history; candidates carry a ``genre`` column.
    """
    _check(candidates, "genre")
    genres = sorted(set(target) | set(candidates["genre"].drop_nulls().to_list()))
    index = {g: i for i, g in enumerate(genres)}
    p = np.array([target.get(g, 0.0) for g in genres])
    p = p / p.sum() if p.sum() > 0 else np.full(len(genres), 1 / len(genres))
    col = np.array([index.get(g, -1) if g is not None else -1 for g in candidates["genre"].to_list()])
    score = candidates["score"].to_numpy().astype(np.float64)
    span = score.max() - score.min() if len(score) else 0.0
    rel = (score - score.min()) / span if span > 0 else np.ones(len(score))
    counts = np.zeros(len(genres))
    picked: list[int] = []
    free = np.ones(len(score), dtype=bool)
    onehot = np.zeros((len(score), len(genres)))
    onehot[np.flatnonzero(col >= 0), col[col >= 0]] = 1.0
    for _ in range(min(k, len(score))):
        trial = counts[None, :] + onehot  # the mix if each candidate were added next
        q = 0.99 * trial / np.maximum(trial.sum(axis=1, keepdims=True), 1) + 0.01 * p  # smoothed, as in the paper
        # genres outside the history (p = 0) add nothing: 0 · log(0 / q) is 0, not NaN when q is 0 too
        kl = np.sum(np.where(p > 0, p * np.log(np.maximum(p, 1e-12) / np.maximum(q, 1e-300)), 0.0), axis=1)
        value = (1 - lam) * rel - lam * kl
        value[~free] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        free[best] = False
        counts += onehot[best]
    return candidates[picked]


def quota(candidates: pl.DataFrame, flag: str, share: float, k: int) -> pl.DataFrame:
    """At least ``ceil(share · k)`` of the first ``k`` items have ``flag`` true (new or long-tail creators).

    The flagged items promoted are the best flagged ones; they take the lowest-ranked places of
    the top ``k``, so the head of the list keeps its order.
    """
    _check(candidates, flag)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be within [0, 1], got {share}")
    need = int(np.ceil(share * k))
    framed = candidates.with_row_index("_pos")
    head, tail = framed.head(k), framed.slice(k)
    missing = need - int(head[flag].fill_null(False).sum())
    if missing <= 0:
        return candidates
    promoted = tail.filter(pl.col(flag).fill_null(False)).head(missing)
    drop = head.filter(~pl.col(flag).fill_null(False)).tail(promoted.height)["_pos"]
    kept = head.filter(~pl.col("_pos").is_in(drop.implode()))
    rest = tail.filter(~pl.col("_pos").is_in(promoted["_pos"].implode()))
    demoted = framed.filter(pl.col("_pos").is_in(drop.implode()))
    return pl.concat([kept, promoted, demoted, rest]).drop("_pos")


def explore(candidates: pl.DataFrame, pool: pl.DataFrame, slots: Sequence[int], epsilon: float,
            rng: np.random.Generator) -> pl.DataFrame:
    """Epsilon exploration: each slot position, with probability ``epsilon``, shows a uniformly drawn
    item from ``pool`` (items the models are unsure about) instead of the ranked one.

    Every row gets a ``propensity``: the probability the policy shows that item at that
    position (ranked items: ``1 − ε`` at an exploration slot, 1 elsewhere; explored items:
    ``ε / |pool|``), and explored rows get the reason ``exploration``.
    """
    _check(candidates)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be within [0, 1], got {epsilon}")
    rows = candidates.with_columns(pl.lit(1.0).alias("propensity"))
    if "reason" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    fresh = pool.join(rows.select("item_id"), on="item_id", how="anti")
    out = rows.to_dicts()
    used: set[str] = set()
    for position in sorted(slots):
        if position >= len(out):
            break
        if fresh.height and rng.random() < epsilon:
            choice = fresh.row(int(rng.integers(fresh.height)), named=True)
            if choice["item_id"] in used:
                continue
            used.add(choice["item_id"])
            out[position] = {**{c: None for c in rows.columns}, **{c: choice.get(c) for c in rows.columns},
                             "score": None, "reason": "exploration", "propensity": epsilon / fresh.height}
        else:
            out[position]["propensity"] = 1.0 - epsilon if fresh.height else 1.0
    return pl.DataFrame(out, schema=rows.schema)


def epsilon_greedy(ranked: np.ndarray, n: int, epsilon: float, rng: np.random.Generator
                  ) -> tuple[list[int], list[float], list[bool]]:
    """Exploration on arrays (the server's for-you): fill ``n`` slots from ``ranked`` (candidates best first): each slot takes the best
    candidate left with probability ``1 − epsilon``, else one drawn uniformly from all those left.

    Returns the chosen candidates, each one's propensity (the probability of that choice in that slot
    given the slots before: ``(1 − ε)·[it was the best left] + ε / left``, what off-policy evaluation
    divides by) and whether it differs from the greedy choice. With ``epsilon = 0`` the list is the
    ranking and every propensity 1.

    >>> epsilon_greedy(np.array([4, 2, 9]), 2, 0.0, np.random.default_rng(0))
    ([4, 2], [1.0, 1.0], [False, False])
    """
    left = [int(c) for c in ranked]
    chosen, chance, explored = [], [], []
    for _ in range(min(n, len(left))):
        at = int(rng.integers(len(left))) if epsilon > 0 and rng.random() < epsilon else 0
        chance.append((1.0 - epsilon) * (at == 0) + epsilon / len(left))
        explored.append(at != 0)
        chosen.append(left.pop(at))
    return chosen, chance, explored
