"""Found-rate and unrelated pairs on the real bank with whatever openhotline is on PYTHONPATH.

A lighter bench/features.py recall run for same-run comparisons of two code versions (this
branch's, then main's via PYTHONPATH=/work/main/src): the cached bank (945 items: known
photos, decoys, mirrored decoys) and query labels of bench/feature_profile.py, every label
searched with FeatureIndex.search, every verified candidate's raw RANSAC inliers recorded.
Found = the photo's own item with >= MIN_INLIERS; unrelated = any other item.

    PYTHONPATH=src .venv/bin/python bench/feature_pairs.py --query-photos 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import feature_profile as fp
import features as fb

from openhotline.matching import features as lf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--item-keypoints", type=int, default=150)
    ap.add_argument("--query-photos", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    bank, queries, owners, transforms = fp._cache(args)
    idx = lf.FeatureIndex()
    for i, f in enumerate(bank):
        idx.add(i, f)
    lf._verify = fb._recording_verify  # type: ignore[assignment]
    found: dict[str, list[int]] = {}
    verified = accepted = max_raw = max_accepted = 0
    worst: list[Any] = []
    load0 = fb._load_avg()
    t0 = time.perf_counter()
    for q, mine, t in zip(queries, owners, transforms, strict=True):
        best = 0
        for _lbl, raw in q:
            notes: list[tuple[int, int, int, str]] = []

            def note(item: int, inliers: int, notes: list[Any] = notes) -> None:
                v = fb._G["last"]
                notes.append((item, inliers, v.raw, v.reason))

            idx.search(lf.Features.from_bytes(raw), lf.MIN_INLIERS, lf.DESCRIPTOR_RADIUS, note)
            for item, inliers, raw_n, why in notes:
                if item == mine:
                    best = max(best, inliers)
                    continue
                verified += 1
                accepted += inliers >= lf.MIN_INLIERS
                max_accepted = max(max_accepted, inliers)
                if raw_n > max_raw:
                    max_raw = raw_n
                    worst = [item, raw_n, why, t]
        h = found.setdefault(t, [0, 0])
        h[0] += best >= lf.MIN_INLIERS
        h[1] += 1
    row = {
        "tag": args.tag, "module": lf.__file__, "bank_items": len(bank),
        "queries": len(queries), "labels": sum(len(q) for q in queries),
        "found": f"{sum(h[0] for h in found.values())}/{sum(h[1] for h in found.values())}",
        "found_by_transform": {t: f"{h[0]}/{h[1]}" for t, h in found.items()},
        "unrelated_verified": verified, "unrelated_accepted": accepted,
        "unrelated_max_inliers": max_accepted, "unrelated_max_raw_inliers": max_raw,
        "worst_unrelated_raw": worst, "seconds": round(time.perf_counter() - t0, 1),
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
