"""Onboarding: a new listener picks artists, and their first list comes from those artists at once.

``POST /v1/users`` stores the listener in the store's ``users`` table (``onboarding_artists``,
``country``, ``signup_date``) and answers with their *for-you* list. Until the personal model
has been trained on their listening, the popularity level builds their lists from their picks
first: each picked artist's most popular tracks, taken in turn (A's best, B's best, ..., A's
second, ...), each "because you picked A", then the popular list for the rest. What they play
is left out at once, as everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tastemaker.engine.catalog import Catalog
from tastemaker.engine.reads import collect
from tastemaker.ingest.pipeline import prepare
from tastemaker.surfaces.reasons import reason

@dataclass(frozen=True, slots=True)
class Profile:
    """What a listener told us at onboarding: the artists they picked (ids, in their order) and country."""

    picks: tuple[str, ...] = ()
    country: str | None = None


def profile(store: Any, user_id: str) -> Profile:
    """``user_id``'s picks and country as the ``users`` table holds them now (empty when never onboarded)."""
    rows = collect(lambda: store.scan("users").filter(pl.col("user_id") == user_id)
                   .select("onboarding_artists", "country"))
    if rows.is_empty():
        return Profile()
    picks = rows["onboarding_artists"].drop_nulls()
    countries = rows["country"].drop_nulls()
    return Profile(tuple(picks[-1]) if len(picks) else (), countries[-1] if len(countries) else None)


def register(store: Any, user_id: str, artists: list[str], country: str | None, request_id: str,
             now: datetime | None = None) -> bool:
    """Store ``user_id`` with their picks in the ``users`` table; returns whether they are new there.

    A listener onboarded again keeps their sign-up date and gets the new picks (the table keeps
    the latest non-null value of each column).
    """
    now = now or datetime.now(UTC)
    new = store.scan("users").filter(pl.col("user_id") == user_id).select(pl.len()).collect().item() == 0
    row = pl.DataFrame({"user_id": [user_id], "country": [country],
                        "signup_date": [now.date() if new else None], "onboarding_artists": [artists]},
                       schema={"user_id": pl.String, "country": pl.String, "signup_date": pl.Date,
                               "onboarding_artists": pl.List(pl.String)})
    good, _ = prepare("users", row, "http", f"http:{request_id}", now)
    store.append({"users": good})
    return new


def picked_rows(chart: pl.DataFrame, catalog: Catalog, picks: Sequence[str], heard: pl.DataFrame,
                n: int) -> pl.DataFrame:
    """Up to ``n`` unheard tracks of the picked artists, their best first, the artists taken in turn.

    ``chart``: ``item_id, score, artist_id``, best first (the popularity model's). Returns
    ``item_id, score, reason``.
    """
    order = pl.DataFrame({"artist_id": list(picks), "_pick": range(len(picks))},
                         schema={"artist_id": pl.String, "_pick": pl.Int64})
    named = pl.DataFrame({"artist_id": list(picks),
                          "reason": [reason("picked", name=catalog.artist_names.get(a, a)) for a in picks]},
                         schema={"artist_id": pl.String, "reason": pl.String})
    return (chart.join(order, on="artist_id", how="inner", maintain_order="left")
            .join(heard.select("item_id"), on="item_id", how="anti", maintain_order="left")
            .with_columns(pl.int_range(pl.len()).over("artist_id").alias("_turn"))
            .sort("_turn", "_pick").head(n)
            .join(named, on="artist_id", how="left", maintain_order="left")
            .select("item_id", "score", "reason"))
