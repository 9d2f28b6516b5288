"""Discover Weekly scored on the fixed split ``spotify-basic-discovery-v2``, through the product a listener uses.

    python bench/discover_weekly_split.py [--split DIR]

Not the evaluate-split code: the split's train plays (``train_events.tsv.gz``, every play of the train period,
short ones included) are written as Spotify account-data exports (``<tmp>/exports/<user>/StreamingHistory0.json``)
in a temporary folder and imported with ``Workspace.import_(folder, "spotify-account")``, each subfolder one
listener; then ``Workspace.train(model)`` with the catalogue's defaults and ``Workspace.discover_weekly(None,
size=30, model=...)`` for every listener. The split's ``artist␟track`` item ids are mapped to the product's
track ids with the importer's own :func:`tastemaker.ingest.identity.track_ids`.

Each listener's list is scored like the split's protocol: the tracks in their valid targets are removed (what
they heard in train is already left out as heard), the first 10 that remain are compared with their test
targets (binary relevance) by :func:`tastemaker.evaluation.metrics.per_user` (NDCG@10, Recall@10); listeners
without a test target are skipped. The pipeline is compared with each single model user by user by
:func:`compare`: mean difference, bootstrap 95 % interval (10,000 resamples, seed 0, the product's
:func:`tastemaker.evaluation.significance.mean_interval`) and scipy's Wilcoxon signed-rank p. Next to them: the
peers' test numbers from the split README and the product's own ``evaluate-split`` numbers from
``bench/results/quality.json``.

Two diagnostics say where the playlist loses against those: each model's plain ``Workspace.recommend``
top list (same model, same exclusions, no per-artist cap) scored the same way, and one more model row,
``popularity`` with ``half_life_days=None`` (all-time counts, as the peers' popularity) next to its default
30-day half-life from the data's clock. The pipeline's chosen member settings are kept in the JSON.

Writes ``bench/results/discover_weekly_split.json`` and the table between the markers in docs/benchmarks.md.
Only counts and means are written: no listener, track or play of the data set.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from scipy import stats

from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)
from tastemaker.api import Workspace
from tastemaker.evaluation.metrics import TRACK_SEPARATOR, per_user
from tastemaker.evaluation.significance import mean_interval
from tastemaker.features.kinds import drop_not_music
from tastemaker.ingest.identity import track_ids

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT.parent / "shared" / "data" / "benchmarks" / "spotify-basic-discovery-v2"
RESULTS = ROOT / "bench" / "results" / "discover_weekly_split.json"
QUALITY = ROOT / "bench" / "results" / "quality.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- dw-split:begin -->", "<!-- dw-split:end -->"
TITLE = "Discover Weekly on spotify-basic-discovery-v2, through the product"
#: row label → (catalogue name, parameters); trained in this order, each scored before the next is trained (the
#: surfaces use a name's latest version)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "pipeline": ("pipeline", {}), "popularity": ("popularity", {}), "als": ("als", {}), "artist": ("artist", {}),
    "itemknn": ("itemknn", {}), "popularity, all-time": ("popularity", {"half_life_days": None}),
}
#: this bench's row → its row in quality.json (the product's evaluate-split run on the same split)
QUALITY_NAMES = {"pipeline": "pipeline", "popularity": "pop", "als": "als", "artist": "artist", "itemknn": "itemknn"}
SIZE, K = 30, 10  # the playlist's default length; the split's cut-off
N_BOOT, SEED = 10_000, 0
METRICS = (f"ndcg@{K}", f"recall@{K}")


def read_tsv(path: Path) -> pl.DataFrame:
    """A split file as strings (pandas wrote it: names holding a quote are quoted, so quotes are parsed)."""
    return pl.read_csv(path, separator="\t", infer_schema=False)


def write_exports(events: pl.DataFrame, folder: Path) -> dict[str, int]:
    """Write each listener's plays as the account-data export Spotify sends (``StreamingHistory0.json``, in play
    order) into ``folder/<user_id>/``; plays without an ``artist␟track`` id cannot be written and are counted."""
    named = events.filter(pl.col("item_id").str.contains(TRACK_SEPARATOR, literal=True))
    parts = named.with_columns(pl.col("item_id").str.split_exact(TRACK_SEPARATOR, 1)
                               .struct.rename_fields(["artistName", "trackName"]).alias("names")).unnest("names")
    records = parts.select(pl.col("user_id"), pl.col("end_time").alias("endTime"), "artistName", "trackName",
                           pl.col("ms_played").cast(pl.Int64).alias("msPlayed"))
    for (user,), plays in records.group_by("user_id", maintain_order=True):
        (folder / str(user)).mkdir(parents=True)
        (folder / str(user) / "StreamingHistory0.json").write_bytes(orjson.dumps(plays.drop("user_id").to_dicts()))
    ends = records.group_by("user_id").agg(pl.col("endTime").str.to_datetime("%Y-%m-%d %H:%M").max().alias("end"))
    behind = (ends["end"].max() - ends["end"]).dt.total_hours() / 24  # days a listener's train ends before the newest
    return {"plays": events.height, "written": records.height, "unnamed_skipped": events.height - named.height,
            "listeners": records["user_id"].n_unique(),
            "train_end_days_before_newest": {"median": round(float(behind.median() or 0.0)),
                                             "max": round(float(behind.max() or 0.0)),
                                             "listeners_over_30": int((behind > 30).sum())}}


def product_ids(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` (``user_id, item_id`` with split ids) with ``item_id`` replaced by the product's track id, as the
    importer derives it from the same artist and track names; ``split_id`` keeps the split's id."""
    names = pairs["item_id"].str.split_exact(TRACK_SEPARATOR, 1)
    ids = track_ids(names.struct.field("field_0"), names.struct.field("field_1"))
    return pairs.select("user_id", pl.col("item_id").alias("split_id"), ids.alias("item_id"))


