"""What the default model gives the 28 real listeners of the shared exports, through the product's Python API.

Imports the shared exports (the 26 account-data listeners u001..u026, the 2 extended exports e01, e02) and
podcast-metadata into a fresh workspace in a temporary folder (``bench/content_kinds.py``'s ``build_store``),
trains the default model (``Workspace.train("pipeline")``) and builds every music surface of every listener
from it: Discover Weekly (30), Daily Mixes, recommend (k=30), home (its track cards), radio from the
listener's most played artist, similar tracks of their most played track and similar artists of that
artist. Per listener it measures:

- how many of Discover Weekly's distinct artists the listener already played, and how many are new;
- distinct tracks across all their lists, and the slots they fill;
- items of a music surface that the labelled sample (``tests/fixtures/content_kinds_sample.csv``) calls a
  podcast, items by an artist named like a podcast-metadata show, items whose stored ``content_kind`` is
  not music (or that are no track of the catalogue at all);
- raw internal ids (``tr:``, ``ar:``, ``ep:``, ``sh:``, ``ab:`` + hex) in any text column a person reads.

Then the command line: ``playlist discover-weekly``, ``playlist daily-mix``, ``recommend``, ``home``,
``radio --artist``, ``similar --track`` and ``similar --artist`` for three listeners (most, median and
fewest plays), counting raw ids in what they print, and ``radio --artist "Bad Bunny"``.

    python bench/real_exports.py      # about 12 minutes on 2 cores, 5 of them training

Writes bench/results/real_exports.json and the section between the markers in docs/own-exports.md. Only
aggregates and per-listener counts keyed by the anonymous folder ids leave the process: no track or
artist name of a listener's history is written.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from content_kinds import SAMPLE, SHARED, build_store, labelled, show_keys  # noqa: E402  (bench/ is on sys.path)
from doc_section import replace_section  # noqa: E402

from tastemaker.api import Workspace
from tastemaker.domain import NOT_MUSIC
from tastemaker.features.kinds import music_events
from tastemaker.ingest.kind_signals import show_key
from tastemaker.ingest.kinds import decide_kinds, read_inputs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "real_exports.json"
DOC = ROOT / "docs" / "own-exports.md"
BEGIN, END = "<!-- real-exports:begin -->", "<!-- real-exports:end -->"
PYTHON = sys.executable
#: a raw internal id as ingest/identity.py and the readers make them: a kind prefix, then hex
RAW_ID = re.compile(r"\b(?:tr|ar|ep|sh|ab):u?[0-9a-f]{8,}")
#: columns that hold ids on purpose (the API's and --json's business); every other text column is read
ID_COLUMNS = frozenset({"user_id", "item_id", "track_id", "artist_id", "because", "shelf", "mix"})
DW_SIZE, K = 30, 30
#: earlier Discover Weekly diversity of the 28 listeners (distinct tracks in 28 x 30 slots), for comparison
EARLIER = {"als (earlier default)": 337, "artist": 754}
#: the doc's head, when there is no doc yet (the words about the lists are written by a person who read them)
HOME_INTRO = """# Your own exports: what the default model gives real listeners

`bench/real_exports.py` imports the shared real exports (26 Spotify account-data listeners, 2 extended
exports) and podcast-metadata into a fresh workspace, trains the default model (`tastemaker train
pipeline`) and reads every music surface each of the 28 listeners gets from it, through the Python API
(`docs/api.md`), and for three listeners (most, median and fewest plays) through the command line as a
person runs it. Only aggregates and per-listener counts are kept; no listener's tracks or artists are
written anywhere.
"""


@dataclass(frozen=True)
class Favourite:
    """A listener's most played music artist and track (by plays), the seeds of their radio and "similar"."""

    artist_id: str
    artist_name: str
    track_id: str
    track_label: str  # "Artist - Title", as the commands take it
    plays: int  # the listener's music plays


