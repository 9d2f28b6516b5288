"""Content kinds on the labelled sample, and Discover Weekly before and after them.

Imports the shared exports (the 26 account-data listeners, the 2 extended exports) and podcast-metadata
into a fresh store, as ``tastemaker import`` does (the import decides every item's kind), and scores the
decisions against ``tests/fixtures/content_kinds_sample.csv`` (labelled by hand, docs/ingest.md): on the
whole sample, its dev and test halves (split by artist), its high-confidence labels and each export.
Then the question whether a learnt classifier earns its place: a logistic regression on the same
evidence, fitted on the dev half, scored on the test half next to the hand-set weights. Last, each
listener's Discover Weekly from ``artist`` and ``als`` trained on everything and no guard (as before
content kinds) and on music only with the surfaces' guard, and the tracks each model finds most like
popular tracks (radio's and "similar"'s candidates): how many are not music.

    python bench/content_kinds.py              # about 2 minutes on 2 cores
    python bench/content_kinds.py --no-surfaces

Writes bench/results/content_kinds.json and the table between the markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

from tastemaker.candidates.catalogue import create
from tastemaker.candidates.data import TrainingData
from tastemaker.domain import NOT_MUSIC
from tastemaker.features.interactions import heard
from tastemaker.ingest import run_import
from tastemaker.ingest.formats import FORMATS
from tastemaker.ingest.identity import track_ids
from tastemaker.ingest.kind_signals import KindRules, show_key
from tastemaker.ingest.kinds import decide_kinds, item_evidence, read_inputs
from tastemaker.store import open_store
from tastemaker.surfaces.discover_weekly import discover_weekly_batch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TASTEMAKER_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLE = ROOT / "tests" / "fixtures" / "content_kinds_sample.csv"
RESULTS = ROOT / "bench" / "results" / "content_kinds.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- content-kinds:begin -->", "<!-- content-kinds:end -->"
IMPORTS = (("podcasts", "podcast-metadata"), ("spotify-account", "spotify-streaming-history-basic/raw"),
           ("spotify-extended", "spotify-extended-streaming-history-sample/raw"))
METADATA = (("spotify_podcast_shows_by_category.csv", "Podcast_Name"),
            ("spotify_podcast_episodes_sample.csv", "Podcast Name"))


def build_store(root: Path) -> tuple[Any, float]:
    """A store holding the shared exports and podcast-metadata; returns it and the import seconds."""
    store = open_store(root)
    started = time.perf_counter()
    for fmt, folder in IMPORTS:
        run_import(store, FORMATS[fmt], SHARED / folder)
    return store, time.perf_counter() - started


def labelled(sample: pl.DataFrame, store: Any, decided: pl.DataFrame) -> pl.DataFrame:
    """The sample with each row's ``item_id`` and decision: tracks by their canonical id, extended-export
    episodes by show and episode name (a row the store lacks fails)."""
    shows = store.entities("shows").select("show_id", pl.col("name").alias("artist"))
    episodes = (store.entities("episodes").join(shows, on="show_id")
                .select(pl.col("episode_id").alias("_episode"), "artist", pl.col("name").alias("title"))
                .unique(["artist", "title"]))
    rows = (sample.with_columns(track_ids(sample["artist"], sample["title"]).alias("item_id"))
            .join(episodes, on=["artist", "title"], how="left")
            .with_columns(pl.when(pl.col("selected_as") == "extended_episode").then(pl.col("_episode"))
                          .otherwise(pl.col("item_id")).alias("item_id"))
            .drop("_episode").join(decided, on="item_id", how="left"))
    missing = rows.filter(pl.col("content_kind").is_null())
    if missing.height:
        raise SystemExit(f"{missing.height} sample rows name no stored item, e.g. {missing.row(0, named=True)}")
    return rows


def wilson(hits: int, n: int, z: float = 1.96) -> list[float] | None:
    """The 95 % Wilson interval of ``hits / n``."""
    if n == 0:
        return None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def scores(rows: pl.DataFrame, predicted: str = "content_kind") -> dict[str, Any]:
    """Precision and recall of the podcast class, the share of podcasts kept off music surfaces (decided
    podcast or unknown), and the share of music kept on them."""
    truth = rows["label"] == "podcast"
    said = rows[predicted] == "podcast"
    tp, fp, fn = int((truth & said).sum()), int((~truth & said).sum()), int((truth & ~said).sum())
    off = int((truth & rows[predicted].is_in(sorted(NOT_MUSIC))).sum())
    music = rows["label"] == "music"
    kept = int((music & (rows[predicted] == "music")).sum())
    return {"items": rows.height, "podcasts": int(truth.sum()), "music": int(music.sum()),
            "precision": _share(tp, tp + fp), "precision_ci": wilson(tp, tp + fp),
            "recall": _share(tp, tp + fn), "recall_ci": wilson(tp, tp + fn),
            "podcasts_off_music": _share(off, int(truth.sum())), "music_kept": _share(kept, int(music.sum())),
            "tp": tp, "fp": fp, "fn": fn}


def _share(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def errors(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """Every sample row decided other than its label, with the rule that decided it."""
    wrong = rows.filter(pl.col("label") != pl.col("content_kind"))
    return wrong.select("split", "artist", "title", "label", "content_kind", "content_kind_rule").to_dicts()


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method; the last coefficient is the intercept."""
    x = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x.shape[1])
    penalty = np.eye(x.shape[1]) * l2
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        w -= np.linalg.solve((x * (p * (1 - p))[:, None]).T @ x + penalty, x.T @ (p - y) + penalty @ w)
    return w


