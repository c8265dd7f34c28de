"""Files/s of `openhotline scan`'s per-file work (decode, hashes, candidates) on 2 processes.

Runs scan's own worker function (matching/scan._scan_one) over the natural photographs of
bench/photos.py, with and without the embedded-region candidates and the geometric
guesses, in one run so the ratios are comparable on a shared machine. Matching against the
index is not included (bench/match.py measures it; it is well under a millisecond).

    .venv/bin/python bench/scan_throughput.py --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from multiprocessing import get_context
from pathlib import Path

from openhotline.matching.scan import _scan_one

PHOTOS = Path(__file__).parent / "out" / "photos" / "photos"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    files = sorted(str(p) for p in PHOTOS.glob("*.jpg"))
    modes = {
        "plain + dihedral + trim": {"geometric": False, "regions": False},
        "+ regions": {"geometric": False, "regions": True},
        "+ geometric guesses": {"geometric": True, "regions": False},
        "+ regions + geometric (default)": {"geometric": True, "regions": True},
    }
    ctx = get_context("forkserver")
    with ctx.Pool(args.workers) as pool:
        pool.map(_scan_one, files[:4])  # warm the workers (imports, JIT)
        rates: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.rounds):
            for name, kw in modes.items():
                t0 = time.perf_counter()
                res = pool.map(functools.partial(_scan_one, **kw), files, chunksize=4)
                rates[name].append(len(files) / (time.perf_counter() - t0))
                assert all(r.status == "ok" for r in res)
    base = sorted(rates["plain + dihedral + trim"])[len(rates["plain + dihedral + trim"]) // 2]
    for name, rs in rates.items():
        med = sorted(rs)[len(rs) // 2]
        print(json.dumps({"mode": name, "files": len(files), "files_per_s_median": round(med, 1),
                          "rounds": [round(r, 1) for r in rs], "vs_base": round(med / base, 2),
                          "load_average": os.getloadavg()}))  # fmt: skip


if __name__ == "__main__":
    main()
