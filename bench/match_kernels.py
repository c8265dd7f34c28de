"""Plain vs staged PDQ search kernel on the same index, alternating, in one process.

    PYTHONPATH=src .venv/bin/python bench/match_kernels.py --size 30000000 --reps 3

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

import numpy as np

from openhotline.matching import kernels
from openhotline.matching.index import PDQIndex, Segment


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=300, help="hit and miss queries each")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    n = args.size
    data = rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)
    t = time.perf_counter()
    seg = PDQIndex.build(data, np.arange(n, dtype=np.int64), own=True).segments[0]
    build = time.perf_counter() - t
    qs = queries(seg, args.queries, rng)
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
