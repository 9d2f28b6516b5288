"""Soak test of `tastemaker serve`: an hour of mixed load with forgets and model swaps, sampled each minute.

    python bench/soak.py                     # one hour (+ about 3 minutes to build the world once)
    python bench/soak.py --minutes 5         # a short run of the same thing

The workspace: a generated world of 20,000 listeners × 10,000 tracks, 20 plays each (seed 11),
imported, with `train popularity`, `train als` and `train ranker`, served by the real `tastemaker
serve --workers 2 --model als` on 127.0.0.1 (a fresh copy per run).

1. **The rate.** 60 s of closed-loop load (16 connections) with the soak's request mix gives the
   server's maximum (a minute, so that impression flushes and a compaction fall inside it); the soak
   runs at 80 % of it (``--share``).
2. **The soak** (``--minutes``, default 60): an open loop (requests scheduled at the fixed rate,
   latency measured from the scheduled time, so a stalled server cannot hide its queue) from a
   separate process, each request drawn from the mix: for-you 40 %, Discover Weekly 15 %, Daily
   Mixes 10 %, home 10 %, similar tracks 10 %, radio 10 %, ingest 5 % (a batch of 10 new plays).
   Every 3 minutes a listener is forgotten (``DELETE /v1/users/{id}``, an admin call); every 10
   minutes ALS is trained again (`tastemaker train als` in its own process, at the lowest CPU
   priority, ``nice -n 19``, as a retraining job sharing a box with its server should run) and
   the server swaps the new version in by itself.
3. **Sampled each minute**: the server's resident memory (every worker), the latency percentiles,
   requests and errors (any status other than 200, and transport failures), and the events
   segments in the store's manifest (ingest and impression flushes add them, compaction merges).
4. **At the end**: the server is stopped cleanly and the store is read: every acknowledged event
   of the soak's ingest must be there once (its batches name listeners who are never forgotten).

Writes bench/results/soak.json, docs/soak.png and the table between the markers in
docs/benchmarks.md. The acceptance (issue 19): 0 errors, 0 lost events, RSS at the end within
10 % of RSS after the first 10 minutes, p99 of the last 10 minutes within 1.5× of the first 10,
a bounded segment count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)
from serving import ENV, Pool, cpu_seconds, free_port, get, post, start_server, tm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "soak.json"
PLOT = ROOT / "docs" / "soak.png"
DOC = ROOT / "docs" / "benchmarks.md"
#: the request mix: kind -> share
MIX = {"for-you": 0.40, "discover-weekly": 0.15, "daily-mix": 0.10, "home": 0.10, "similar": 0.10,
       "radio": 0.10, "ingest": 0.05}
FORGET_EVERY_S = 180
SWAP_EVERY_S = 600
#: memory is sampled this often; each minute's row holds the median (and the extremes) of its samples
PROBE_EVERY_S = 5
#: listeners whose ingest batches are counted at the end (never forgotten), and the ones forgotten
INGEST_USERS, FORGET_FROM = 2_000, 10_000


def build(scratch: Path) -> Path:
    """The pristine workspace, built once."""
    ws = scratch / "ws"
    if (ws / "models" / "ranker" / "LATEST").exists():
        return ws
    shutil.rmtree(ws, ignore_errors=True)
    for args in (("generate", "--users", "20000", "--tracks", "10000", "--events-per-user", "20", "--seed", "11"),
                 ("import", "table", str(ws / "world")), ("train", "popularity"), ("train", "als"),
                 ("train", "ranker")):
        started = time.perf_counter()
        subprocess.run(tm(ws, *args), check=True, capture_output=True, env={**os.environ, **ENV})
        print(json.dumps({"build": args[0] + (" " + args[1] if args[0] in ("train", "import") else ""),
                          "s": round(time.perf_counter() - started, 1)}), flush=True)
    return ws


def requests(users: list[str], tracks: list[str], n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` requests of the mix, as (kind, raw HTTP bytes)."""
    import orjson

    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(MIX), size=n, p=list(MIX.values()))
    out = []
    base = int(time.time() * 1000) - 3_600_000
    for i, kind in enumerate(kinds):
        user = users[int(rng.integers(len(users)))]
        track = tracks[int(rng.integers(len(tracks)))]
        if kind == "ingest":
            who = users[int(rng.integers(INGEST_USERS))]
            events = [{"user_id": who, "item_id": tracks[int(rng.integers(len(tracks)))], "type": "play",
                       "ms_played": 180_000, "ts": (base + i * 10 + j) / 1000, "session_id": f"soak-{seed}-{i}"}
                      for j in range(10)]
            out.append((kind, post("/v1/events", orjson.dumps({"events": events}))))
        elif kind == "similar":
            out.append((kind, get(f"/v1/tracks/{track}/similar?n=10&user_id={user}")))
        elif kind == "radio":
            out.append((kind, get(f"/v1/radio?seed={track}&n=10&user_id={user}")))
        else:
            out.append((kind, get(f"/v1/users/{user}/recommendations?surface={kind}&n=10")))
    return out


