"""Turn the JSON lines of bench/match.py, hash.py and robustness.py into Markdown tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]


def match_table(path: Path) -> str:
    """Per size and set: each engine, and ours as a ratio of HMA."""
    rows = [r for r in _rows(path) if "error" not in r]
    out = [
        "| N | set | engine | build s | memory MB | p50 hit ms | p99 hit ms | p50 miss ms "
        "| p99 miss ms | batch q/s | recall | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['n']:,} | {r['set']} | {r['engine']} | {r['build_s']:.2f} "
            f"| {r['mem_bytes'] / 1e6:.0f} | {r['hit_p50_ms']:.3f} | {r['hit_p99_ms']:.3f} "
            f"| {r['miss_p50_ms']:.3f} | {r['miss_p99_ms']:.3f} | {r['batch_qps']:.0f} "
            f"| {r['recall']:.3f} | {r.get('load_avg', 0):.1f} |"
        )
    out += ["", "| N | set | p50 hit vs HMA | p50 miss vs HMA | memory vs HMA | build vs HMA |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    by = {(r["n"], r["set"], r["engine"]): r for r in rows}
    for (n, kind, eng), r in by.items():
        h = by.get((n, kind, "hma"))
        if eng != "ours" or h is None:
            continue
        out.append(
            f"| {n:,} | {kind} | 1/{h['hit_p50_ms'] / r['hit_p50_ms']:.1f} "
            f"| 1/{h['miss_p50_ms'] / r['miss_p50_ms']:.1f} "
            f"| 1/{h['mem_bytes'] / max(r['mem_bytes'], 1):.1f} "
            f"| 1/{h['build_s'] / r['build_s']:.1f} |"
        )
    return "\n".join(out)


def hash_table(path: Path) -> str:
    """Images/s per core and fast-path accuracy."""
    out = [
        "| JPEG | HMA PdqSignal /s | pdqhash full-res /s | openhotline /s | vs HMA "
        "| decode only /s | fast vs full mean bits | max | distribution |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in _rows(path):
        out.append(
            f"| {r['size']} | {r['hma_per_s']:.1f} | {r['pdqhash_full_per_s']:.1f} "
            f"| {r['ours_per_s']:.1f} | {r['speedup_vs_hma']:.1f}x | {r['decode_only_per_s']:.1f} "
            f"| {r['fast_vs_full_mean_bits']:.2f} | {r['fast_vs_full_max_bits']} "
            f"| {r['fast_vs_full_hist']} |"
        )
    return "\n".join(out)


def robustness_table(path: Path) -> str:
    """Match rate per transform and false positives."""
    rows = _rows(path)
    out = ["| transform | plain PDQ@31 | openhotline (query side) | + stored variants |",
           "|---|---|---|---|"]  # fmt: skip
    summary = {}
    for r in rows:
        if "transform" in r:
            out.append(
                f"| {r['transform']} | {r['plain']:.1%} | {r['ours']:.1%} "
                f"| {r['ours_variants']:.1%} |"
            )
        else:
            summary = r
    if summary:
        fp = summary["false_positives"]
        out.append(
            f"| false positives / {summary['unrelated_pairs']:,} unrelated pairs | {fp['plain']} "
            f"| {fp['ours']} | {fp['ours_variants']} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    kind, file = sys.argv[1], Path(sys.argv[2])
    print({"match": match_table, "hash": hash_table, "robustness": robustness_table}[kind](file))
