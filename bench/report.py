"""Turn the JSON lines of bench/match.py, hash.py and robustness.py into Markdown tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


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


def robustness_table(path: Path, before: Path | None = None, features: Path | None = None) -> str:
    """Match rate per transform (known photos) and false positives, one column per engine.

    before: the same benchmark run on the code before issue 13 (its "imported" and "own"
    columns); features: a run with the local-feature signal (its "own" column).
    """
    rows, summary = _split(_rows(path))
    old = _split(_rows(before))[0] if before else {}
    feat, fsum = _split(_rows(features)) if features else ({}, {})
    head = "| transform | plain PDQ | dihedral PDQ | imported (before) | imported | own (before) |"
    head += " own, PDQ |" + (" own, PDQ + local features |" if feat else "")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows.items():
        o = old.get(name, {})
        line = (f"| {name} | {r['plain']:.1%} | {r['dihedral']:.1%} "
                f"| {o.get('imported', 0):.1%} | {r['imported']:.1%} | {o.get('own', 0):.1%} "
                f"| {r['own_pdq']:.1%} |")  # fmt: skip
        if feat:
            line += f" {feat[name]['own']:.1%} |" if name in feat else " - |"
        out.append(line)
    if summary:
        fp = summary["false_positives"]
        line = (f"| false positives / {summary['unrelated_pairs']:,} unrelated pairs "
                f"| {fp['plain']} | {fp['dihedral']} | - | {fp['imported']} | - "
                f"| {fp['own']} |")  # fmt: skip
        if fsum:
            line += f" {fsum['false_positives']['own']} / {fsum['unrelated_pairs']:,} pairs |"
        out.append(line)
    return "\n".join(out)


def _split(rows: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    by_name, summary = {}, {}
    for r in rows:
        if "transform" in r:
            by_name[r["transform"]] = r
        else:
            summary = r
    return by_name, summary


if __name__ == "__main__":
    kind, file = sys.argv[1], Path(sys.argv[2])
    if kind == "robustness":
        extra = [Path(a) for a in sys.argv[3:5]]
        print(robustness_table(file, *extra))
    else:
        print({"match": match_table, "hash": hash_table}[kind](file))