async def closed(port: int, reqs: list[tuple[str, bytes]], seconds: float) -> float:
    pool, done, stop = Pool(port, 16), 0, time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while time.monotonic() < stop:
            await pool.call(reqs[i % len(reqs)][1])
            done += 1
            i += 16

    await asyncio.gather(*(worker(k) for k in range(16)))
    return done / seconds


async def soak_loop(port: int, reqs: list[tuple[str, bytes]], rate: float, seconds: float, log: Path) -> None:
    """Open loop: request i is scheduled at i / rate; one JSON line per request into ``log`` (buffered)."""
    pool = Pool(port, 256)
    start = time.monotonic()
    lines: list[str] = []
    handle = open(log, "w")

    async def one(i: int, at: float) -> None:
        kind, raw = reqs[i % len(reqs)]
        try:
            status, body = await asyncio.wait_for(pool.call(raw), timeout=30)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            status, body = 0, type(exc).__name__.encode()
        accepted = json.loads(body).get("accepted", 0) if kind == "ingest" and status == 200 else 0
        lines.append(json.dumps({"t": round(at, 3), "kind": kind, "ms": round((time.monotonic() - start - at) * 1000, 2),
                                 "status": status, "accepted": accepted}))
        if len(lines) >= 2000:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            lines.clear()

    tasks: set[asyncio.Task[None]] = set()
    total = int(rate * seconds)
    for i in range(total):
        at = i / rate
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, at))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*list(tasks))
    handle.write("\n".join(lines) + ("\n" if lines else ""))
    handle.close()


def client(spec_path: str) -> None:
    """The load generator's process."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    spec = json.loads(Path(spec_path).read_text())
    reqs = requests(spec["users"], spec["tracks"], 50_000, spec["seed"])
    if spec["phase"] == "max":
        print(json.dumps({"rps": asyncio.run(closed(spec["port"], reqs, spec["seconds"]))}))
    else:
        asyncio.run(soak_loop(spec["port"], reqs, spec["rate"], spec["seconds"], Path(spec["log"])))


def rss_mb(pid: int) -> tuple[float, float]:
    """The resident memory of the server and its workers, all of it and the anonymous part only (MiB): the
    rest maps files, the store's segments a scan read, which the kernel takes back when it needs them."""
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    rss = anon = 0
    for p in procs:
        try:
            rss += p.memory_info().rss
            status = Path(f"/proc/{p.pid}/status").read_text()
            anon += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("RssAnon:"))
        except (psutil.Error, OSError, StopIteration):
            continue
    return round(rss / 2**20, 1), round(anon / 2**20, 1)


def segments(ws: Path) -> int:
    manifest = json.loads((ws / "store" / "manifest.json").read_bytes())
    return len(manifest["tables"].get("events", []))