def favourites(ws: Workspace) -> dict[str, Favourite]:
    """Each listener's most played artist and track, from their music listening (ties: by id)."""
    tracks = ws.store.entities("tracks").select("track_id", "name", "artist_id", "artist_name")
    plays = (music_events(ws.store).filter(pl.col("type") != "impression").group_by("user_id", "item_id")
             .agg(pl.len().alias("plays")).collect()
             .join(tracks, left_on="item_id", right_on="track_id", how="inner"))
    artists = (plays.group_by("user_id", "artist_id", "artist_name").agg(pl.col("plays").sum())
               .sort(["user_id", "plays", "artist_id"], descending=[False, True, False]).unique("user_id", keep="first"))
    top = plays.sort(["user_id", "plays", "item_id"], descending=[False, True, False]).unique("user_id", keep="first")
    total = plays.group_by("user_id").agg(pl.col("plays").sum())
    rows = artists.join(top.select("user_id", "item_id", "name", pl.col("artist_name").alias("by")), on="user_id") \
        .join(total.rename({"plays": "all"}), on="user_id")
    return {r["user_id"]: Favourite(r["artist_id"], r["artist_name"], r["item_id"], f"{r['by']} - {r['name']}",
                                    int(r["all"])) for r in rows.sort("user_id").iter_rows(named=True)}


