"""Cutting a workspace's listening into train / valid / test under the field's protocols.

Every protocol writes the same split folder (``train.tsv``, ``valid.tsv``, ``test.tsv``:
``user_id, item_id[, weight]``) that :class:`~tastemaker.evaluation.fixed_split.FixedSplit`
reads, so ``evaluate-split``, ``tune`` and ``compare`` work on any of them.

- ``random``: per user, a seeded random 80/10/10 of their distinct items;
- ``temporal-global``: one cut for everyone at 80 % and 90 % of the log's time span;
- ``temporal-user``: per user, at 80 % and 90 % of that user's own time span (the protocol of
  the shared Spotify benchmark splits).

In ``discovery`` mode valid keeps only items new to the user before valid, and test only items
new before test; otherwise (familiar) every distinct item listened to in the period is a target.
Train ``weight`` is the number of listens and ``ts`` the pair's first listen, so the strong
protocol (:mod:`tastemaker.evaluation.strong`) can fold in each held-out user's history by time.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from tastemaker.features.interactions import listens

PROTOCOLS = ("random", "temporal-global", "temporal-user")


def _cuts(frame: pl.DataFrame, by_user: bool) -> pl.DataFrame:
    over = "user_id" if by_user else pl.lit(1)
    t0, t1 = pl.col("ts").min().over(over), pl.col("ts").max().over(over)
    return frame.with_columns((t0 + (t1 - t0) * 0.8).alias("_c1"), (t0 + (t1 - t0) * 0.9).alias("_c2"))


def _temporal(events: pl.LazyFrame, by_user: bool, discovery: bool) -> dict[str, pl.DataFrame]:
    ev = _cuts(listens(events).filter(pl.col("ts").is_not_null()).collect(), by_user)
    parts = {
        "train": ev.filter(pl.col("ts") < pl.col("_c1")),
        "valid": ev.filter((pl.col("ts") >= pl.col("_c1")) & (pl.col("ts") < pl.col("_c2"))),
        "test": ev.filter(pl.col("ts") >= pl.col("_c2")),
    }
    return _assemble(parts, discovery)


def _assemble(parts: dict[str, pl.DataFrame], discovery: bool) -> dict[str, pl.DataFrame]:
    train = (parts["train"].group_by("user_id", "item_id").agg(pl.col("weight").sum(), pl.col("ts").min())
             .sort("user_id", "item_id"))
    valid = parts["valid"].select("user_id", "item_id").unique()
    test = parts["test"].select("user_id", "item_id").unique()
    if discovery:
        seen = train.select("user_id", "item_id")
        valid = valid.join(seen, on=["user_id", "item_id"], how="anti")
        test = test.join(pl.concat([seen, parts["valid"].select("user_id", "item_id")]).unique(),
                         on=["user_id", "item_id"], how="anti")
    return {"train": train, "valid": valid.sort("user_id", "item_id"), "test": test.sort("user_id", "item_id")}


def _random(events: pl.LazyFrame, seed: int) -> dict[str, pl.DataFrame]:
    pairs = (listens(events).group_by("user_id", "item_id").agg(pl.col("weight").sum(), pl.col("ts").min())
             .collect().sort("user_id", "item_id"))
    shuffled = pairs.sample(fraction=1.0, shuffle=True, seed=seed)
    ranked = shuffled.with_columns(
        (pl.int_range(pl.len()).over("user_id") / pl.len().over("user_id")).alias("_q")
    )
    parts = {
        "train": ranked.filter(pl.col("_q") < 0.8),
        "valid": ranked.filter((pl.col("_q") >= 0.8) & (pl.col("_q") < 0.9)),
        "test": ranked.filter(pl.col("_q") >= 0.9),
    }
    return _assemble(parts, discovery=False)


def make_split(events: pl.LazyFrame, protocol: str, discovery: bool = True, seed: int = 2020) -> dict[str, pl.DataFrame]:
    """The three parts under ``protocol`` (one of :data:`PROTOCOLS`)."""
    if protocol == "random":
        return _random(events, seed)
    if protocol in ("temporal-global", "temporal-user"):
        return _temporal(events, protocol == "temporal-user", discovery)
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def write_split(parts: dict[str, pl.DataFrame], out: Path, meta: dict[str, object]) -> dict[str, int]:
    """Write the parts as TSV (and ``split.json`` with ``meta``); returns rows per part."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    for name, frame in parts.items():
        frame.write_csv(out / f"{name}.tsv", separator="\t")
    counts = {name: frame.height for name, frame in parts.items()}
    (out / "split.json").write_text(json.dumps({**meta, "rows": counts, "written": datetime.now().isoformat()}))
    return counts