def minute_stats(log: Path, minutes: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line]
    out = []
    for m in range(minutes):
        mine = [r for r in rows if m * 60 <= r["t"] < (m + 1) * 60]
        ms = np.array([r["ms"] for r in mine]) if mine else np.zeros(1)
        out.append({"minute": m + 1, "requests": len(mine), "errors": sum(r["status"] != 200 for r in mine),
                    "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
                    "max_ms": round(float(ms.max()), 1)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--share", type=float, default=0.8, help="the soak's rate as a share of the maximum")
    parser.add_argument("--rps", type=float, help="the soak's rate in requests a second, instead of a share of the "
                        "maximum (the maximum varies with how the connections fall on the workers)")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "tastemaker-bench-soak")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="write the doc and plot again from "
                        "bench/results/soak.json (no run)")
    args = parser.parse_args()
    if args.client:
        client(args.client)
        return
    if args.report:
        result = json.loads(RESULTS.read_text())
        result.update(memory_medians(result["per_minute"], result["minutes"]))
        RESULTS.write_text(json.dumps(result, indent=1))
        plot(result["per_minute"], result["soak_rps"])
        write_doc(result)
        return
    import polars as pl

    from tastemaker.store import open_store

    args.scratch.mkdir(parents=True, exist_ok=True)
    pristine = build(args.scratch)
    ws = args.scratch / "run"
    shutil.rmtree(ws, ignore_errors=True)
    shutil.copytree(pristine, ws, ignore=shutil.ignore_patterns("world"))
    store = open_store(ws / "store")
    users = store.events().select("user_id").unique().sort("user_id").collect()["user_id"].to_list()
    # tracks somebody played (a follow's item is an artist: a track route answers it 404)
    tracks = (store.events().filter(pl.col("type") == "play").select("item_id").unique().sort("item_id")
              .collect()["item_id"].to_list())
    port = free_port()
    server = start_server("tastemaker", ws, port, workers=2, model="als")
    spec = {"port": port, "users": users, "tracks": tracks, "seed": 5}

    def launch(**extra: Any) -> subprocess.Popen[str]:
        path = args.scratch / f"spec-{extra['phase']}.json"
        path.write_text(json.dumps({**spec, **extra}))
        return subprocess.Popen([sys.executable, __file__, "--client", str(path)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, **ENV})

    maxed = launch(phase="max", seconds=60, seed=6)  # its own events: the soak's are counted at the end
    top = json.loads(maxed.communicate()[0])["rps"]
    rate = round(args.rps if args.rps else top * args.share, 1)
    print(json.dumps({"max_rps": round(top, 1), "soak_rps": rate}), flush=True)
    time.sleep(5)
    log = args.scratch / "requests.jsonl"
    seconds = args.minutes * 60
    load = launch(phase="soak", rate=rate, seconds=seconds, log=str(log))
    started = time.monotonic()
    samples, forgotten, swaps, trainer = [], [], [], None
    next_forget, next_swap, next_sample, next_probe, probes = FORGET_EVERY_S, SWAP_EVERY_S, 60, 0.0, []
    import httpx

    admin = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    while load.poll() is None:
        time.sleep(1)
        now = time.monotonic() - started
        if now >= next_forget:
            victim = users[FORGET_FROM + len(forgotten)]
            answer = admin.delete(f"/v1/users/{victim}")
            forgotten.append({"t": round(now, 1), "status": answer.status_code})
            next_forget += FORGET_EVERY_S
        if now >= next_swap and trainer is None:
            trainer = subprocess.Popen(["nice", "-n", "19", *tm(ws, "train", "als")], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, env={**os.environ, **ENV})
            swaps.append({"t": round(now, 1)})
            next_swap += SWAP_EVERY_S
        if trainer is not None and trainer.poll() is not None:
            swaps[-1].update(done=round(now, 1), exit=trainer.returncode)
            trainer = None
        if now >= next_probe:  # every 5 s: one sample swings with what is in flight at that instant
            probes.append(rss_mb(server.pid))
            next_probe += PROBE_EVERY_S
        if now >= next_sample:
            rss, anon = (round(float(np.median([p[i] for p in probes])), 1) for i in (0, 1))
            samples.append({"minute": int(next_sample // 60), "rss_mb": rss, "rss_anon_mb": anon,
                            "rss_min_mb": min(p[0] for p in probes), "rss_max_mb": max(p[0] for p in probes),
                            "segments": segments(ws), "server_cpu_s": round(cpu_seconds(server.pid), 1)})
            print(json.dumps(samples[-1]), flush=True)
            probes.clear()
            next_sample += 60
    if trainer is not None:
        trainer.wait()
    admin.close()
    server.terminate()
    server.wait(60)
    per_minute = minute_stats(log, args.minutes)
    for row, sample in zip(per_minute, samples, strict=False):
        row.update(sample)
    rows = [json.loads(line) for line in log.read_text().splitlines() if line]
    acknowledged = sum(r["accepted"] for r in rows if r["kind"] == "ingest")
    stored = (open_store(ws / "store").events().filter(pl.col("session_id").str.starts_with(f"soak-{spec['seed']}-"))
              .select(pl.len(), pl.col("row_id").n_unique().alias("unique")).collect().row(0, named=True))
    lat = lambda part: float(np.percentile([x["ms"] for x in rows if part[0] <= x["t"] / 60 < part[1]], 99))  # noqa: E731
    p99_first, p99_last = lat((0, min(10, args.minutes))), lat((max(0, args.minutes - 10), args.minutes))
    rss_first = next((r["rss_mb"] for r in per_minute if r["minute"] == min(10, args.minutes) and "rss_mb" in r), None)
    rss_last = next((r["rss_mb"] for r in reversed(per_minute) if "rss_mb" in r), None)
    anon_first = next((r["rss_anon_mb"] for r in per_minute if r["minute"] == min(10, args.minutes)
                       and "rss_anon_mb" in r), None)
    anon_last = next((r["rss_anon_mb"] for r in reversed(per_minute) if "rss_anon_mb" in r), None)
    result = {
        "minutes": args.minutes, "max_rps": round(top, 1), "share": round(rate / top, 2), "soak_rps": rate, "requests": len(rows),
        "errors": sum(r["status"] != 200 for r in rows),
        "errors_by_status": {str(s): sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows} if s != 200},
        "events_acknowledged": acknowledged, "events_stored": stored["len"], "events_unique": stored["unique"],
        "events_lost": acknowledged - stored["unique"], "forgets": forgotten, "swaps": swaps,
        "p99_first_10_min_ms": round(p99_first, 1), "p99_last_10_min_ms": round(p99_last, 1),
        "p99_ratio": round(p99_last / p99_first, 2) if p99_first else None,
        "rss_after_10_min_mb": rss_first, "rss_end_mb": rss_last,
        "rss_ratio": round(rss_last / rss_first, 3) if rss_first and rss_last else None,
        "rss_anon_after_10_min_mb": anon_first, "rss_anon_end_mb": anon_last,
        "rss_anon_ratio": round(anon_last / anon_first, 3) if anon_first and anon_last else None,
        "segments_max": max((r.get("segments", 0) for r in per_minute), default=0),
        "per_minute": per_minute,
        "machine": {"cpus": os.cpu_count()}, "date": time.strftime("%Y-%m-%d"),
    }
    result.update(memory_medians(per_minute, args.minutes))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    plot(per_minute, rate)
    write_doc(result)
    print(json.dumps({k: v for k, v in result.items() if k != "per_minute"}), flush=True)