def timed(clock: dict[str, float], failed: list[str], name: str, call: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """``call()``, its seconds added to ``clock[name]``; a ``ValueError`` (the API's refusal) is an empty
    frame and ``name`` in ``failed`` (its message may name the listener's tracks: it is not kept)."""
    started = time.perf_counter()
    try:
        frame = call()
    except ValueError:
        failed.append(name)
        frame = pl.DataFrame()
    clock[name] = clock.get(name, 0.0) + time.perf_counter() - started
    return frame


def lists_of(ws: Workspace, user: str, fav: Favourite, clock: dict[str, float],
             failed: list[str]) -> dict[str, pl.DataFrame]:
    """Every music surface of ``user`` from the default model, each as the API returns it."""
    home = timed(clock, failed, "home", lambda: ws.home(user))
    if home.is_empty():
        home = pl.DataFrame(schema={"kind": pl.String, "item_id": pl.String, "shelf": pl.String,
                                    "shelf_title": pl.String})
    return {
        "discover_weekly": timed(clock, failed, "discover_weekly", lambda: ws.discover_weekly(user, DW_SIZE)),
        "daily_mixes": timed(clock, failed, "daily_mixes", lambda: ws.daily_mixes(user)),
        "recommend": timed(clock, failed, "recommend", lambda: ws.recommend(user, K)),
        "home": home.filter(pl.col("kind") == "track"),
        "home_other": home.filter(pl.col("kind") != "track"),
        "radio": timed(clock, failed, "radio", lambda: ws.radio(artist=fav.artist_id, k=K)),
        "similar_tracks": timed(clock, failed, "similar_tracks", lambda: ws.similar(fav.track_id, k=K)),
        "similar_artists": timed(clock, failed, "similar_artists", lambda: ws.similar(artist=fav.artist_id, k=K)),
    }


def track_ids_of(name: str, frame: pl.DataFrame) -> list[str]:
    """The track ids a track surface lists (none for the artist surface and home's other cards)."""
    if name in ("similar_artists", "home_other") or frame.is_empty():
        return []
    return frame["track_id" if name == "discover_weekly" else "item_id"].to_list()


def raw_ids(frame: pl.DataFrame) -> int:
    """Raw internal ids in the text columns a person reads (names, titles, reasons, descriptions)."""
    found = 0
    for column, dtype in frame.schema.items():
        if column not in ID_COLUMNS and dtype == pl.String:
            found += sum(len(RAW_ID.findall(v)) for v in frame[column].drop_nulls().to_list())
    return found


@dataclass(frozen=True)
class Checks:
    """What a music surface must not hold: the sample's podcasts, show names, items not decided music."""

    sample_podcast_tracks: frozenset[str]
    sample_podcast_artists: frozenset[str]  # folded names (show_key) of the sample's podcast "artists"
    show_names: frozenset[str]  # folded podcast-metadata show names, the sample's bands of that name left out
    kinds: dict[str, str]  # track id -> stored content_kind

    def count(self, lists: dict[str, pl.DataFrame]) -> dict[str, int]:
        """Items of the music surfaces (home's track cards, not its episode shelf) failing each check."""
        sample = shows = not_music = 0
        for name, frame in lists.items():
            if name == "home_other" or frame.is_empty():
                continue
            if name == "similar_artists":
                keys = frame.select(show_key(pl.col("name").fill_null("")))["name"].to_list()
                sample += sum(k in self.sample_podcast_artists for k in keys)
                shows += sum(k in self.show_names for k in keys)
                continue
            artist = "subtitle" if name == "home" else "artist_name"
            keys = frame.select(show_key(pl.col(artist).fill_null("")))[artist].to_list()
            ids = track_ids_of(name, frame)
            sample += sum(i in self.sample_podcast_tracks for i in ids)
            shows += sum(k in self.show_names for k in keys)
            not_music += sum(self.kinds.get(i, "not a track") in NOT_MUSIC | {"not a track"} for i in ids)
        return {"sample_podcast": sample, "show_name": shows, "not_music": not_music}


def checks(ws: Workspace) -> Checks:
    """The sample's podcast items (by stored id, as bench/content_kinds.py finds them), the show names of
    podcast-metadata and every track's stored kind."""
    sample = pl.read_csv(SAMPLE)
    rows = labelled(sample, ws.store, decide_kinds(read_inputs(ws.store)))
    podcasts = rows.filter(pl.col("label") == "podcast")
    music_names = set(sample.filter(pl.col("label") == "music").select(show_key(pl.col("artist")))["artist"])
    podcast_names = set(podcasts.select(show_key(pl.col("artist")))["artist"]) - music_names
    tracks = ws.store.entities("tracks").select("track_id", "content_kind")
    return Checks(frozenset(podcasts["item_id"].to_list()), frozenset(podcast_names),
                  frozenset(show_keys() - music_names),
                  dict(zip(tracks["track_id"].to_list(), tracks["content_kind"].to_list(), strict=True)))


def listener(ws: Workspace, user: str, fav: Favourite, check: Checks, clock: dict[str, float]
             ) -> tuple[dict[str, Any], list[str]]:
    """One listener's counts, and their Discover Weekly's track ids."""
    failed: list[str] = []
    lists = lists_of(ws, user, fav, clock, failed)
    played = set(music_events(ws.store).filter((pl.col("user_id") == user) & (pl.col("type") != "impression"))
                 .select("item_id").unique().collect()["item_id"].to_list())
    artist_of = ws.store.entities("tracks").select("track_id", "artist_id")
    known = set(artist_of.filter(pl.col("track_id").is_in(sorted(played)))["artist_id"].to_list())
    dw = lists["discover_weekly"]
    dw = dw.join(artist_of, on="track_id", how="left") if dw.height else pl.DataFrame(
        schema={"track_id": pl.String, "artist_id": pl.String})
    dw_artists = set(dw["artist_id"].drop_nulls().to_list())
    before = len(dw_artists & known)
    ids = [i for name, frame in lists.items() for i in track_ids_of(name, frame)]
    radio = lists["radio"]
    row = {"user": user, "music_plays": fav.plays,
           "dw_tracks": dw.height, "dw_artists": len(dw_artists), "dw_artists_before": before,
           "dw_share_before": round(before / len(dw_artists), 4) if dw_artists else None,
           "dw_share_new": round(1 - before / len(dw_artists), 4) if dw_artists else None,
           "slots": len(ids), "distinct_tracks": len(set(ids)),
           "slots_by_surface": {name: frame.height for name, frame in lists.items()},
           "daily_mixes": lists["daily_mixes"]["mix"].n_unique() if lists["daily_mixes"].height else 0,
           "home_shelves": sorted(set(lists["home"]["shelf_title"].to_list()) if lists["home"].height else set()),
           "home_other_kinds": sorted(set(lists["home_other"]["kind"].to_list())) if lists["home_other"].height else [],
           "radio_by_seed_artist": radio.join(artist_of, left_on="item_id", right_on="track_id", how="left")
           .filter(pl.col("artist_id") == fav.artist_id).height if radio.height else 0,
           "recommend_artists": _artists(lists["recommend"], artist_of),
           "home_recommended_cards": _shelf(lists["home"], "recommended"),
           "home_because_cards": _shelf(lists["home"], "because-"),
           "similar_tracks_empty": lists["similar_tracks"].is_empty(),
           "similar_artists_empty": lists["similar_artists"].is_empty(),
           "errors": failed,
           **check.count(lists),
           "raw_ids": {name: raw_ids(frame) for name, frame in lists.items()}}
    row["home_shelves"] = [_shelf_kind(t) for t in row["home_shelves"]]
    return row, dw["track_id"].to_list()


def _artists(frame: pl.DataFrame, artist_of: pl.DataFrame) -> int:
    """Distinct artists of a list of ``item_id`` tracks."""
    if frame.is_empty():
        return 0
    return frame.join(artist_of, left_on="item_id", right_on="track_id", how="left")["artist_id"].n_unique()


def _shelf(home: pl.DataFrame, key: str) -> int:
    """Track cards of the home shelf whose key starts with ``key``."""
    return home.filter(pl.col("shelf").str.starts_with(key)).height if home.height else 0


def _shelf_kind(title: str) -> str:
    """A shelf title without the listener's track in it ("Because you played X" names one)."""
    return "Because you played ..." if title.startswith("Because you played") else title


def cli(workspace: Path, *args: str) -> tuple[int, str, float]:
    """Run ``tastemaker --workspace W ARGS`` as a person would; exit code, stdout + stderr, seconds. A wide
    terminal, so that Rich does not wrap an id over two lines."""
    env = {**os.environ, "COLUMNS": "400", "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    started = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "tastemaker", "--workspace", str(workspace), *args],
                          capture_output=True, text=True, env=env, check=False)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def cli_checks(ws: Workspace, users: Iterable[str], favs: dict[str, Favourite]) -> dict[str, Any]:
    """Every listed command for ``users``: exit code and raw ids printed, per command (no output kept)."""
    runs = []
    for user in users:
        fav = favs[user]
        for name, args in (("discover-weekly", ("playlist", "discover-weekly", "--user", user)),
                           ("daily-mix", ("playlist", "daily-mix", "--user", user)),
                           ("recommend", ("recommend", "--user", user, "-k", str(K))),
                           ("home", ("home", "--user", user)),
                           ("radio --artist", ("radio", "--artist", fav.artist_name)),
                           ("similar --track", ("similar", "--track", fav.track_label)),
                           ("similar --artist", ("similar", "--artist", fav.artist_name))):
            code, text, seconds = cli(ws.path, *args)
            runs.append({"user": user, "command": name, "exit": code, "raw_ids": len(RAW_ID.findall(text)),
                         "lines": text.count("\n"), "seconds": round(seconds, 1)})
    return {"runs": runs, "raw_ids": sum(r["raw_ids"] for r in runs), "failed": sum(r["exit"] != 0 for r in runs)}


def bad_bunny(ws: Workspace) -> dict[str, Any]:
    """``radio --artist "Bad Bunny"`` on the command line (raw ids, exit code) and through the API (who)."""
    code, text, seconds = cli(ws.path, "radio", "--artist", "Bad Bunny")
    queue = ws.radio(artist="Bad Bunny", k=10)
    by = int((queue["artist_name"] == "Bad Bunny").sum()) if queue.height else 0
    return {"cli_exit": code, "cli_raw_ids": len(RAW_ID.findall(text)), "cli_seconds": round(seconds, 1),
            "tracks": queue.height, "by_bad_bunny": by, "by_others": queue.height - by,
            "other_artists": queue.filter(pl.col("artist_name") != "Bad Bunny")["artist_name"].n_unique(),
            "api_raw_ids": raw_ids(queue)}


def spread(values: list[float]) -> dict[str, float]:
    """min, median and max."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def summary(rows: list[dict[str, Any]], dw_ids: list[str]) -> dict[str, Any]:
    """The aggregates of the per-listener rows."""
    shares = [r["dw_share_before"] for r in rows if r["dw_share_before"] is not None]
    return {"listeners": len(rows), "dw_slots": len(dw_ids), "dw_distinct_tracks": len(set(dw_ids)),
            "dw_share_before": spread(shares), "dw_share_new": spread([1 - s for s in shares]),
            "distinct_tracks": spread([r["distinct_tracks"] for r in rows]), "slots": spread([r["slots"] for r in rows]),
            **{k: sum(r[k] for r in rows) for k in ("sample_podcast", "show_name", "not_music")},
            "listeners_with_podcast_items": sum(r["sample_podcast"] + r["show_name"] + r["not_music"] > 0 for r in rows),
            "api_raw_ids": sum(sum(r["raw_ids"].values()) for r in rows),
            "short_dw": sum(r["dw_tracks"] < DW_SIZE for r in rows),
            "recommend_artists": spread([r["recommend_artists"] for r in rows]),
            "recommend_one_artist": sum(r["recommend_artists"] == 1 for r in rows),
            "home_recommended_cards": spread([r["home_recommended_cards"] for r in rows]),
            "home_without_recommended": sum(r["home_recommended_cards"] == 0 for r in rows),
            "home_without_because": sum(r["home_because_cards"] == 0 for r in rows),
            "radio_by_seed_artist": spread([r["radio_by_seed_artist"] for r in rows]),
            "radio_without_seed_artist": sum(r["radio_by_seed_artist"] == 0 for r in rows),
            "errors": sum(len(r["errors"]) for r in rows),
            "similar_tracks_empty": sum(r["similar_tracks_empty"] for r in rows),
            "similar_artists_empty": sum(r["similar_artists_empty"] for r in rows),
            "no_daily_mix": sum(r["daily_mixes"] == 0 for r in rows)}


def section(result: dict[str, Any]) -> list[str]:
    """The doc's measured section."""
    s, t, b, c = result["summary"], result["seconds"], result["bad_bunny"], result["cli"]
    share, new, dist, slots = s["dw_share_before"], s["dw_share_new"], s["distinct_tracks"], s["slots"]
    lines = [BEGIN, "", f"| per listener ({s['listeners']}) | min | median | max |", "|---|---:|---:|---:|",
             f"| Discover Weekly artists the listener already played | {share['min']:.2f} | {share['median']:.2f} | "
             f"{share['max']:.2f} |",
             f"| … new to them | {new['min']:.2f} | {new['median']:.2f} | {new['max']:.2f} |",
             _row("distinct tracks across all their lists", dist), _row("track slots across all their lists", slots),
             _row(f"artists among `recommend`'s {K} tracks", s["recommend_artists"]),
             _row("cards of home's *Recommended for you*", s["home_recommended_cards"]),
             _row(f"tracks by the seed artist in radio from their most played artist ({K})", s["radio_by_seed_artist"]),
             "", "| Discover Weekly of the 28 listeners | distinct tracks in the slots |", "|---|---:|",
             f"| pipeline (the default now) | {s['dw_distinct_tracks']} / {s['dw_slots']} |",
             *[f"| {name} | {n} / 840 |" for name, n in EARLIER.items()], "",
             "| what a music surface must not hold | items |", "|---|---:|",
             f"| labelled podcast in the sample | {s['sample_podcast']} |",
             f"| by an artist named like a podcast-metadata show | {s['show_name']} |",
             f"| stored `content_kind` not music (or no track) | {s['not_music']} |",
             f"| raw ids in the API's names and reasons | {s['api_raw_ids']} |",
             f"| raw ids printed by {len(c['runs'])} commands (3 listeners) | {c['raw_ids']} |",
             f"| API calls refused (`ValueError`) / commands failed | {s['errors']} / {c['failed']} |", "",
             f"Listeners whose most played track nothing is like yet (too few shared listeners): "
             f"{s['similar_tracks_empty']}; whose most played artist no artist is like yet: "
             f"{s['similar_artists_empty']}. Listeners with a Discover Weekly under {DW_SIZE} tracks: {s['short_dw']}; "
             f"with no Daily Mix: {s['no_daily_mix']}; whose `recommend` is one artist: {s['recommend_one_artist']}; "
             f"whose home has no *Recommended for you*: {s['home_without_recommended']}, no *Because you played*: "
             f"{s['home_without_because']}; whose artist radio holds none of that artist: "
             f"{s['radio_without_seed_artist']}.", "",
             f"`radio --artist \"Bad Bunny\"`: exit {b['cli_exit']}, {b['tracks']} tracks, {b['by_bad_bunny']} by "
             f"Bad Bunny and {b['by_others']} by {b['other_artists']} other artists, {b['cli_raw_ids']} raw ids.", "",
             f"Lists are Discover Weekly ({DW_SIZE}), the Daily Mixes, recommend ({K}), home's track cards, radio "
             f"from the listener's most played artist ({K}), the {K} tracks most like their most played track and the "
             f"{K} artists most like that artist. Import {t['import']:.0f} s, `train pipeline` {t['train']:.0f} s, "
             f"every list of the 28 listeners {t['lists']:.0f} s, the {len(c['runs']) + 1} commands {t['cli']:.0f} s; "
             f"whole run {t['total'] / 60:.1f} min. `python bench/real_exports.py`", "", END]
    return lines


def _row(label: str, values: dict[str, float]) -> str:
    return f"| {label} | {values['min']:g} | {values['median']:g} | {values['max']:g} |"


def main() -> None:
    if not SHARED.is_dir():
        raise SystemExit(f"shared data not found at {SHARED} (set TASTEMAKER_SHARED_DATA)")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tm-real-exports-") as tmp:
        _, import_seconds = build_store(Path(tmp) / "store")
        ws = Workspace.create(tmp)
        trained = ws.train("pipeline")
        train_seconds = sum(trained.seconds.values())
        print(f"trained {trained.model} {trained.version} in {train_seconds:.0f} s", file=sys.stderr)
        favs, check = favourites(ws), checks(ws)
        clock: dict[str, float] = {}
        lists_started = time.perf_counter()
        rows: list[dict[str, Any]] = []
        dw_ids: list[str] = []
        for user in sorted(favs):
            row, dw = listener(ws, user, favs[user], check, clock)
            rows.append(row)
            dw_ids += dw
            print(f"{user}: {row['distinct_tracks']} distinct of {row['slots']} slots", file=sys.stderr)
        lists_seconds = time.perf_counter() - lists_started
        by_plays = sorted(favs, key=lambda u: (-favs[u].plays, u))
        chosen = [by_plays[0], by_plays[len(by_plays) // 2], by_plays[-1]]
        cli_started = time.perf_counter()
        commands, bunny = cli_checks(ws, chosen, favs), bad_bunny(ws)
        cli_seconds = time.perf_counter() - cli_started
    result = {"model": {"name": trained.model, "version": trained.version, "pairs": trained.pairs,
                        **{k: trained.summary.get(k) for k in ("blend", "blend_members", "oof_ndcg@10")}},
              "summary": summary(rows, dw_ids), "listeners": rows, "cli": commands, "bad_bunny": bunny,
              "seconds": {"import": round(import_seconds, 1), "train": round(train_seconds, 1),
                          "lists": round(lists_seconds, 1), "cli": round(cli_seconds, 1),
                          "per_surface": {k: round(v, 1) for k, v in clock.items()},
                          "total": round(time.perf_counter() - started, 1)},
              "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                          "cpus": os.cpu_count()}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    if not DOC.exists():
        DOC.write_text(HOME_INTRO)
    replace_section(DOC, BEGIN, END, "Measured", section(result))
    print("\n".join(section(result)))


if __name__ == "__main__":
    main()