def learnt(rows: pl.DataFrame, store: Any) -> tuple[pl.DataFrame, dict[str, float]]:
    """The test half decided by a logistic regression on the raw evidence (every weight 1), fitted on the
    dev half, where the hand-set weights decided by evidence (rules 1-4 stay); the test rows and the
    coefficients."""
    columns = list(KindRules.evidence())
    evidence = item_evidence(read_inputs(store), KindRules(**{name: 1.0 for name in columns}))
    scored = rows.join(evidence.select("item_id", *columns), on="item_id", how="left")
    rule = pl.col("content_kind_rule")
    by_evidence = rule.str.starts_with("evidence") | rule.str.starts_with("no spoken")
    dev = scored.filter((pl.col("split") == "dev") & by_evidence)
    w = logistic(dev.select(columns).to_numpy().astype(float), (dev["label"] == "podcast").to_numpy().astype(float))
    test = scored.filter(pl.col("split") == "test")
    x = np.hstack([test.select(columns).fill_null(0.0).to_numpy().astype(float), np.ones((test.height, 1))])
    podcast = pl.Series((1.0 / (1.0 + np.exp(-x @ w))) >= 0.5)
    kind = pl.when(podcast).then(pl.lit("podcast")).otherwise(pl.lit("music"))
    test = test.with_columns(pl.when(by_evidence).then(kind).otherwise(pl.col("content_kind")).alias("learnt"))
    return test, {c: round(float(v), 3) for c, v in zip([*columns, "intercept"], w, strict=True)}


def show_keys() -> set[str]:
    """The folded names of every show of podcast-metadata."""
    frames = [pl.read_csv(SHARED / "podcast-metadata" / file, columns=[column]).rename({column: "name"})
              for file, column in METADATA]
    return set(pl.concat(frames).select(show_key(pl.col("name")))["name"].to_list()) - {""}


def surfaces(store: Any, model_name: str, music_only: bool, shows: set[str], collisions: set[str],
             seeds: int = 200) -> dict[str, Any]:
    """Every listener's Discover Weekly (30 tracks) and the 10 tracks most like each of ``seeds`` music
    tracks drawn from those listened to (most have one listener), from ``model_name``: slots whose track
    is not music (as decided now), slots by an artist named like a podcast-metadata show (the sample's
    bands that share a show's name left out), listeners with any such slot, distinct tracks.
    ``music_only=False`` is the path before content kinds: trained on everything, no guard."""
    model = create(model_name).fit(TrainingData.from_store(store, music_only=music_only))
    played = heard(store.events()).collect()
    users = played["user_id"].unique().sort().to_list()
    tracks = store.entities("tracks")
    lists = discover_weekly_batch(model, users, played, tracks if music_only else tracks.drop("content_kind"))
    kinds = tracks.select("track_id", "content_kind", "artist_name")
    named = lists.join(kinds, on="track_id", how="left")
    spoken = pl.col("content_kind").is_in(sorted(NOT_MUSIC)).fill_null(False)
    show = show_key(pl.col("artist_name").fill_null("")).is_in(sorted(shows - collisions))
    bad = named.filter(spoken | show)
    music = played.join(kinds.filter(pl.col("content_kind") == "music"), left_on="item_id", right_on="track_id")
    drawn = music["item_id"].unique().sort().sample(seeds, seed=7).to_list()
    similar = pl.concat([model.similar_items(seed, 10) for seed in drawn])
    like = similar.join(kinds, left_on="item_id", right_on="track_id", how="left")
    return {"model": model_name, "music_only": music_only, "listeners": len(users), "slots": lists.height,
            "distinct_tracks": lists["track_id"].n_unique(),
            "not_music_slots": int(named.select(spoken.sum()).item()),
            "show_artist_slots": int(named.select(show.sum()).item()),
            "listeners_with_any": bad["user_id"].n_unique(),
            "similar_seeds": len(drawn), "similar_tracks": like.height,
            "similar_not_music": int(like.select(spoken.sum()).item())}


