"""Approximate nearest neighbours on our ALS vectors: Voyager, FAISS (HNSW, IVF) and hnswlib vs exact.

    python bench/ann.py                    # 50k and 1M items (an hour or more on 2 shared cores)
    python bench/ann.py --scales 50k       # 50k items only (about 5 minutes)
    python bench/ann.py --configs faiss-ivf/ip itemindex/exact   # rerun some rows, keep the others

The vectors are real ALS factors (``tastemaker train als``, f=64) of generated worlds:

- **50k**: 100,000 listeners × 50,000 tracks, 20 plays per listener (the serving benchmark's world);
- **1M**: 400,000 listeners × 1,000,000 tracks, 25 plays per listener; the tracks nobody played
  get no ALS vector, so the catalog is completed to 1,000,000 by *perturbed copies* of real
  vectors: a random trained item's vector plus isotropic Gaussian noise whose norm is about a
  quarter of that vector's (seed 0). The extra items keep the heavy-tailed norms and the
  directions of the trained ones, which is what decides how hard inner-product search is.
  The 50k world is completed the same way (about 37k of its tracks are ever played).

Queries: 1,000 random trained listeners' ALS user factors; the truth is the exact inner-product
top 100 (what ``MatrixRecommender.recommend`` ranks by). Every library × scale runs as a whole
process (``wait4`` peak RSS), builds with 2 threads and queries with 1 thread (a request is served
on one core): build seconds, RSS added by the index, the saved index's size, and per search
setting recall@100, single-query p50/p99 (1,000 one-by-one calls) and batched ms per query (one
call with all 1,000). Writes bench/results/ann.json and the table between the markers in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from doc_section import replace_section  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ann.json"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- ann:begin -->", "<!-- ann:end -->"
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "2", "TASTEMAKER_STORE_URL": ""}
K, QUERIES, EF_CONSTRUCTION = 100, 1000, 100
#: scale -> (listeners, tracks, plays per listener) of the generated world whose ALS vectors are used
WORLDS = {"50k": (100_000, 50_000, 20), "1M": (400_000, 1_000_000, 25)}
TARGET = {"50k": 50_000, "1M": 1_000_000}
EFS = (100, 200, 400, 800)
NPROBES = (16, 32, 64, 128)
#: what runs per scale: ``library/space/M`` (space ``ip``: the library's inner product; ``mips``: the
#: items made equal-norm by one extra coordinate, searched by Euclidean distance, see :func:`mips`)
CONFIGS = {
    "50k": ("exact", "exact-normbound", "itemindex/exact", "hnswlib/ip/16", "hnswlib/ip/48", "hnswlib/mips/48", "voyager/ip/16",
            "voyager/ip/48", "faiss-hnsw/ip/16", "faiss-hnsw/ip/48", "faiss-hnsw/mips/48", "faiss-ivf/ip"),
    "1M": ("exact", "exact-normbound", "itemindex/exact", "itemindex/hnsw", "hnswlib/ip/48", "voyager/ip/48", "faiss-hnsw/ip/48", "faiss-ivf/ip"),
}


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **ENV})
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, stdout


def tm(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tastemaker", "--workspace", str(ws), *args, "--json"]


def vectors(scale: str, scratch: Path) -> Path:
    """The scale's item vectors, query vectors and exact top 100 as one .npz (cached in ``scratch``)."""
    out = scratch / f"vectors-{scale}.npz"
    if out.exists():
        return out
    users, tracks, plays = WORLDS[scale]
    ws = scratch / f"ws-{scale}"
    if not (ws / "models" / "als" / "LATEST").exists():
        for args in (("generate", "--users", str(users), "--tracks", str(tracks), "--events-per-user", str(plays),
                      "--seed", "7"), ("import", "table", str(ws / "world")), ("train", "als")):
            wall, peak, _ = run(tm(ws, *args))
            print(json.dumps({"scale": scale, "step": args[0], "wall_s": round(wall, 1), "peak_rss_mib": round(peak)}),
                  flush=True)
    model = ws / "models" / "als" / (ws / "models" / "als" / "LATEST").read_text().strip()
    with np.load(model / "arrays.npz") as a:
        items, item_vecs = a["items"], a["model.item_factors_"].astype(np.float32)
        user_vecs = a["model.user_factors_"].astype(np.float32)
    trained = len(items)
    rng = np.random.default_rng(0)
    if trained < TARGET[scale]:
        extra = TARGET[scale] - trained
        base = rng.integers(0, trained, extra)
        d = item_vecs.shape[1]
        scale_ = 0.25 * np.linalg.norm(item_vecs[base], axis=1, keepdims=True) / np.sqrt(d)
        noise = (rng.normal(0.0, 1.0, (extra, d)) * scale_).astype(np.float32)
        item_vecs = np.vstack([item_vecs, item_vecs[base] + noise])
        items = np.concatenate([items, np.char.add("synthetic:", np.arange(extra).astype(str))])
    queries = user_vecs[rng.choice(len(user_vecs), QUERIES, replace=False)]
    truth = np.empty((QUERIES, K), dtype=np.int64)
    for lo in range(0, QUERIES, 100):
        scores = queries[lo:lo + 100] @ item_vecs.T
        top = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        truth[lo:lo + 100] = top
    np.savez(out, items=items, vectors=item_vecs, queries=queries, truth=truth, trained=trained)
    return out