def memory_medians(per_minute: list[dict[str, Any]], minutes: int) -> dict[str, Any]:
    """RSS as the median of five one-minute samples around minute 10 and of the last five: one sample swings by
    ±150 MiB with what the workers hold at that instant (a swap in progress, a burst of requests)."""
    def median(lo: int, hi: int, key: str) -> float | None:
        values = [r[key] for r in per_minute if lo <= r["minute"] <= hi and key in r]
        return round(float(np.median(values)), 1) if values else None

    start = (8, 12) if minutes >= 20 else (1, 3)
    first, last = median(*start, "rss_mb"), median(minutes - 4, minutes, "rss_mb")
    anon_first, anon_last = median(*start, "rss_anon_mb"), median(minutes - 4, minutes, "rss_anon_mb")
    return {"rss_median_start_mb": first, "rss_median_end_mb": last,
            "rss_median_ratio": round(last / first, 3) if first and last else None,
            "rss_anon_median_start_mb": anon_first, "rss_anon_median_end_mb": anon_last,
            "rss_anon_median_ratio": round(anon_last / anon_first, 3) if anon_first and anon_last else None}


def plot(per_minute: list[dict[str, Any]], rate: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["minute"] for r in per_minute]
    fig, axes = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
    axes[0].plot(minutes, [r.get("rss_mb") for r in per_minute], label="resident")
    axes[0].plot(minutes, [r.get("rss_anon_mb") for r in per_minute], label="of it anonymous")
    axes[0].set_ylabel("server RSS (MiB)")
    axes[0].legend()
    axes[1].plot(minutes, [r["p50_ms"] for r in per_minute], label="p50")
    axes[1].plot(minutes, [r["p99_ms"] for r in per_minute], label="p99")
    axes[1].set_ylabel("latency (ms)")
    axes[1].legend()
    axes[2].plot(minutes, [r["errors"] for r in per_minute])
    axes[2].set_ylabel("errors / min")
    axes[3].plot(minutes, [r.get("segments") for r in per_minute])
    axes[3].set_ylabel("event segments")
    axes[3].set_xlabel("minute")
    fig.suptitle(f"tastemaker serve --workers 2 under {rate:g} req/s of mixed load, forgets and model swaps")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=80)