def target_coverage(name: str, split: pl.DataFrame, mapped: pl.DataFrame, tracks: pl.DataFrame,
                    heard: pl.DataFrame) -> dict[str, Any]:
    """How the split's ``name`` targets land in the store: mapped at all, onto a track of the store, onto one the
    import decided is music (a podcast or unknown track is never in a music list), onto one the listener already
    heard there (short plays count as heard: never in their list), and how many distinct targets remain once
    name normalisation has folded split ids together."""
    known = mapped.join(tracks.select(pl.col("track_id").alias("item_id")), on="item_id", how="semi")
    already = mapped.join(heard, on=["user_id", "item_id"], how="semi")
    listable = drop_not_music(known, tracks).join(heard, on=["user_id", "item_id"], how="anti")
    unique = mapped.drop_nulls("item_id").select("user_id", "item_id").unique()
    return {"part": name, "pairs": split.height, "users": split["user_id"].n_unique(),
            "mapped": int(mapped["item_id"].is_not_null().sum()), "in_store": known.height,
            "in_store_share": round(known.height / max(split.height, 1), 4),
            "music_in_store": drop_not_music(known, tracks).height, "already_heard_by_listener": already.height,
            "listable": listable.height, "distinct_after_mapping": unique.height}


def without_valid(ordered: pl.DataFrame, valid: pl.DataFrame, order: str) -> pl.DataFrame:
    """``user_id, item_id, rank``: each listener's items by ``order`` with their valid targets taken out, ranks
    counted again from 1 (the split's test protocol excludes valid items)."""
    kept = ordered.select("user_id", "item_id", order).join(valid, on=["user_id", "item_id"], how="anti")
    return kept.sort("user_id", order).with_columns(pl.int_range(1, pl.len() + 1).over("user_id").alias("rank"))