# ------------------------------------------------------------------ one library, in its own process
def mips(x: np.ndarray) -> np.ndarray:
    """Items with one more coordinate, ``sqrt(max‖x‖² − ‖x‖²)``, so every item has the same norm.

    With queries padded by 0, ``q·x`` is unchanged and, all norms being equal, ordering by inner
    product is ordering by Euclidean distance: maximum inner product search becomes a metric
    nearest-neighbour search, which HNSW's graph is built for (Bachrach et al., RecSys 2014).
    """
    sq = np.einsum("ij,ij->i", x, x)
    return np.hstack([x, np.sqrt(np.maximum(sq.max() - sq, 0.0))[:, None]]).astype(np.float32)


def pad(q: np.ndarray) -> np.ndarray:
    return np.hstack([q, np.zeros((len(q), 1), dtype=q.dtype)])


def build(config: str, x: np.ndarray) -> Any:
    lib, space, m = (config.split("/") + ["16"])[:3]
    if space == "mips":
        x = mips(x)
    n, d = x.shape
    if lib == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip" if space == "ip" else "l2", dim=d)
        index.init_index(max_elements=n, ef_construction=EF_CONSTRUCTION, M=int(m), random_seed=0)
        index.add_items(x, np.arange(n), num_threads=2)
        return index
    if lib == "voyager":
        from voyager import Index, Space, StorageDataType

        index = Index(Space.InnerProduct if space == "ip" else Space.Euclidean, num_dimensions=d, M=int(m),
                      ef_construction=EF_CONSTRUCTION, random_seed=0, max_elements=n,
                      storage_data_type=StorageDataType.Float32)
        index.add_items(x, np.arange(n), num_threads=2)
        return index
    import faiss

    faiss.omp_set_num_threads(2)
    if lib == "faiss-hnsw":
        index = faiss.IndexHNSWFlat(d, int(m), faiss.METRIC_INNER_PRODUCT if space == "ip" else faiss.METRIC_L2)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(x)
        return index
    nlist = int(4 * np.sqrt(n))  # the FAISS wiki's 4·√n .. 16·√n, at its cheap end
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(x)
    index.add(x)
    return index


def normbound(x: np.ndarray) -> Any:
    """Exact top K by inner product, scoring items in descending norm until ``‖q‖·‖x‖`` cannot beat the Kth.

    Cauchy–Schwarz bounds every unscored item's score by ``‖q‖`` times the largest norm left, so the
    answer is exact; ALS norms are heavy-tailed, so the scan usually stops early.
    """
    norms = np.linalg.norm(x, axis=1)
    order = np.argsort(-norms)
    xs, ns = x[order], norms[order]

    def one(q: np.ndarray) -> np.ndarray:
        qn, lo, block = float(np.linalg.norm(q)), 0, 4096
        idx, best = np.empty(0, np.int64), np.empty(0, np.float32)
        while lo < len(xs):
            hi = min(len(xs), lo + block)
            idx = np.concatenate([idx, np.arange(lo, hi)])
            best = np.concatenate([best, xs[lo:hi] @ q])
            if len(best) > K:
                keep = np.argpartition(-best, K - 1)[:K]
                idx, best = idx[keep], best[keep]
            lo, block = hi, block * 2
            if len(best) == K and lo < len(xs) and qn * ns[lo] < best.min():
                break
        return order[idx]

    return lambda q: np.vstack([one(row) for row in q])