def write_doc(r: dict[str, Any]) -> None:
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    text = f"""
`python bench/soak.py` ({r['date']}, {r['minutes']} minutes, {r['machine']['cpus']} cores): `tastemaker serve --workers 2
--model als` on a world of 20,000 listeners × 10,000 tracks, at {r['soak_rps']:g} req/s ({r['share']:.0%} of the {r['max_rps']:g} req/s
its request mix reached in a minute of closed loop), the mix: for-you 40 %, Discover Weekly 15 %, Daily Mixes 10 %, home 10 %,
similar 10 %, radio 10 %, ingest 5 % (10 plays a batch); a listener forgotten every 3 minutes, ALS retrained and
swapped in every 10 (the training at `nice -n 19`). Plot: `docs/soak.png`.

| | measured | acceptance |
|---|---:|---|
| requests | {r['requests']:,} | |
| errors (any status but 200, or no answer) | {r['errors']:,} {r['errors_by_status'] or ''} | 0: {met(r['errors'] == 0)} |
| acknowledged ingest events lost | {r['events_lost']:,} of {r['events_acknowledged']:,} | 0: {met(r['events_lost'] == 0)} |
| RSS at minute 10 → at the end (each the median of the minute's samples, one every 5 s) | {r['rss_after_10_min_mb']} → {r['rss_end_mb']} MiB (×{r['rss_ratio']}) | within 10 %: {met(r['rss_ratio'] is not None and r['rss_ratio'] <= 1.10)} |
| of it anonymous (not mapped files) | {r['rss_anon_after_10_min_mb']} → {r['rss_anon_end_mb']} MiB (×{r['rss_anon_ratio']}) | |
| RSS, median of minutes 8–12 → of the last 5 minutes | {r.get('rss_median_start_mb')} → {r.get('rss_median_end_mb')} MiB (×{r.get('rss_median_ratio')}) | within 10 %: {met(r.get('rss_median_ratio') is not None and r['rss_median_ratio'] <= 1.10)} |
| of it anonymous | {r.get('rss_anon_median_start_mb')} → {r.get('rss_anon_median_end_mb')} MiB (×{r.get('rss_anon_median_ratio')}) | |
| p99, first 10 minutes → last 10 | {r['p99_first_10_min_ms']} → {r['p99_last_10_min_ms']} ms (×{r['p99_ratio']}) | within 1.5×: {met(r['p99_ratio'] is not None and r['p99_ratio'] <= 1.5)} |
| event segments, most at any minute | {r['segments_max']} | bounded |
| forgets / model swaps | {len(r['forgets'])} / {len(r['swaps'])} | |
"""
    begin, end = "<!-- soak:begin -->", "<!-- soak:end -->"
    replace_section(DOC, begin, end, "Soak: an hour of mixed load with forgets and model swaps",
                    [begin, *text.splitlines(), end])


if __name__ == "__main__":
    main()
