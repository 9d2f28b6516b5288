"""A big import into a served workspace: how slow do requests get while the server absorbs it?

    python bench/outside_import.py           # about 6 minutes on 2 cores (the soak's world is reused)

`tastemaker serve --workers 2 --model als` serves the soak's world (bench/soak.py: 20,000 listeners ×
10,000 tracks). A client in its own process sends for-you requests for known listeners at a fixed
50 req/s (open loop: latency from the scheduled time). After 10 s, `tastemaker import table` loads
another generated world of 60,000 new listeners × 20 plays (1.2M events) into the same store, in
its own process, as an operator would; each worker absorbs it in the background (`engine/follow.py`)
while answering. The import has been absorbed when both workers' ``/readyz`` say ``behind: false``.
Reported: the latency of every request from the import's start until it was absorbed (the
acceptance: none slower than 100 ms), the same before the import, the absorb time and the workers'
memory before and after. Writes bench/results/outside_import.json and the section between the
markers in docs/benchmarks.md.
"""

from __future__ import annotations

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
from serving import ENV, Pool, free_port, get, start_server, tm  # noqa: E402
from soak import build, rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "outside_import.json"
DOC = ROOT / "docs" / "benchmarks.md"
RATE, SECONDS = 50.0, 600.0
#: ``--profile PATH``: py-spy's raw samples of the workers' lock-holding threads for 90 s from the import's start
PROFILE = Path(sys.argv[sys.argv.index("--profile") + 1]) if "--profile" in sys.argv else None