def searcher(config: str, index: Any, x: np.ndarray, setting: int) -> Any:
    """A function ``queries -> top-K row indices`` for ``config`` at search setting ``setting`` (ef / nprobe)."""
    if config == "exact":
        def exact(q: np.ndarray) -> np.ndarray:
            parts = []
            for lo in range(0, len(q), 100):  # 100 queries × 1M items of float32 is 400 MB already
                scores = q[lo:lo + 100] @ x.T
                parts.append(np.argpartition(-scores, K - 1, axis=1)[:, :K])
            return np.vstack(parts)
        return exact
    if config == "exact-normbound":
        return index
    if config.startswith("itemindex"):
        index.ef_search = max(setting, 1)
        return lambda q: index.search(q, K)["item_id"].cast(int).to_numpy().reshape(len(q), K)
    lib, space = config.split("/")[:2]
    prep = pad if space == "mips" else (lambda q: q)
    if lib == "hnswlib":
        index.set_ef(setting)
        return lambda q: index.knn_query(prep(q), k=K, num_threads=1)[0]
    if lib == "voyager":
        return lambda q: index.query(prep(q), k=K, num_threads=1, query_ef=setting)[0]
    import faiss

    faiss.omp_set_num_threads(1)
    if lib == "faiss-hnsw":
        index.hnsw.efSearch = setting
    else:
        index.nprobe = setting
    return lambda q: index.search(prep(q), K)[1]


def save(config: str, index: Any, path: Path) -> int:
    if config.startswith("exact"):
        return 0
    if config.startswith("itemindex"):
        index.save(path)
        return sum(f.stat().st_size for f in path.iterdir())
    if config.startswith(("hnswlib", "voyager")):
        index.save_index(str(path)) if config.startswith("hnswlib") else index.save(str(path))
    else:
        import faiss

        faiss.write_index(index, str(path))
    return path.stat().st_size


def worker(lib: str, data: Path) -> None:
    import psutil

    with np.load(data) as a:
        x, queries, truth = a["vectors"], a["queries"], a["truth"]
    me = psutil.Process()
    rss_before = me.memory_info().rss
    start = time.perf_counter()
    if lib.startswith("itemindex"):
        from tastemaker.candidates.ann import ItemIndex

        build_ = lambda v: ItemIndex(exact_below=0 if lib == "itemindex/hnsw" else len(v) + 1,  # noqa: E731
                                     build_threads=2).build(np.arange(len(v)).astype(str), v)
    else:
        build_ = {"exact-normbound": normbound, "exact": lambda v: None}.get(lib, lambda v: build(lib, v))
    index = build_(x)
    build_s = time.perf_counter() - start
    rss_index = me.memory_info().rss - rss_before
    with tempfile.TemporaryDirectory() as tmp:
        size = save(lib, index, Path(tmp) / "index")
    settings = ((0,) if lib.startswith("exact") or lib == "itemindex/exact" else (100, 200) if lib == "itemindex/hnsw"
                else NPROBES if lib.startswith("faiss-ivf") else EFS)
    rows = []
    for setting in settings:
        search = searcher(lib, index, x, setting)
        search(queries[:10])  # warm-up
        start = time.perf_counter()
        batched = search(queries)
        batch_ms = (time.perf_counter() - start) * 1000 / len(queries)
        single = []
        for q in queries:
            t = time.perf_counter()
            search(q[None, :])
            single.append((time.perf_counter() - t) * 1000)
        recall = np.mean([len(np.intersect1d(np.asarray(b, np.int64), t)) / K
                          for b, t in zip(batched, truth, strict=True)])
        rows.append({"setting": setting, "recall_at_100": round(float(recall), 4),
                     "single_p50_ms": round(float(np.percentile(single, 50)), 3),
                     "single_p99_ms": round(float(np.percentile(single, 99)), 3),
                     "batched_ms_per_query": round(batch_ms, 4)})
    print(json.dumps({"build_s": round(build_s, 2), "index_rss_mib": round(rss_index / 2**20),
                      "index_file_mib": round(size / 2**20, 1), "searches": rows}))


