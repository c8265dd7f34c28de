"""Where a local-feature query's time goes on a big bank, stage by stage (issue 13, p99).

Caches the real bank's item features and a set of query images' features (whole + regions,
bench/features.py's transforms) under bench/out, builds a --scale bank (bench/feature_banks.py)
with whatever openhotline is on PYTHONPATH (this branch's or main's code, same bank, same
queries), then times each query through FeatureIndex.search and, with --stages, splits every
label's time into the descriptor lookup kernel, the per-(item, query row) reduction, the
candidate ranking and the verification of each candidate.

    PYTHONPATH=src .venv/bin/python bench/feature_profile.py --bank near-copy --items 100000 \
        --copies-of 100 --stages

--copies-of K: the generated near-copies are copies of the first K bank items only, so that
each of those photos has ~items / K copies (K=100 at 100k: the ~1,000 copies per photo of a
1M near-copy bank, RESULTS 3d's diagnostic).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import feature_banks
import features as fb

from openhotline.matching import features as lf

OUT = Path(__file__).parent / "out"


def _cache(args: Any) -> tuple[list[lf.Features], list[Any], list[int | None], list[str]]:
    """(bank features, query label lists, owner item per query, transform per query)."""
    path = OUT / f"s24-profile-cache-{args.item_keypoints}-{args.query_photos}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            raw_bank, queries, owners, transforms = pickle.load(fh)  # noqa: S301 (our own cache)
        return [lf.Features.from_bytes(b) for b in raw_bank], queries, owners, transforms
    manifest = json.loads((fb.PHOTOS / "manifest.json").read_text())
    photos = ["photos/" + p["file"] for p in manifest["photos"]]
    decoys = ["decoys/" + p["file"] for p in manifest["decoys"]]
    known, unknown = photos[0::2], photos[1::2]
    bank_jobs = [(p, False) for p in known] + [(d, False) for d in decoys]
    bank_jobs += [(d, True) for d in decoys]  # --mirror-decoys
    ctx = get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        raw_bank = pool.map(
            fb._item_job, [(n, m, args.item_keypoints) for n, m in bank_jobs], chunksize=8
        )
        jobs = []
        # Known photos spread over the list (every 4th), each under every transform.
        asked = known[:: max(1, len(known) // args.query_photos)][: args.query_photos]
        for qid, name in enumerate(asked):
            others = [u for u in unknown if u != name][qid % 7 : qid % 7 + 8]
            for t in fb.TRANSFORMS:
                jobs.append((len(jobs), name, t, others))
        done = sorted(pool.map(fb._query_job, jobs, chunksize=4))
    queries = [q for _, _, q in done]
    owner = {name: i for i, (name, m) in enumerate(bank_jobs) if not m}
    owners: list[int | None] = [owner[name] for _q, name, _t, _o in jobs]
    transforms = [t for _q, _n, t, _o in jobs]
    OUT.mkdir(exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump((raw_bank, queries, owners, transforms), fh)
    return [lf.Features.from_bytes(b) for b in raw_bank], queries, owners, transforms


def _bank(args: Any, bank: list[lf.Features], owners: list[int | None]) -> Any:
    base = [(f.points, f.descriptors) for f in bank]
    gen = args.items - len(base)
    if args.bank == "near-copy":
        src = base[: args.copies_of] if args.copies_of else base
        return feature_banks.near_copies(src, gen, head=base)
    queried = {o for o in owners if o is not None}
    pool = [b for i, b in enumerate(base) if i not in queried]
    make = feature_banks.distinct if args.bank == "distinct" else feature_banks.mosaic
    return make(pool, gen, head=base)


def _stages(idx: lf.FeatureIndex, feats: lf.Features) -> dict[str, Any]:
    """One label through the same steps as FeatureIndex.search, each timed."""
    di = idx._index
    t0 = time.perf_counter()
    m = di.matches(feats.descriptors, lf.DESCRIPTOR_RADIUS)
    t1 = time.perf_counter()
    need = max(lf.MIN_CANDIDATE_MATCHES, lf.MIN_INLIERS)
    cands = idx.candidates(feats, lf.DESCRIPTOR_RADIUS, need)
    t2 = time.perf_counter()
    qpts = feats.points.astype(np.float32)
    q_extent = lf._extent(qpts)
    ver = []
    for item, q_rows, pts in cands:
        s = time.perf_counter()
        v = lf.verify(qpts[q_rows], pts, q_extent, di.extent(item))
        ver.append((item, len(q_rows), v.raw, v.reason, round((time.perf_counter() - s) * 1e3, 2)))
    t3 = time.perf_counter()
    return {
        "kp": len(feats), "matches": len(m.items), "lookup_ms": round((t1 - t0) * 1e3, 1),
        "candidates_ms": round((t2 - t1) * 1e3, 1), "verify_ms": round((t3 - t2) * 1e3, 1),
        "verified": ver,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--item-keypoints", type=int, default=150)
    ap.add_argument("--query-photos", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bank", default="near-copy")
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--copies-of", type=int, default=0)
    ap.add_argument("--queries", type=int, default=0, help="only the first this many")
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the queries")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    bank, queries, owners, transforms = _cache(args)
    if args.queries:
        queries, owners, transforms = (
            queries[: args.queries],
            owners[: args.queries],
            transforms[: args.queries],
        )
    ids, counts, pts, desc = _bank(args, bank, owners)
    t0 = time.perf_counter()
    idx = lf.FeatureIndex()
    idx.add_many(ids, counts, pts, desc)
    idx.nbytes()
    build = time.perf_counter() - t0
    del pts, desc
    fb._G["radius"] = lf.DESCRIPTOR_RADIUS
    row: dict[str, Any] = {
        "tag": args.tag, "module": lf.__file__, "bank": args.bank, "items": args.items,
        "copies_of": args.copies_of, "item_keypoints": args.item_keypoints,
        "build_s": round(build, 1), "index_bytes": idx.nbytes(), "load_before": fb._load_avg(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }  # fmt: skip
    passes = []
    for _ in range(args.repeat):
        passes.append(fb._latency(idx, queries, owners, transforms))
        passes[-1]["load"] = fb._load_avg()
    row["passes"] = passes
    if args.stages:
        per_query = []
        for q, t in zip(queries, transforms, strict=True):
            s = time.perf_counter()
            labels = [_stages(idx, lf.Features.from_bytes(raw)) for _lbl, raw in q]
            per_query.append(
                {"transform": t, "ms": round((time.perf_counter() - s) * 1e3, 1), "labels": labels}
            )
        row["stages"] = per_query
    row["load_after"] = fb._load_avg()
    line = json.dumps(row)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(line + "\n")
    brief = {k: v for k, v in row.items() if k != "stages"}
    print(json.dumps(brief))
    print("pid", os.getpid(), file=sys.stderr)


if __name__ == "__main__":
    main()