async def load(port: int, users: list[str], stop_file: Path, log: Path) -> None:
    pool, start, rows = Pool(port, 64), time.monotonic(), []
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, at: float) -> None:
        try:
            status, _ = await asyncio.wait_for(pool.call(get(f"/v1/users/{users[i % len(users)]}/recommendations"
                                                             "?surface=for-you&n=10")), timeout=30)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            status = 0
        rows.append((time.time() - (time.monotonic() - start - at), (time.monotonic() - start - at) * 1000, status))

    for i in range(int(RATE * SECONDS)):
        at = i / RATE
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if stop_file.exists():
            break
        task = asyncio.create_task(one(i, at))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*list(tasks))
    log.write_text(json.dumps(rows))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        spec = json.loads(Path(sys.argv[2]).read_text())
        asyncio.run(load(spec["port"], spec["users"], Path(spec["stop"]), Path(spec["log"])))
        return
    import httpx
    import polars as pl

    from tastemaker.store import open_store

    scratch = Path(tempfile.gettempdir()) / "tastemaker-bench-soak"
    scratch.mkdir(parents=True, exist_ok=True)
    pristine = build(scratch)
    more = scratch / "more-world"
    if not (more / "events").exists() and not any(more.glob("events*")):
        subprocess.run(tm(scratch / "gen", "generate", "--users", "60000", "--tracks", "10000", "--events-per-user",
                          "20", "--seed", "12", "--out", str(more)), check=True, capture_output=True,
                       env={**os.environ, **ENV})
    ws = scratch / "outside"
    shutil.rmtree(ws, ignore_errors=True)
    shutil.copytree(pristine, ws, ignore=shutil.ignore_patterns("world"))
    users = (open_store(ws / "store").events().select("user_id").unique().sort("user_id").collect()
             ["user_id"].to_list())[:5000]
    port = free_port()
    server = start_server("tastemaker", ws, port, workers=2, model="als")
    stop, log = scratch / "outside.stop", scratch / "outside-requests.json"
    stop.unlink(missing_ok=True)
    spec = scratch / "outside-spec.json"
    spec.write_text(json.dumps({"port": port, "users": users, "stop": str(stop), "log": str(log)}))
    client = subprocess.Popen([sys.executable, __file__, "--client", str(spec)], env={**os.environ, **ENV})
    time.sleep(10)
    rss_before = rss_mb(server.pid)[0]
    spy = None
    if PROFILE is not None:  # which code holds the interpreter lock in the workers while they absorb
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid),
                                "--subprocesses", "--gil", "--duration", "90", "--rate", "250", "--nonblocking",
                                "--format", "raw", "--output", str(PROFILE)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    began = time.time()
    imported = subprocess.run(tm(ws, "import", "table", str(more), "--user-prefix", "new-", "--json"),
                              capture_output=True, text=True, env={**os.environ, **ENV})
    import_done = time.time()
    summary = json.loads(imported.stdout)
    probe = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    caught_up, calm = None, 0
    while time.time() - import_done < 300:
        calm = calm + 1 if probe.get("/readyz").json().get("behind") is False else 0
        if calm >= 10:  # ten answers in a row, from both workers (each answers about half)
            caught_up = time.time()
            break
        time.sleep(0.3)
    time.sleep(5)
    rss_after = rss_mb(server.pid)[0]
    stop.touch()
    client.wait(120)
    probe.close()
    server.terminate()
    server.wait(60)
    rows = json.loads(log.read_text())
    if spy is not None:
        spy.wait(120)
    end = caught_up or import_done + 300
    during = [ms for t, ms, _ in rows if began <= t <= end]
    importing = [ms for t, ms, _ in rows if began <= t <= import_done]
    absorbing = [ms for t, ms, _ in rows if import_done < t <= end]
    slow = sorted(((round(t - began, 1), round(ms, 1)) for t, ms, _ in rows if began <= t <= end and ms > 100),
                  key=lambda x: -x[1])[:20]
    before = [ms for t, ms, _ in rows if t < began]
    errors = sum(status != 200 for _, _, status in rows)
    stored = open_store(ws / "store").events().filter(pl.col("user_id").str.starts_with("new-")).select(pl.len())
    result: dict[str, Any] = {
        "events_imported": summary["accepted"], "events_stored": stored.collect().item(),
        "import_s": round(import_done - began, 1),
        "absorbed_s_after_import": round(caught_up - import_done, 1) if caught_up else None,
        "requests_during": len(during), "slowest_during_ms": round(max(during), 1) if during else None,
        "p99_during_ms": round(float(np.percentile(during, 99)), 1) if during else None,
        "over_100ms_during": sum(ms > 100 for ms in during),
        "while_importing": {"requests": len(importing), "slowest_ms": round(max(importing), 1) if importing else None,
                            "over_100ms": sum(ms > 100 for ms in importing)},
        "while_absorbing": {"requests": len(absorbing), "slowest_ms": round(max(absorbing), 1) if absorbing else None,
                            "over_100ms": sum(ms > 100 for ms in absorbing),
                            "p99_ms": round(float(np.percentile(absorbing, 99)), 1) if absorbing else None},
        "slowest_requests_s_after_start_ms": slow,
        "p99_before_ms": round(float(np.percentile(before, 99)), 1) if before else None,
        "slowest_before_ms": round(max(before), 1) if before else None,
        "errors": errors, "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
        "rate": RATE, "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    r = result
    lines = ["<!-- outside-import:begin -->", "",
             f"`python bench/outside_import.py` ({r['date']}, {r['cpus']} cores): {r['events_imported']:,} events imported by "
             f"`tastemaker import table` into a workspace `tastemaker serve --workers 2` serves, while a client asks "
             f"for for-you at {r['rate']:g} req/s. The import took {r['import_s']} s; the workers had absorbed it "
             f"{r['absorbed_s_after_import']} s after it ended.", "",
             "| requests | count | p99 | slowest | over 100 ms |", "|---|---:|---:|---:|---:|",
             f"| before the import | {len(before)} | {r['p99_before_ms']} ms | {r['slowest_before_ms']} ms | "
             f"{sum(ms > 100 for ms in before)} |",
             f"| from the import's start until absorbed | {r['requests_during']} | {r['p99_during_ms']} ms | "
             f"{r['slowest_during_ms']} ms | {r['over_100ms_during']} |",
             f"| of them while the import ran ({r['import_s']} s, its own process on the same cores) | "
             f"{r['while_importing']['requests']} | | {r['while_importing']['slowest_ms']} ms | "
             f"{r['while_importing']['over_100ms']} |",
             f"| of them after it, while the workers absorbed it | {r['while_absorbing']['requests']} | "
             f"{r['while_absorbing']['p99_ms']} ms | {r['while_absorbing']['slowest_ms']} ms | "
             f"{r['while_absorbing']['over_100ms']} |", "",
             f"Errors: {r['errors']}. Workers' memory {r['rss_before_mb']} → {r['rss_after_mb']} MiB (the new "
             "listeners' listening is held in memory, as every listener's is).", "", "<!-- outside-import:end -->"]
    replace_section(DOC, lines[0], lines[-1], "An outside import into a served workspace", lines)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
