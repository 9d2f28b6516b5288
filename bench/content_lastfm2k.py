"""Content-based models on the Last.fm-2k fixed split, with the artists' tags as content.

    python bench/content_lastfm2k.py [--no-text]

Fits on train, picks parameters on valid NDCG@10, reports valid and test (full ranking, the
split's masks, :func:`tastemaker.evaluation.fixed_split.evaluate_model`) for: popularity; the
TF-IDF tag model; two text-embedding models with all-MiniLM-L6-v2: ``text`` embeds every tag
name once and pools an artist's tag vectors with its TF-IDF weights, ``text_per_artist`` embeds
one string per artist (its most used tag names); ALS with the peers' parameters; and ALS
z-score-blended with the tag and the text model, the blend weight chosen on valid.

Leakage: HetRec's tag assignments are (user, artist, tag). A user who tagged an artist knows it,
so an assignment whose (user, artist) pair is in valid or test would tell the model about a
held-out pair. Those assignments are dropped before building vectors (``honest``); the tag
model is also scored once with them kept (``leaky_tags``), to show how much they would flatter it.
Writes bench/results/content_lastfm2k.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import polars as pl
from scipy import stats

from tastemaker.candidates.als import ALS
from tastemaker.candidates.content import ContentModel, hetrec_tag_assignments, tag_vectors, text_vectors
from tastemaker.candidates.hybrid import Hybrid
from tastemaker.evaluation.fixed_split import FixedSplit, ItemPopularity, evaluate_model, evaluate_per_user

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "content_lastfm2k.json"
ALS_PARAMS = {"factors": 64, "regularization": 30.0, "alpha": 10.0}  # the peers' valid-chosen iALS
TAG_GRID = [{"min_items": 2, "max_tags": n} for n in (128, 256, 512, 1024, 4096)]
BLEND_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
ALL_TAGS = 1_000_000
TEXT_TAGS = 10  # tag names per artist in its text


def honest(assignments: pl.DataFrame, split: FixedSplit) -> pl.DataFrame:
    """Assignments minus those whose (user, artist) pair is held out in valid or test."""
    held = pl.concat([split.frames[p].select("user_id", "item_id") for p in ("valid", "test")]).unique()
    return assignments.join(held, on=["user_id", "item_id"], how="anti")


def artist_texts(items: pl.Series, assignments: pl.DataFrame) -> list[str]:
    """Each item's ``TEXT_TAGS`` most used tag names, comma-separated ("" when untagged)."""
    top = (assignments.group_by("item_id", "tag").agg(pl.len().alias("n"))
           .sort(["item_id", "n", "tag"], descending=[False, True, False])
           .group_by("item_id", maintain_order=True).agg(pl.col("tag").head(TEXT_TAGS).str.join(", ").alias("text")))
    aligned = pl.DataFrame({"item_id": items}).join(top, on="item_id", how="left", maintain_order="left")
    return aligned["text"].fill_null("").to_list()


def both_parts(split: FixedSplit, model: Any) -> dict[str, float]:
    valid = evaluate_model(split, model, "valid", (10,))
    test = evaluate_model(split, model, "test", (10,))
    return {"valid_ndcg@10": valid["ndcg@10"], **{k: test[k] for k in ("ndcg@10", "recall@10", "mrr@10",
                                                                      "hitrate@10")}}


def centered_or_not(split: FixedSplit, vectors: Any) -> dict[str, Any]:
    """The text model's metrics, ``center`` chosen on valid NDCG@10."""
    X = split.matrices["train"]
    valid = {c: evaluate_model(split, ContentModel(vectors, center=c).fit(X), "valid", (10,))["ndcg@10"]
             for c in (False, True)}
    center = max(valid, key=valid.__getitem__)
    return {"center": center, "valid_by_center": {str(c): v for c, v in valid.items()},
            **both_parts(split, ContentModel(vectors, center=center).fit(X))}


def blend(split: FixedSplit, als: ALS, content: ContentModel) -> dict[str, Any]:
    """ALS + content, z-scored; the content weight chosen on valid NDCG@10; paired t-tests against ALS.

    The valid p-value is optimistic (the weight was picked there); the test one is the honest one.
    """
    valid = {w: evaluate_model(split, Hybrid([als, content], [1.0, w]), "valid", (10,))["ndcg@10"]
             for w in BLEND_GRID}
    best = max(valid, key=lambda w: (valid[w], -w))
    hybrid = Hybrid([als, content], [1.0, best])
    p_values = {}
    for part in ("valid", "test"):
        ours, theirs = (evaluate_per_user(split, m, part, 10)["ndcg@10"].to_numpy() for m in (hybrid, als))
        p_values[f"{part}_p_vs_als"] = float(f"{stats.ttest_rel(ours, theirs).pvalue:.2g}")
    return {"content_weight": best, "valid_by_weight": {str(w): v for w, v in valid.items()},
            **both_parts(split, hybrid), **p_values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-text", action="store_true", help="skip the text-embedding model (needs torch)")
    args = parser.parse_args()
    split = FixedSplit.load(DATA / "benchmarks" / "lastfm2k")
    X = split.matrices["train"]
    items = split.items.to_list()
    every = hetrec_tag_assignments(DATA / "lastfm-hetrec2011-2k")
    fair = honest(every, split)
    out: dict[str, Any] = {"split": "lastfm2k", "tag_assignments": every.height, "honest_assignments": fair.height}
    out["pop"] = both_parts(split, ItemPopularity().fit(X))
    started = time.perf_counter()
    tag_runs = {json.dumps(p): evaluate_model(split, ContentModel(tag_vectors(items, fair, **p)).fit(X), "valid",
                                              (10,))["ndcg@10"] for p in TAG_GRID}
    params = json.loads(max(tag_runs, key=tag_runs.__getitem__))
    tags = ContentModel(tag_vectors(items, fair, **params)).fit(X)
    out["tags"] = {"params": params, "valid_by_params": tag_runs, **both_parts(split, tags),
                   "seconds": round(time.perf_counter() - started, 1),
                   "items_with_content": int(tags.has_content_.sum())}
    out["leaky_tags"] = both_parts(split, ContentModel(tag_vectors(items, every, **params)).fit(X))
    als = ALS(**ALS_PARAMS).fit(X)
    out["als"] = {"params": ALS_PARAMS, **both_parts(split, als)}
    out["als+tags"] = blend(split, als, tags)
    if not args.no_text:
        started = time.perf_counter()
        pooled = tag_vectors(items, fair, max_tags=ALL_TAGS, embed=text_vectors)
        out["text"] = {"text": "each tag name, pooled by TF-IDF", "seconds": round(time.perf_counter() - started, 1),
                       **centered_or_not(split, pooled)}
        started = time.perf_counter()
        per_artist = text_vectors(artist_texts(split.items, fair))
        out["text_per_artist"] = {"text": f"top {TEXT_TAGS} tag names per artist, one string",
                                  "seconds": round(time.perf_counter() - started, 1),
                                  **centered_or_not(split, per_artist)}
        out["als+text"] = blend(split, als, ContentModel(pooled, center=out["text"]["center"]).fit(X))
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
