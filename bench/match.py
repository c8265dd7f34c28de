"""PDQ match benchmark: openhotline's index vs HMA's PDQIndex vs faiss IndexBinaryFlat.

Each engine runs in its own subprocess on the same cached data set, so build time and memory
(RSS growth during the build, inputs already loaded) are measured cleanly and side by side.

    .venv/bin/python bench/match.py --sizes 1000000 10000000 --sets random clustered

Engine "old" is our index as it was at OLD_REV (env OPENHOTLINE_BENCH_OLD_REV; its index.py
and kernels.py taken from git into bench/out/), for same-run before/after ratios on a shared
machine.

Needs the bench extra (threatexchange, faiss-cpu). Results: one JSON line per run on stdout,
and a Markdown table with --markdown.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parent.parent
RADIUS = 31
FLIPS = 10
# main before the staged search kernel (format 4, section 1c of RESULTS.md); a423f7e is
# format 3 (1b), 7c93f0a the index before issue 18. Revisions before format 4 take neither
# build(own=True) nor remove(ids, hashes): set OPENHOTLINE_BENCH_OLD_FORMAT4=0 for them.
OLD_REV = os.environ.get("OPENHOTLINE_BENCH_OLD_REV", "c1f2936")
OLD_FORMAT4 = os.environ.get("OPENHOTLINE_BENCH_OLD_FORMAT4", "1") == "1"
CHUNK = 5_000_000  # rows generated at a time: the 100M set is written to disk as it is made


def huge_mb() -> dict[str, float]:
    """Memory of this process mapped with 2 MB pages: anonymous (THP) and file (page-cache
    folios mapped by PMD), from /proc/self/smaps_rollup (Linux only)."""
    out = {}
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("AnonHugePages", "FilePmdMapped", "Rss"):
            out[key] = int(rest.split()[0]) / 1024
    return out


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_set(n: int, kind: str, seed: int = 42) -> np.ndarray:
    """n PDQ hashes as (n, 4) uint64: uniform random, or clusters of near-duplicates."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)
    # clustered: 1 centre per 20 hashes, each member ~8% of bits (about 20) flipped
    k = max(1, n // 20)
    centres = rng.integers(0, 2**64 - 1, size=(k, 4), dtype=np.uint64, endpoint=True)
    out = np.empty((n, 4), dtype=np.uint64)
    chunk = 200_000
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        flips = rng.random((m, 256), dtype=np.float32) < 0.08
        noise = np.packbits(flips, axis=1).view(">u8").astype(np.uint64)
        out[s : s + m] = centres[rng.integers(0, len(centres), size=m)] ^ noise
    return out


def flip_bits(rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Copies of rows with exactly k random bits flipped each."""
    out = rows.copy()
    for i in range(len(out)):
        for b in rng.choice(256, size=k, replace=False):
            out[i, b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return out


def dataset(n: int, kind: str, nq: int) -> tuple[Path, ...]:
    """Cached data, hit queries (10 flips from a stored hash) and miss queries (random)."""
    OUT.mkdir(exist_ok=True)
    base = OUT / f"{kind}-{n}"
    paths = tuple(base.with_suffix(f".{x}.npy") for x in ("data", "hit", "miss"))
    if not all(p.exists() for p in paths):
        if kind == "random" and n > CHUNK:  # written in chunks: never two copies in memory
            data = np.lib.format.open_memmap(paths[0], mode="w+", dtype=np.uint64, shape=(n, 4))
            for k, s in enumerate(range(0, n, CHUNK)):
                m = min(CHUNK, n - s)
                rng = np.random.default_rng([42, k])
                data[s : s + m] = rng.integers(0, 2**64 - 1, size=(m, 4), dtype=np.uint64,
                                               endpoint=True)  # fmt: skip
            data.flush()
        else:
            data = make_set(n, kind)
        rng = np.random.default_rng(7)
        hits = flip_bits(np.asarray(data[rng.integers(0, n, size=nq)]), FLIPS, rng)
        miss = rng.integers(0, 2**64 - 1, size=(nq, 4), dtype=np.uint64, endpoint=True)
        for p, a in zip(paths, (data, hits, miss), strict=True):
            if not isinstance(a, np.memmap):
                np.save(p, a)
        del data
    return paths


def old_index_module() -> object:
    """Our index as it was at OLD_REV, as an importable module under bench/out/."""
    pkg = OUT / f"old_{OLD_REV}"
    if not (pkg / "index.py").exists():
        pkg.mkdir(parents=True, exist_ok=True)
        for name in ("index", "kernels"):
            src = subprocess.run(
                ["git", "show", f"{OLD_REV}:src/openhotline/matching/{name}.py"],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            src = src.replace("from openhotline.matching import kernels as _kernels",
                              "from . import kernels as _kernels")  # fmt: skip
            (pkg / f"{name}.py").write_text(src)
        (pkg / "__init__.py").write_text("")
    sys.path.insert(0, str(OUT))
    return importlib.import_module(f"old_{OLD_REV}.index")


def words_to_hex(a: np.ndarray) -> list[str]:
    raw = np.ascontiguousarray(a, dtype=">u8").tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def ground_truth(data: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    """Brute force (linear scan) result sets: ids within RADIUS."""
    from openhotline.matching import kernels

    alive = np.ones(len(data), dtype=np.bool_)
    return [set(kernels.brute_force(q, data, alive, RADIUS)[0].tolist()) for q in queries]


def run_engine(engine: str, paths: tuple[Path, ...], nlat: int, ntruth: int) -> dict:
    """Build one engine, time queries, check recall on the first ntruth queries."""
    data = np.load(paths[0])
    hits = np.load(paths[1])[:nlat]
    miss = np.load(paths[2])[:nlat]
    n = len(data)
    ids = np.arange(n, dtype=np.int64)
    if engine == "hma":
        import faiss
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex as HMAIndex

        faiss.omp_set_num_threads(1)  # single queries: threads only add contention here
        hexes = words_to_hex(data)
        entries = list(zip(hexes, range(n), strict=True))
        del data
        before = rss_bytes()
        t = time.perf_counter()
        index = HMAIndex(entries)
        build = time.perf_counter() - t

        def query(q: np.ndarray, qhex: str) -> set[int]:
            return {m.metadata for m in index.query(qhex)}

        def batch(qs: np.ndarray, qhexes: list[str]) -> None:
            for h in qhexes:
                index.query(h)

    elif engine == "faiss":
        import faiss

        faiss.omp_set_num_threads(1)
        packed = np.ascontiguousarray(data.astype(">u8")).view(np.uint8).reshape(n, 32)
        del data
        before = rss_bytes()
        t = time.perf_counter()
        index = faiss.IndexBinaryFlat(256)
        index.add(packed)
        build = time.perf_counter() - t

        def fq(q: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(q.astype(">u8")).view(np.uint8).reshape(-1, 32)

        def query(q: np.ndarray, qhex: str) -> set[int]:
            _lims, _d, labels = index.range_search(fq(q[None, :]), RADIUS + 1)
            return set(labels.tolist())

        def batch(qs: np.ndarray, qhexes: list[str]) -> None:
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            index.range_search(fq(qs), RADIUS + 1)
            faiss.omp_set_num_threads(1)

    else:
        from openhotline.matching.index import PDQIndex

        index_cls: Any = old_index_module().PDQIndex if engine == "old" else PDQIndex  # type: ignore[attr-defined]
        # Ours takes the loaded array over (reordered in place, no copy); the old index
        # kept it as it was when the ids were ascending. Either way memory counts it below.
        new_api = engine == "ours" or OLD_FORMAT4
        handover = {"own": True} if new_api else {}
        warm = index_cls.build(data[:5000].copy(), ids[:5000], **handover)  # JIT warm-up
        warm.search_batch(hits[:4], RADIUS)
        warm.remove(ids[:1], *([data[:1]] if new_api else []))
        del warm
        before = rss_bytes()
        t = time.perf_counter()
        index = index_cls.build(data, ids, **handover)
        build = time.perf_counter() - t  # the input stays alive: memory is the index's own

        def query(q: np.ndarray, qhex: str) -> set[int]:
            return {i for i, _d in index.search(q, RADIUS)}

        def batch(qs: np.ndarray, qhexes: list[str]) -> None:
            index.search_batch(qs, RADIUS)

    mem = rss_bytes() - before
    result: dict = {"engine": engine, "n": n, "build_s": build, "mem_bytes": mem}
    if engine in ("ours", "old"):
        result["index_nbytes"] = index.nbytes()
        # The index keeps the caller's hash array (no second copy): count those bytes too,
        # so memory is the index's whole footprint.
        shared = sum(s.hashes.nbytes for s in index.segments if np.shares_memory(s.hashes, data))
        result["rss_growth_bytes"] = mem
        result["shared_input_bytes"] = shared
        result["mem_bytes"] = mem + shared
        result["huge_after_build_mb"] = huge_mb()
        del data
    for name, qs in (("hit", hits), ("miss", miss)):
        qhex = words_to_hex(qs)
        query(qs[0], qhex[0])
        lat, cpu = [], []
        for q, h in zip(qs, qhex, strict=True):
            t, c = time.perf_counter(), time.thread_time()
            query(q, h)
            cpu.append(time.thread_time() - c)
            lat.append(time.perf_counter() - t)
        result[f"{name}_p50_ms"] = float(np.median(lat) * 1e3)
        # CPU time of the querying thread: less inflated than wall time on a shared machine
        # (time spent waiting for a core is not counted; memory contention still is).
        result[f"{name}_p50_cpu_ms"] = float(np.median(cpu) * 1e3)
        result[f"{name}_p99_ms"] = float(np.percentile(lat, 99) * 1e3)
    both = np.concatenate([hits, miss])
    bhex = words_to_hex(both)
    t = time.perf_counter()
    batch(both, bhex)
    result["batch_qps"] = len(both) / (time.perf_counter() - t)
    # Recall against brute force on ntruth hit queries (and the same number of misses).
    data = np.load(paths[0], mmap_mode="r")
    sample = np.concatenate([hits[:ntruth], miss[: ntruth // 4]])
    truth = ground_truth(data, sample)  # memory-mapped: no second copy of the set
    shex = words_to_hex(sample)
    found = [query(q, h) for q, h in zip(sample, shex, strict=True)]
    expected = sum(len(t) for t in truth)
    got = sum(len(t & f) for t, f in zip(truth, found, strict=True))
    result["recall"] = got / expected if expected else 1.0
    result["false"] = sum(len(f - t) for t, f in zip(truth, found, strict=True))
    if engine in ("ours", "old"):  # live updates and persistence of our index
        new = miss[:1].copy()
        t = time.perf_counter()
        index.add(new, [10**12])
        seen = index.search(new[0], RADIUS)
        result["add_visible_ms"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        index.remove([10**12], *([new] if new_api else []))  # as the engine does
        gone = index.search(new[0], RADIUS)
        result["remove_visible_ms"] = (time.perf_counter() - t) * 1e3
        assert seen and not gone
        folder = OUT / f"index-{engine}-{n}"
        t = time.perf_counter()
        index.save(folder)
        result["save_s"] = time.perf_counter() - t
        t = time.perf_counter()
        loaded, _ = index_cls.load(folder)
        loaded.search(hits[0], RADIUS)
        result["load_and_first_query_s"] = time.perf_counter() - t
        # The engine serves from the saved files (memory-mapped, shared by its processes):
        # time the loaded index too, with the built one dropped first.
        del index
        for name, qs in (("hit", hits), ("miss", miss)):
            for q in qs[:20]:  # fault the pages in
                loaded.search(q, RADIUS)
            cpu = []
            for q in qs:
                c = time.thread_time()
                loaded.search(q, RADIUS)
                cpu.append(time.thread_time() - c)
            result[f"loaded_{name}_p50_cpu_ms"] = float(np.median(cpu) * 1e3)
        loaded.search_batch(both[:4], RADIUS)  # compiled for read-only arrays first
        t = time.perf_counter()
        loaded.search_batch(both, RADIUS)
        result["loaded_batch_qps"] = len(both) / (time.perf_counter() - t)
        result["huge_after_load_mb"] = huge_mb()
        del loaded
        _rmtree(folder)  # the 100M index takes 8 GB of disk
    result["batch_queries"] = len(both)
    result["load_avg"] = os.getloadavg()[0]
    result["maxrss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return result


def _rmtree(path: Path) -> None:
    for child in path.iterdir():
        _rmtree(child) if child.is_dir() else child.unlink()
    path.rmdir()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--sets", nargs="+", default=["random", "clustered"])
    ap.add_argument("--engines", nargs="+", default=["ours", "hma", "faiss"])
    ap.add_argument("--queries", type=int, default=1000, help="latency queries per kind")
    ap.add_argument("--faiss-queries", type=int, default=100)
    ap.add_argument("--truth", type=int, default=100, help="queries checked by brute force")
    ap.add_argument("--worker", nargs=3, metavar=("ENGINE", "N", "SET"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        engine, n, kind = args.worker[0], int(args.worker[1]), args.worker[2]
        nlat = args.faiss_queries if engine == "faiss" else args.queries
        paths = dataset(n, kind, max(args.queries, args.faiss_queries))
        print(json.dumps(run_engine(engine, paths, nlat, min(args.truth, nlat))), flush=True)
        return
    for n in args.sizes:
        for kind in args.sets:
            dataset(n, kind, max(args.queries, args.faiss_queries))
            for engine in args.engines:
                cmd = [sys.executable, __file__, "--worker", engine, str(n), kind,
                       "--queries", str(args.queries), "--faiss-queries", str(args.faiss_queries),
                       "--truth", str(args.truth)]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    print(json.dumps({"engine": engine, "n": n, "set": kind,
                                      "error": proc.stderr[-500:]}), flush=True)  # fmt: skip
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row["set"] = kind
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