# ------------------------------------------------------------------ driver
def measure(scale: str, data: Path, only: list[str] | None) -> list[dict[str, Any]]:
    out = []
    for lib in [c for c in CONFIGS[scale] if not only or c in only]:
        load = os.getloadavg()[0]
        wall, peak, stdout = run([sys.executable, __file__, "--worker", lib, "--data", str(data)])
        row = {"scale": scale, "library": lib, "process_s": round(wall, 1), "peak_rss_mib": round(peak),
               "load_1m_before": round(load, 2), **json.loads(stdout)}
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def setting_name(lib: str, setting: int) -> str:
    return "—" if lib.startswith("exact") or lib == "itemindex/exact" else f"nprobe {setting}" if lib.startswith("faiss-ivf") else f"ef {setting}"


def write_doc(rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    lines = [BEGIN, "", f"`python bench/ann.py` ({meta['date']}, {meta['machine']}). {QUERIES:,} listener queries, "
             f"inner-product top {K} against exact; build with 2 threads, search with 1; library/space/M: HNSW "
             f"with M links, ef_construction={EF_CONSTRUCTION}; IVF-Flat with 4·√n lists. Catalog sizes: "
             + "; ".join(f"{s}: {m['items']:,} items, {m['trained']:,} of them trained ALS vectors"
                         for s, m in meta["scales"].items()) + ".", "",
             "| items | library | search setting | recall@100 | single p50 (ms) | single p99 (ms) | "
             "batched (ms/query) | build (s) | index RSS (MiB) | file (MiB) | peak RSS (MiB) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        for s in r["searches"]:
            lines.append(f"| {r['scale']} | {r['library']} | {setting_name(r['library'], s['setting'])} | "
                         f"{s['recall_at_100']:.3f} | {s['single_p50_ms']} | {s['single_p99_ms']} | "
                         f"{s['batched_ms_per_query']} | {r['build_s']} | {r['index_rss_mib']:,} | "
                         f"{r['index_file_mib']} | {r['peak_rss_mib']:,} |")
    lines += ["", END]
    replace_section(DOC, BEGIN, END, "Approximate nearest neighbours", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "tastemaker-bench-ann")
    parser.add_argument("--configs", nargs="+", help="run only these (library/space/M) and keep the other rows "
                        "of bench/results/ann.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data)
        return
    args.scratch.mkdir(parents=True, exist_ok=True)
    rows, scales = [], {}
    for scale in args.scales:
        data = vectors(scale, args.scratch)
        with np.load(data) as a:
            scales[scale] = {"items": len(a["items"]), "trained": int(a["trained"])}
        rows += measure(scale, data, args.configs)
    if args.configs and RESULTS.exists():
        new, before = {(r["scale"], r["library"]) for r in rows}, json.loads(RESULTS.read_text())
        scales = {**before["meta"]["scales"], **scales}
        old = [r for r in before["runs"] if (r["scale"], r["library"]) not in new]
        rank = {(s, c): i for s in CONFIGS for i, c in enumerate(CONFIGS[s])}
        rows = sorted(old + rows, key=lambda r: (list(WORLDS).index(r["scale"]),
                                                 rank.get((r["scale"], r["library"]), 99)))
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.machine()}",
            "python": platform.python_version(), "k": K, "queries": QUERIES,
            "ef_construction": EF_CONSTRUCTION, "scales": scales}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "runs": rows}, indent=1) + "\n")
    write_doc(rows, meta)


if __name__ == "__main__":
    main()
