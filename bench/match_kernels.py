"""Plain vs staged PDQ search kernel on the same index, alternating, in one process.

    PYTHONPATH=src .venv/bin/python bench/match_kernels.py --size 30000000 --reps 3
    PYTHONPATH=src .venv/bin/python bench/match_kernels.py --mode batch --size 30000000

With --mode batch: main's `search_batch` (parallel single queries through the staged kernel)
against `search_batch_sorted` in the variants of --variants, written GROUP:sort|nosort and
an optional :window (e.g. 32:sort:window: 32 queries a thread as one pipeline, probes and
candidates in address order, buckets scanned as fixed windows), all on the same batch of
hit and miss queries, alternating; wall time, CPU time of the process (all threads) and
whether every query's rows are the same as main's.

Builds one index of random hashes, then times `kernels._search_one` (the plain kernel, as on
main before the staged one) and `kernels._search_staged` on the same hit and miss queries,
alternating, and checks that both return the same rows. CPU time of the querying thread
(time waiting for a core on a shared machine is left out). One JSON line per repetition.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numba
import numpy as np

from openhotline.matching import index as index_module
from openhotline.matching import kernels
from openhotline.matching.index import Layout, PDQIndex, Segment


def smaps(field: str) -> float:
    """A field of /proc/self/smaps_rollup in MB (0 where there is none)."""
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def queries(seg: Segment, nq: int, rng: np.random.Generator) -> np.ndarray:
    """nq stored hashes with 10 bits flipped, then nq random hashes."""
    n = len(seg)
    hits = np.asarray(seg.hashes)[rng.integers(0, n, nq)].copy()
    for i in range(nq):
        for b in rng.choice(256, 10, replace=False):
            hits[i, b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    miss = rng.integers(0, 2**64 - 1, size=(nq, 4), dtype=np.uint64, endpoint=True)
    return np.concatenate([hits, miss])


def timed(fn: object, seg: Segment, qs: np.ndarray) -> tuple[float, list[list[int]]]:
    """Median CPU ms a query, and the sorted rows found for each."""
    args = seg._args(31)
    pos = np.empty(64, dtype=np.int64)
    dist = np.empty(64, dtype=np.int32)
    cpu, found = [], []
    for q in qs:
        c = time.thread_time_ns()
        n = fn(q, *args, pos, dist)  # type: ignore[operator]
        cpu.append(time.thread_time_ns() - c)
        found.append(sorted(pos[:n].tolist()))
    return float(np.median(cpu)) / 1e6, found


def batch_run(fn: object, seg: Segment, qs: np.ndarray) -> tuple[float, float, list]:
    """Wall s, process CPU s (every thread) of one batch, and each query's sorted rows."""
    args = seg._args(31)
    w, c = time.perf_counter(), time.process_time()
    counts, pos, dist = fn(qs, *args)  # type: ignore[operator]
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    rows = [sorted(zip(pos[i, : counts[i]].tolist(), dist[i, : counts[i]].tolist(), strict=True))
            for i in range(len(qs))]  # fmt: skip
    return wall, cpu, rows


def grouped(group: int, sort: bool, threads: int, window: bool) -> object:
    """search_batch_sorted with these settings, called as main's search_batch is."""

    def run(q: np.ndarray, *a: object) -> object:
        return kernels.search_batch_sorted(
            q, *a, 64, group, sort, kernels.BATCH_CANDIDATES, threads, window
        )

    return run


def batch_mode(seg: Segment, qs: np.ndarray, variants: list[str], reps: int, n: int) -> None:
    """Main's search_batch against search_batch_sorted variants, alternating."""
    threads = numba.get_num_threads()
    fns: dict[str, object] = {"main": lambda q, *a: kernels.search_batch(q, *a, 64)}
    for v in variants:
        g, how, *scan = v.split(":")
        fns[v] = grouped(int(g), how == "sort", threads, scan == ["window"])
    for fn in fns.values():  # compile first
        batch_run(fn, seg, qs[:3])
    for rep in range(reps):
        base = None
        for name, fn in fns.items():
            wall, cpu, rows = batch_run(fn, seg, qs)
            base = rows if base is None else base
            row = {
                "mode": "batch", "n": n, "rep": rep, "kernel": name, "queries": len(qs),
                "threads": threads, "qps": len(qs) / wall, "wall_s": wall, "cpu_s": cpu,
                "cpu_ms_per_query": cpu / len(qs) * 1e3, "same": rows == base,
                "hits": sum(map(len, rows)), "load_avg": os.getloadavg()[0],
            }  # fmt: skip
            print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=300, help="hit and miss queries each")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mode", choices=["single", "batch"], default="single")
    ap.add_argument("--variants", nargs="*", default=["8:nosort", "32:nosort", "32:sort"])
    ap.add_argument("--dead", type=float, default=0.0, help="fraction of rows removed")
    # The 100M-row shape at a size this machine can hold: --tables 9 --dir-bits 21
    # --entry-bits 30 gives 100M's 9,986 probes a query and 5 kept residual bits.
    ap.add_argument("--tables", type=int, default=0, help="Layout.with_tables(m, dir bits)")
    ap.add_argument("--dir-bits", type=int, default=22)
    ap.add_argument("--entry-bits", type=int, default=0, help="index.ENTRY_BITS override")
    ap.add_argument("--saved", type=Path, help="save the index here, or load it if there")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    n = args.size
    data = rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)
    t = time.perf_counter()
    layout = Layout.with_tables(args.tables, args.dir_bits) if args.tables else None
    if args.entry_bits:
        index_module.ENTRY_BITS = args.entry_bits
    if args.saved and args.saved.exists():  # an index this script saved before: mapped
        del data
        seg = PDQIndex.load(args.saved)[0].segments[0]
    else:
        index = PDQIndex.build(data, np.arange(n, dtype=np.int64), layout, own=True)
        if args.saved:
            index.save(args.saved)
        seg = index.segments[0]
    print(json.dumps({"n": n, "layout": str(seg.layout), "kept": seg._kept.tolist()}), flush=True)
    build = time.perf_counter() - t
    qs = queries(seg, args.queries, rng)
    if args.dead:
        seg.kill(np.flatnonzero(rng.random(n) < args.dead))
    if args.mode == "batch":
        batch_mode(seg, qs, args.variants, args.reps, n)
        return
    for fn in (kernels._search_one, kernels._search_staged):  # compile first
        timed(fn, seg, qs[:2])
    for rep in range(args.reps):
        plain, a = timed(kernels._search_one, seg, qs)
        staged, b = timed(kernels._search_staged, seg, qs)
        row = {
            "n": n, "rep": rep, "build_s": build, "plain_cpu_ms": plain,
            "staged_cpu_ms": staged, "ratio": staged / plain, "same": a == b,
            "hits": sum(map(len, a)), "anon_huge_mb": smaps("AnonHugePages"),
            "load_avg": os.getloadavg()[0],
        }  # fmt: skip
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
