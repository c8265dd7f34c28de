"""The local-feature lookup kernel against main's, in one process, label by label (issue 13).

Builds one --scale bank (bench/feature_profile.py's cache and generators), this branch's
tables (openhotline on PYTHONPATH) and main's (its feature_kernels.py loaded from --main-src
under another name), then searches every query label with both kernels in alternating
order, so the machine's load falls on both alike; checks that both return the same
(query row, descriptor row, distance) triples in the same order.

    PYTHONPATH=src .venv/bin/python bench/feature_kernel_ab.py --items 100000 --copies-of 100
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import feature_profile as fp
import features as fb

from openhotline.matching import feature_index as fi
from openhotline.matching import features as lf


def _main_kernels(src: str) -> Any:
    path = Path(src) / "openhotline" / "matching" / "feature_kernels.py"
    spec = importlib.util.spec_from_file_location("main_feature_kernels", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--item-keypoints", type=int, default=150)
    ap.add_argument("--query-photos", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bank", default="near-copy")
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--copies-of", type=int, default=0)
    ap.add_argument("--queries", type=int, default=0)
    ap.add_argument("--main-src", default="/work/main/src")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    bank, queries, owners, _transforms = fp._cache(args)
    if args.queries:
        queries = queries[: args.queries]
    ids, counts, pts, desc = fp._bank(args, bank, owners)
    t0 = time.perf_counter()
    idx = fi.DescriptorIndex()
    idx.add_many(ids, counts, pts, desc)
    s = idx._segments[0]
    build_new = time.perf_counter() - t0
    mk = _main_kernels(args.main_src)
    t0 = time.perf_counter()
    tables = idx.tables
    m_off = np.empty((tables, 65537), np.uint32)
    m_lows = np.empty((tables, len(desc)), np.uint16)
    m_rows = np.empty((tables, len(desc)), np.uint32)
    for t in range(tables):
        m_off[t], m_lows[t], m_rows[t] = mk.build_table(desc, t)
    build_main = time.perf_counter() - t0
    max_bucket = max(fi.MIN_MAX_BUCKET, fi.BUCKET_SHARE * s.n // 65536)
    skip = s.skip(max_bucket)
    d64 = s.desc.view(np.uint64).reshape(-1, 4)

    def new(q: Any) -> Any:
        q64 = q.view(np.uint64).reshape(-1, 4)
        return fi.kernels.search(
            q, q64, d64, s.offsets, s.lows, s.rows, skip, tables, idx.probe, 28, idx.cap
        )

    def old(q: Any) -> Any:
        q64 = q.view(np.uint64).reshape(-1, 4)
        return mk.search(
            q, q64, d64, m_off, m_lows, m_rows, tables, idx.probe, 28, max_bucket, idx.cap
        )

    labels = [lf.Features.from_bytes(raw).descriptors for q in queries for _l, raw in q]
    labels = [np.ascontiguousarray(q) for q in labels if len(q)]
    new(labels[0])
    old(labels[0])
    times: dict[str, list[float]] = {"new": [], "main": []}
    same = True
    load0 = fb._load_avg()
    for k, q in enumerate(labels):
        order = (("new", new), ("main", old)) if k % 2 == 0 else (("main", old), ("new", new))
        got = {}
        for name, fn in order:
            a = time.perf_counter()
            got[name] = fn(q)
            times[name].append(time.perf_counter() - a)
        same &= all(x.tolist() == y.tolist() for x, y in zip(got["new"], got["main"], strict=True))
    row = {
        "bank": args.bank, "items": args.items, "copies_of": args.copies_of,
        "descriptors": len(desc), "dir_bits": int(np.log2(s.offsets.shape[1] - 1)),
        "labels": len(labels), "identical_results": bool(same),
        "build_s": {"new": round(build_new, 1), "main": round(build_main, 1)},
        "table_bytes": {
            "new": int(s.offsets.nbytes + s.lows.nbytes + s.rows.nbytes + skip.nbytes),
            "main": int(m_off.nbytes + m_lows.nbytes + m_rows.nbytes),
        },
        "label_ms": {
            name: {
                "sum": round(sum(v) * 1e3, 1),
                "p50": round(float(np.percentile(v, 50)) * 1e3, 2),
                "p99": round(float(np.percentile(v, 99)) * 1e3, 2),
            }
            for name, v in times.items()
        },
        "ratio_main_over_new": round(sum(times["main"]) / sum(times["new"]), 2),
        # Per label, main's time over the new one's: a pause of the whole process (this
        # shared VM stops processes at times) spoils one label's pair, not the figure.
        "paired_ratio_median": round(float(np.median(np.divide(times["main"], times["new"]))), 2),
        "paired_ratio_p10_p90": [
            round(float(np.percentile(np.divide(times["main"], times["new"]), q)), 2)
            for q in (10, 90)
        ],
        "load": [load0, fb._load_avg()],
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    line = json.dumps(row)
    print(line)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    main()
