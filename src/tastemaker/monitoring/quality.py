"""Online quality per surface, from the impressions the server logs and what listeners did after them.

Each listen (``play``/``skip``) and each save (``save``, ``add_to_playlist``) is credited to the latest
impression of the same track to the same listener before it, within ``attribution`` (a day by
default): last touch, so a track shown on home and then on Discover Weekly credits Discover Weekly.
Per surface, over a period:

| column | what |
|---|---|
| ``lists``, ``impressions`` | lists served (request ids) and items shown |
| ``play_rate`` | impressions followed by a listen of 30 s or more / impressions |
| ``skip_rate`` | credited listens that were skips / credited listens |
| ``save_rate`` | impressions followed by a save or playlist add / impressions |
| ``minutes_per_impression`` | minutes of credited listening / impressions |
| ``coverage`` | distinct tracks shown / the catalogue's tracks (null without a catalogue) |
| ``artist_gini``, ``top_artist_share`` | how concentrated what was shown is on few artists: the Gini coefficient of impressions over artists, and the share of the ten most shown |
| ``fallback_rate`` | lists a fallback answered (the personal model could not) / lists |

Latency and error rates are not in the store; they come from the server's ``/metrics``
(``monitoring/rules.yml`` alerts on them in Prometheus).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from tastemaker.domain import SKIP_THRESHOLD_MS
from tastemaker.simulate.analysis import gini

SAVE_TYPES = ("save", "add_to_playlist")
COLUMNS = ("surface", "lists", "impressions", "play_rate", "skip_rate", "save_rate", "minutes_per_impression",
           "coverage", "artist_gini", "top_artist_share", "fallback_rate")


def per_surface(events: pl.LazyFrame | pl.DataFrame, start: datetime, end: datetime, *,
                tracks: pl.DataFrame | None = None, attribution: timedelta = timedelta(days=1)) -> pl.DataFrame:
    """One row per surface served in ``[start, end)`` (columns :data:`COLUMNS`, most lists first);
    ``tracks`` (``track_id, artist_id``): the catalogue, for coverage and artist concentration.

    >>> per_surface(store.events(), datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 8, tzinfo=UTC))  # doctest: +SKIP
    """
    frame = events.lazy()
    shown = (frame.filter((pl.col("type") == "impression") & (pl.col("ts") >= start) & (pl.col("ts") < end)
                          & pl.col("surface").is_not_null())
             .select("user_id", "item_id", "ts", "surface", "session_id", pl.col("reason_start").alias("level"))
             .with_row_index("shown").collect())
    if shown.is_empty():
        return pl.DataFrame(schema={c: pl.String if c == "surface" else pl.Float64 for c in COLUMNS})
    after = frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end + attribution)
                         & pl.col("type").is_in(["play", "skip", *SAVE_TYPES]))
    cols = after.collect_schema().names()
    skip = (pl.col("type") == "skip") | (pl.col("skipped").fill_null(pl.col("ms_played").fill_null(0) < SKIP_THRESHOLD_MS)
                                         if "skipped" in cols else pl.col("ms_played").fill_null(0) < SKIP_THRESHOLD_MS)
    acts = (after.select("user_id", "item_id", "ts", "type", pl.col("ms_played").fill_null(0), skip.alias("skip"))
            .collect().sort("ts"))
    credited = acts.join_asof(shown.select("user_id", "item_id", "ts", "shown").sort("ts"), on="ts",
                              by=["user_id", "item_id"], strategy="backward", tolerance=attribution,
                              check_sortedness=False)  # both sorted by time just above
    credited = credited.filter(pl.col("shown").is_not_null())
    listen = pl.col("type").is_in(["play", "skip"])
    per_shown = credited.group_by("shown").agg(
        (listen & ~pl.col("skip")).any().alias("played"),
        (listen & pl.col("skip")).sum().alias("skips"),
        listen.sum().alias("listens"),
        pl.col("type").is_in(SAVE_TYPES).any().alias("saved"),
        pl.col("ms_played").filter(listen).sum().alias("ms"))
    rows = shown.join(per_shown, on="shown", how="left").with_columns(
        pl.col("played", "saved").fill_null(False), pl.col("skips", "listens", "ms").fill_null(0))
    if tracks is not None and {"track_id", "artist_id"} <= set(tracks.columns):
        artists = tracks.select(pl.col("track_id").cast(pl.String).alias("item_id"), "artist_id").unique("item_id")
        rows = rows.join(artists, on="item_id", how="left")
    else:
        rows = rows.with_columns(pl.lit(None, pl.String).alias("artist_id"))
    catalogue = tracks.height if tracks is not None and tracks.height else None
    out = []
    for (surface,), part in rows.group_by("surface"):
        lists = part.unique("session_id")
        by_artist = part.filter(pl.col("artist_id").is_not_null()).group_by("artist_id").len()["len"].to_numpy()
        top = np.sort(by_artist)[::-1][:10].sum() / by_artist.sum() if by_artist.size else None
        listens = int(part["listens"].sum())
        out.append({
            "surface": surface, "lists": lists.height, "impressions": part.height,
            "play_rate": float(part["played"].mean()),
            "skip_rate": int(part["skips"].sum()) / listens if listens else None,
            "save_rate": float(part["saved"].mean()),
            "minutes_per_impression": float(part["ms"].sum()) / 60_000 / part.height,
            "coverage": part["item_id"].n_unique() / catalogue if catalogue else None,
            "artist_gini": gini(by_artist.astype(np.float64)) if by_artist.size else None,
            "top_artist_share": float(top) if top is not None else None,
            "fallback_rate": float((lists["level"].fill_null("model") != "model").mean()),
        })
    schema = {c: pl.String if c == "surface" else pl.Int64 if c in ("lists", "impressions") else pl.Float64
              for c in COLUMNS}
    return pl.DataFrame(out, schema=schema).sort("lists", descending=True)
