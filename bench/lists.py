"""List benchmark: publish, export and sign a 1M-URL list and a 5M-hash list; deltas.

Builds each list in a fresh SQLite database (synthetic example.test URLs and random hex
hashes, no media), then times: publishing version 1 (diff + bulk insert), rendering and
signing the CSV and JSON snapshots, verifying a signature, publishing version 2 after 1%
churn (1% removed, 1% added), and rendering + signing the delta. Prints a Markdown table.

    .venv/bin/python bench/lists.py [--urls 1000000] [--hashes 5000000] [--churn 0.01]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from openhotline.blocklist import service
from openhotline.blocklist.models import ListKind
from openhotline.db import make_engine, make_sessionmaker, transaction
from openhotline.migrate import upgrade
from openhotline.signing.service import load_or_create, verify

T = TypeVar("T")
rows: list[tuple[str, str, str]] = []


def timed(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    rows.append((label, f"{elapsed:.2f} s", ""))
    print(f"{label}: {elapsed:.2f} s", file=sys.stderr, flush=True)
    return out


def note(label: str, value: str) -> None:
    rows.append((label, "", value))
    print(f"{label}: {value}", file=sys.stderr, flush=True)


def url_contents(n: int, start: int = 0) -> service.Contents:
    import hashlib

    out: service.Contents = {}
    for i in range(start, start + n):
        url = f"http://host{i % 5000}.example.test/path/{i}/page.html"
        out[hashlib.sha256(url.encode()).hexdigest()] = (url, None, None, None)
    return out


def hash_contents(n: int, seed: int) -> service.Contents:
    rnd = random.Random(seed)
    out: service.Contents = {}
    for _ in range(n):
        out[rnd.randbytes(32).hex()] = (
            None,
            rnd.randbytes(16).hex(),
            rnd.randbytes(20).hex(),
            rnd.randbytes(32).hex(),
        )
    return out


def churn(contents: service.Contents, fraction: float, fresh: service.Contents) -> service.Contents:
    drop = int(len(contents) * fraction)
    keys = sorted(contents)
    rnd = random.Random(7)
    removed = set(rnd.sample(keys, drop))
    out = {k: v for k, v in contents.items() if k not in removed}
    out.update(fresh)
    return out


def run_list(
    kind: ListKind, desired: service.Contents, changed: service.Contents, tmp: Path
) -> None:
    url = f"sqlite:///{tmp / f'{kind.value}.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    key = load_or_create(tmp)
    n = len(desired)
    label = f"{kind.value} ({n:,})"
    with transaction(factory) as s:
        timed(
            f"{label}: publish v1 (diff + insert)", lambda: service.publish_list(s, kind, desired)
        )
    files = {}
    with transaction(factory) as s:
        for fmt in ("csv", "json"):
            files[fmt] = timed(
                f"{label}: render + sign snapshot {fmt}",
                lambda fmt=fmt: service.snapshot_file(s, kind, 1, fmt, key, None),  # type: ignore[misc]
            )
            note(f"{label}: snapshot {fmt} size", f"{len(files[fmt].data) / 1e6:.1f} MB")
    f = files["csv"]
    timed(f"{label}: verify signature (csv)", lambda: verify(f.data, f.signature, key.public_b64))
    with transaction(factory) as s:
        v2 = timed(
            f"{label}: publish v2 (1% churn)", lambda: service.publish_list(s, kind, changed)
        )
        note(f"{label}: v2 change", f"+{v2.added_count:,} -{v2.removed_count:,}")
    with transaction(factory) as s:
        for fmt in ("csv", "json"):
            d = timed(
                f"{label}: render + sign delta v1→v2 {fmt}",
                lambda fmt=fmt: service.delta_file(s, kind, 1, 2, fmt, key, None),  # type: ignore[misc]
            )
            note(f"{label}: delta {fmt} size", f"{len(d.data) / 1e6:.2f} MB")
    with transaction(factory) as s:
        timed(f"{label}: publish v3 (no change)", lambda: service.publish_list(s, kind, changed))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--hashes", type=int, default=5_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="bench-lists-") as tmpdir:
        tmp = Path(tmpdir)
        if args.urls:
            desired = url_contents(args.urls)
            changed = churn(
                desired, args.churn, url_contents(int(args.urls * args.churn), args.urls)
            )
            run_list(ListKind.URLS, desired, changed, tmp)
            del desired, changed
        if args.hashes:
            desired = hash_contents(args.hashes, 1)
            changed = churn(desired, args.churn, hash_contents(int(args.hashes * args.churn), 2))
            run_list(ListKind.HASHES, desired, changed, tmp)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    note("peak RSS of the benchmark process", f"{peak:,.0f} MB")
    print("| step | time | value |\n|---|---|---|")
    for label, t, v in rows:
        print(f"| {label} | {t} | {v} |")


if __name__ == "__main__":
    main()