def score(lists: pl.DataFrame, valid: pl.DataFrame, test: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Per-listener metrics of the lists (valid targets removed, first ``K`` kept) and what was removed on the way."""
    ranked = without_valid(lists.rename({"track_id": "item_id"}), valid, "position")
    scored = per_user(ranked, test, K)
    lengths = lists.group_by("user_id").len()["len"]
    facts = {
        "listeners_with_list": lists["user_id"].n_unique(),
        "list_length_min": int(lengths.min() or 0), "list_length_max": int(lengths.max() or 0),
        "valid_targets_in_lists": lists.height - ranked.height,
        "listeners_with_valid_in_list": lists.join(valid.rename({"item_id": "track_id"}), on=["user_id", "track_id"],
                                                   how="semi")["user_id"].n_unique(),
        "test_hits_in_top_k": int(ranked.filter(pl.col("rank") <= K).join(test, on=["user_id", "item_id"],
                                                                        how="semi").height),
        "test_hits_in_whole_list": int(lists.rename({"track_id": "item_id"}).join(test, on=["user_id", "item_id"],
                                                                                   how="semi").height),
        "listeners_with_a_hit": int((scored[f"recall@{K}"] > 0).sum()),
        "listeners_scored": scored.height,
    }
    return scored, facts


def score_recommend(ws: Workspace, users: list[str], model: str, valid: pl.DataFrame,
                    test: pl.DataFrame) -> dict[str, float]:
    """The same model's plain top list (``Workspace.recommend``: unheard tracks, no per-artist cap), scored alike."""
    depth = K + int(valid.group_by("user_id").len()["len"].max() or 0)  # enough left after the valid targets go
    recs = pl.concat([ws.recommend(user, k=depth, model=model).select(pl.lit(user).alias("user_id"), "item_id",
                                                                     "rank") for user in users])
    scored = per_user(without_valid(recs, valid, "rank"), test, K)
    return {m: round(float(scored[m].mean() or 0.0), 4) for m in METRICS}


def compare(a: pl.DataFrame, b: pl.DataFrame, metric: str) -> dict[str, Any]:
    """B minus A on ``metric`` over the listeners both score, in listener order (so the seeded bootstrap gives
    the same interval every run): mean, percentile 95 % interval of the mean, Wilcoxon signed-rank p (listeners
    with no difference are left out of it, as scipy does; p = 1 when none differ) and the paired t-test's p."""
    joined = a.select("user_id", pl.col(metric).alias("a")).join(
        b.select("user_id", pl.col(metric).alias("b")), on="user_id").sort("user_id")
    x, y = joined["a"].to_numpy(), joined["b"].to_numpy()
    diff = y - x
    low, high = mean_interval(diff, N_BOOT, SEED)
    differ = bool(diff.any())
    return {"users": joined.height, "users_differing": int((diff != 0).sum()),
            "mean_diff": round(float(diff.mean()), 4), "ci95": [round(low, 4), round(high, 4)],
            "wilcoxon_p": round(float(stats.wilcoxon(y, x).pvalue), 4) if differ else 1.0,
            "paired_t_p": round(float(stats.ttest_rel(y, x).pvalue), 4) if differ else 1.0}


def peers_from_readme(readme: Path, split: str) -> dict[str, dict[str, float]]:
    """The README's peer table rows for ``split``: ``{metric: {peer: test value}}`` (bold marks dropped)."""
    header: list[str] = []
    rows: dict[str, dict[str, float]] = {}
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["split", "metric"]:
            header = cells
        elif header and cells[0] == split:
            values = {}
            for peer, cell in zip(header[2:], cells[2:], strict=False):
                number = re.sub(r"[*`]", "", cell)
                if re.fullmatch(r"\d+(\.\d+)?", number):
                    values[peer] = float(number)
            rows[cells[1]] = values
    return rows


def evaluate_split_numbers(split: str) -> dict[str, dict[str, Any]]:
    """The product's own ``evaluate-split`` test numbers on ``split`` from bench/results/quality.json (each model at
    the setting it chose on valid, fit on train.tsv: ≥ 30 s plays only, no per-artist cap)."""
    if not QUALITY.exists():
        return {}
    models = json.loads(QUALITY.read_text()).get(split, {})
    out = {}
    for ours, theirs in QUALITY_NAMES.items():
        row = models.get(theirs) or {}
        if METRICS[0] in row:
            out[ours] = {m: row[m] for m in METRICS} | ({"params": row["params"]} if "params" in row else {})
    return out


def short(peer: str) -> str:
    """A README peer column without its parenthesis: "BPR (implicit)" → "BPR"."""
    return re.sub(r"\s*\(.*\)", "", peer)


def write_doc(result: dict[str, Any]) -> None:
    cov, models = result["targets"]["test"], result["models"]
    peers, product = result["peers_readme"], result["evaluate_split"]
    n = result["listeners_scored"]
    lines = [
        BEGIN, "",
        f"`python bench/discover_weekly_split.py` ({result['date']}, {result['total_seconds'] / 60:.1f} min on a "
        "shared 2-core machine). What a listener of the product gets: the split's train plays "
        f"({result['exports']['written']:,} plays of {result['exports']['listeners']} listeners, short plays "
        "included) written as Spotify account-data exports, imported with `spotify-account`, each model trained "
        "with its catalogue defaults (`Workspace.train`), and every listener's 30-track Discover Weekly "
        "(`Workspace.discover_weekly(None, size=30, model=...)`, at most two tracks per artist, nothing they "
        "played). Each list is scored like the split's protocol: the listener's valid targets are removed, the "
        f"first {K} that remain are compared with their test targets. Test targets map to a track of the store "
        f"for {cov['in_store']:,} of {cov['pairs']:,} pairs ({100 * cov['in_store_share']:.1f} %); "
        f"{cov['already_heard_by_listener']} of them the listener had already played in train (under 30 s, or a "
        "name the importer folds onto a track they played) and "
        f"{cov['in_store'] - cov['music_in_store']} are tracks the import decided are podcasts or unknown, so "
        f"{cov['listable']:,} ({100 * cov['listable'] / max(cov['pairs'], 1):.1f} %) can be in a Discover Weekly "
        f"at all. {n} listeners are scored (every listener has test targets).", "",
        "| model | NDCG@10 | Recall@10 | listeners with a hit | pipeline − model, NDCG@10 [95 % interval] | "
        "Wilcoxon p | same model's `recommend`, no artist cap: NDCG@10 / Recall@10 | "
        "`evaluate-split`: NDCG@10 / Recall@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in models.items():
        vs = result["pipeline_vs"].get(name)
        diff = (f"{vs['mean_diff']:+.4f} [{vs['ci95'][0]:+.4f}, {vs['ci95'][1]:+.4f}]" if vs else "–")
        p = f"{vs['wilcoxon_p']:.3f}" if vs else "–"
        ev, rec = product.get(name), row["recommend_no_artist_cap"]
        evs = f"{ev['ndcg@10']:.4f} / {ev['recall@10']:.4f}" if ev else "–"
        label = f"**{name}**" if name == "pipeline" else name
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        label += f" (`{params}`)" if params else ""
        lines.append(f"| {label} | {row['ndcg@10']:.4f} | {row['recall@10']:.4f} | "
                     f"{row['facts']['listeners_with_a_hit']} of {row['facts']['listeners_scored']} | {diff} | {p} | "
                     f"{rec['ndcg@10']:.4f} / {rec['recall@10']:.4f} | {evs} |")
    pipe = models.get("pipeline", {})
    serving = (pipe.get("summary") or {}).get("serving_members", [])
    chosen = pipe.get("members_chosen", {})
    served = ", ".join(f"{m} ({', '.join(f'{k}={v}' for k, v in (chosen.get(m) or {}).items()) or 'defaults'})"
                       for m in serving)
    ndcg, recall = peers.get("NDCG@10", {}), peers.get("Recall@10", {})
    peer_cells = ", ".join(f"{short(peer)} {ndcg[peer]:.4f} / {recall[peer]:.4f}" if peer in recall else
                           f"{short(peer)} {ndcg[peer]:.4f}" for peer in ndcg)
    widths = [vs["ci95"][1] - vs["ci95"][0] for vs in result["pipeline_vs"].values()] or [float("nan")]
    lag = result["exports"]["train_end_days_before_newest"]
    differing = [vs["users_differing"] for vs in result["pipeline_vs"].values()] or [0]
    ahead = [name for name, vs in result["pipeline_vs"].items() if vs["ci95"][0] > 0]
    behind = [name for name, vs in result["pipeline_vs"].items() if vs["ci95"][1] < 0]
    cost = ", ".join(f"{name} {row['recommend_no_artist_cap']['ndcg@10']:.4f} → {row['ndcg@10']:.4f}"
                     for name, row in models.items()
                     if row["recommend_no_artist_cap"]["ndcg@10"] - row["ndcg@10"] >= 0.01)
    best = max(models, key=lambda m: models[m]["ndcg@10"])
    lines += [
        "",
        f"Peers on the same split (README, tuned on valid, test NDCG@10 / Recall@10): {peer_cells}. The "
        "`recommend` column is the same trained model's plain top list (`Workspace.recommend`: unheard tracks, "
        "no per-artist cap), scored the same way: the gap to the first column is what the playlist's rules "
        "cost or gain. The last column is the product's `tastemaker evaluate-split` on this split "
        "(bench/results/quality.json): fit on train.tsv's pairs (≥ 30 s plays) with train_events' times and "
        "skips, ranking the split's catalogue (tracks with a ≥ 30 s train play), each single model at the "
        "setting it chose on valid, no per-artist cap; here every model runs with its catalogue defaults, "
        "ranks every imported track and goes through the playlist's rules, so the columns differ by design. "
        + (f"The trained pipeline serves {served}, chosen on the last 10 % of each listener's train span."
           if served else ""), "",
        (f"**What the numbers mean.** The best playlist here is {best}'s (NDCG@10 {models[best]['ndcg@10']:.4f}, "
        f"a test target in the top 10 of {models[best]['facts']['listeners_with_a_hit']} of {n} listeners). "
        f"With {n} listeners one listener's list moves a mean NDCG@10 by up to 1/{n} ≈ {1 / n:.3f}, and the "
        f"95 % intervals of the paired differences are {min(widths):.3f} to {max(widths):.3f} wide: "
        + (f"the pipeline is ahead of {', '.join(ahead)} " if ahead else "")
        + ("and " if ahead and behind else "")
        + (f"behind {', '.join(behind)} " if behind else "")
        + ("with an interval that excludes 0 (Wilcoxon p: "
           + ", ".join(f"{m} {result['pipeline_vs'][m]['wilcoxon_p']:.3f}" for m in ahead + behind) + "); "
           if ahead or behind else "no interval excludes 0; ")
        + "every other difference is within the luck of which listeners the split holds, whatever its sign. "
        f"Most listeners have no hit in either list: the pipeline's and a single model's NDCG@10 differ for only "
        f"{min(differing)} to {max(differing)} of the {n} listeners, and each comparison rests on those. "
        f"Recall@10 is small for every model because a listener has many test targets (median "
        f"{cov['median_per_listener']}) and 10 slots. "
        + (f"The playlist's two-per-artist rule costs the models that find new tracks of known artists most: "
           f"{cost}. " if cost else "")
        + (f"Popularity's default 30-day half-life counts back from the data's clock, the newest play of any "
           f"listener, but the listeners' train periods end at their own times (the median one {lag['median']} days "
           f"before it, {lag['listeners_over_30']} of {n} over 30 days): its chart is the last month of very few "
           f"listeners, and gives {models['popularity']['ndcg@10']:.4f}; "
           f"all-time counts give {models['popularity, all-time']['ndcg@10']:.4f}, near the peers' popularity. "
           if "popularity" in models and "popularity, all-time" in models else "")).rstrip(), "",
        END,
    ]
    replace_section(DOC, BEGIN, END, TITLE, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=Path, default=SPLIT)
    args = parser.parse_args()
    started = time.perf_counter()

    events = read_tsv(args.split / "train_events.tsv.gz")
    valid_split, test_split = read_tsv(args.split / "valid.tsv.gz"), read_tsv(args.split / "test.tsv.gz")
    result: dict[str, Any] = {"split": args.split.name, "date": time.strftime("%Y-%m-%d"), "size": SIZE, "k": K,
                              "models": {}, "pipeline_vs": {}}
    with tempfile.TemporaryDirectory(prefix="tm-dw-split-") as tmp:
        exports = Path(tmp) / "exports"
        result["exports"] = write_exports(events, exports)
        ws = Workspace.create(Path(tmp) / "workspace")
        t0 = time.perf_counter()
        summary = ws.import_(exports, "spotify-account")
        result["import"] = {"seconds": round(time.perf_counter() - t0, 1), **{
            k: v for k, v in summary.as_dict().items() if k in ("files", "read", "accepted", "duplicates",
                                                                "quarantined", "kinds")}, "store": ws.stats()}
        print("import", json.dumps(result["import"]), flush=True)

        tracks = ws.store.entities("tracks")
        heard = (ws.store.events().filter(pl.col("type") != "impression").select("user_id", "item_id")
                 .unique().collect())
        valid, test = product_ids(valid_split), product_ids(test_split)
        result["targets"] = {name: target_coverage(name, split, mapped, tracks, heard)
                             for name, split, mapped in (("valid", valid_split, valid), ("test", test_split, test))}
        result["targets"]["test"]["median_per_listener"] = int(test_split.group_by("user_id").len()["len"].median())
        print("targets", json.dumps(result["targets"]), flush=True)
        valid_pairs = valid.drop_nulls("item_id").select("user_id", "item_id").unique()
        test_pairs = test.drop_nulls("item_id").select("user_id", "item_id").unique()
        test_users = sorted(test_pairs["user_id"].unique().to_list())

        per: dict[str, pl.DataFrame] = {}
        for label, (name, params) in MODELS.items():
            t0 = time.perf_counter()
            trained = ws.train(name, **params)
            t1 = time.perf_counter()
            lists = ws.discover_weekly(None, size=SIZE, model=name)
            t2 = time.perf_counter()
            per[label], facts = score(lists, valid_pairs, test_pairs)
            result["models"][label] = {
                "model": name, "params": params,
                **{m: round(float(per[label][m].mean() or 0.0), 4) for m in METRICS},
                "recommend_no_artist_cap": score_recommend(ws, test_users, name, valid_pairs, test_pairs),
                "train_seconds": round(t1 - t0, 1), "discover_weekly_seconds": round(t2 - t1, 1),
                "pairs": trained.pairs, "version": trained.version, "facts": facts,
                **({"summary": trained.summary} if trained.summary else {}),
            }
            report = getattr(ws.model(name), "report_", None)  # a pipeline's choices: each member's setting
            if isinstance(report, dict) and "members" in report:
                result["models"][label]["members_chosen"] = {
                    member: row.get("params", row.get("skipped")) for member, row in report["members"].items()}
            print(label, json.dumps({k: v for k, v in result["models"][label].items() if k != "summary"}), flush=True)

    result["listeners_scored"] = max(r["facts"]["listeners_scored"] for r in result["models"].values())
    for label in MODELS:
        if label == "pipeline":
            continue
        result["pipeline_vs"][label] = {**compare(per[label], per["pipeline"], f"ndcg@{K}"),
                                        "recall": compare(per[label], per["pipeline"], f"recall@{K}")}
    result["peers_readme"] = peers_from_readme(args.split.parent / "README.md", args.split.name)
    result["evaluate_split"] = evaluate_split_numbers(args.split.name)
    result["bootstrap"] = {"resamples": N_BOOT, "seed": SEED, "interval": "percentile 95 % of the mean difference"}
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.write_text(json.dumps(result, indent=1, default=str) + "\n")
    write_doc(result)
    print(json.dumps({k: result[k] for k in ("models", "pipeline_vs", "total_seconds")}, indent=1, default=str))


if __name__ == "__main__":
    main()