def table(result: dict[str, Any]) -> list[str]:
    """The docs section: the sample's parts, the logistic regression, and Discover Weekly before/after."""
    lines = [BEGIN, "", "| sample part | items | podcasts | precision (95 % CI) | recall (95 % CI) | "
             "podcasts kept off music | music kept |", "|---|---:|---:|---|---|---:|---:|"]
    for part, s in result["parts"].items():
        lines.append(f"| {part} | {s['items']} | {s['podcasts']} | {_f(s['precision'])} ({_ci(s['precision_ci'])}) "
                     f"| {_f(s['recall'])} ({_ci(s['recall_ci'])}) | {_f(s['podcasts_off_music'])} | "
                     f"{_f(s['music_kept'])} |")
    lr, test = result["logistic_test"], result["parts"]["test"]
    lines += ["", f"A logistic regression on the same evidence, fitted on the dev half, on the test half: precision "
              f"{lr['precision']:.3f}, recall {lr['recall']:.3f} (the hand-set weights on the same rows: "
              f"{test['precision']:.3f}, {test['recall']:.3f}).", ""]
    if result.get("discover_weekly"):
        lines += ["| model | trained on | Discover Weekly tracks not music | … by a show's name | listeners with any "
                  "| distinct DW tracks | similar tracks not music |", "|---|---|---:|---:|---:|---:|---:|"]
        for dw in result["discover_weekly"]:
            lines.append(f"| {dw['model']} | {'music only, guarded' if dw['music_only'] else 'everything (before)'} "
                         f"| {dw['not_music_slots']} / {dw['slots']} | {dw['show_artist_slots']} | "
                         f"{dw['listeners_with_any']} / {dw['listeners']} | {dw['distinct_tracks']} | "
                         f"{dw['similar_not_music']} / {dw['similar_tracks']} |")
        lines += ["", "Discover Weekly: 30 tracks for each of the 28 listeners; similar tracks: the 10 most like each "
                  "of 200 listened music tracks drawn at random, most of them with one listener (radio's and "
                  "\"similar\"'s candidates)."]
        lines.append("")
    lines += [f"Import of the three sources, with the decisions: {result['import_seconds']:.1f} s. "
              "`python bench/content_kinds.py`", "", END]
    return lines


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ci(ci: list[float] | None) -> str:
    return "–" if ci is None else f"{ci[0]:.3f}–{ci[1]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-surfaces", action="store_true", help="Skip the Discover Weekly comparison.")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"shared data not found at {SHARED} (set TASTEMAKER_SHARED_DATA)")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sample = pl.read_csv(SAMPLE)
    with tempfile.TemporaryDirectory() as tmp:
        store, seconds = build_store(Path(tmp) / "store")
        rows = labelled(sample, store, decide_kinds(read_inputs(store)))
        test, coefficients = learnt(rows, store)
        collisions = set(sample.filter(pl.col("label") == "music").select(show_key(pl.col("artist")))["artist"])
        shows = show_keys()
        measured = [] if args.no_surfaces else [surfaces(store, m, music_only, shows, collisions)
                                                for m in ("artist", "als") for music_only in (False, True)]
    parts = {"all": rows, "dev": rows.filter(pl.col("split") == "dev"),
             "test": rows.filter(pl.col("split") == "test"),
             "high confidence": rows.filter(pl.col("confidence") == "high"),
             "account export": rows.filter(pl.col("export") == "account"),
             "extended export": rows.filter(pl.col("export") == "extended"),
             **{f"selected as {s}": part for (s,), part in rows.group_by("selected_as", maintain_order=True)}}
    result = {"sample": str(SAMPLE.relative_to(ROOT)), "import_seconds": round(seconds, 2),
              "rules": asdict(KindRules()), "parts": {k: scores(v) for k, v in parts.items()},
              "logistic_test": scores(test, "learnt"), "logistic_coefficients": coefficients,
              "discover_weekly": measured, "errors": errors(rows),
              "machine": {"python": sys.version.split()[0], "platform": platform.platform()}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    replace_section(DOC, BEGIN, END, "Content kinds: podcasts in the account-data export", table(result))
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
