"""List benchmark: publish, export and sign a 1M-URL list and a 5M-hash list; deltas.

Builds each list in a fresh database (synthetic example.test URLs and random hex hashes, no
media), then times: publishing version 1 (bulk load), rendering and signing the CSV and JSON
snapshots into the cache directory (as the API does), verifying a signature (in a separate
process, as a partner would), publishing version 2 after 1% churn (1% removed, 1% added),
rendering + signing the delta, and publishing version 3 from the unchanged source twice in
the same run: the old way (digest of the whole source) and the new (the change token kept by
the database's triggers, migration 1170; the source is not read). Prints a
Markdown table with the peak memory of the benchmark process (and of the verifier).

Sources are what `publish_list` takes: rows in key order, re-iterable. They are kept as
sorted numpy arrays of raw keys (32 bytes a row) and turned into rows batch by batch, so
the input itself does not dwarf what is measured (a dict of 5M rows is 2.7 GB); the time
to generate the rows is inside each publish figure.

    .venv/bin/python bench/lists.py [--urls 1000000] [--hashes 5000000] [--churn 0.01]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB]  (emptied first!)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import repeat
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy import text

from openhotline.blocklist import service
from openhotline.blocklist.formats import Row
from openhotline.blocklist.models import ListKind, ListVersion
from openhotline.db import make_engine, make_sessionmaker, transaction
from openhotline.migrate import upgrade
from openhotline.signing.service import load_or_create

T = TypeVar("T")
rows: list[tuple[str, str, str, str]] = []
BATCH = 10000
# Odd 64-bit multipliers: the other hash columns are derived from the key (cheap, fixed).
MIX = np.array([0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93])


def timed(label: str, fn: Callable[[], T]) -> T:
    """Wall time, and this process's CPU time: on a loaded machine the CPU time is the
    steadier measure of the work (SQLite runs in-process; PostgreSQL's own CPU is not in it)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    rows.append((label, f"{elapsed:.3f} s", f"{used:.3f} s", ""))
    print(f"{label}: {elapsed:.3f} s (cpu {used:.3f} s)", file=sys.stderr, flush=True)
    return out


def note(label: str, value: str) -> None:
    rows.append((label, "", "", value))
    print(f"{label}: {value}", file=sys.stderr, flush=True)


def _hex_cells(blob: bytes, width: int) -> list[str]:
    hexed = np.frombuffer(blob.hex().encode("ascii"), dtype=f"S{width * 2}")
    out: list[str] = hexed.astype(f"U{width * 2}").tolist()
    return out


class HashSource:
    """Sorted unique random SHA-256 keys; MD5/SHA-1/PDQ derived from each key."""

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = keys  # dtype S32, sorted, unique

    @classmethod
    def random(cls, n: int, seed: int) -> HashSource:
        raw = np.random.default_rng(seed).bytes(32 * n)
        return cls(np.unique(np.frombuffer(raw, dtype="S32")))

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[Row]:
        for start in range(0, len(self.keys), BATCH):
            chunk = self.keys[start : start + BATCH]
            words = chunk.view(np.uint64).reshape(-1, 4)
            mixed = words * MIX  # wraps modulo 2**64
            keys = _hex_cells(chunk.tobytes(), 32)
            md5 = _hex_cells(mixed[:, :2].tobytes(), 16)
            sha1 = [s[:40] for s in _hex_cells(np.ascontiguousarray(mixed[:, 1:]).tobytes(), 24)]
            pdq = _hex_cells((mixed ^ words).tobytes(), 32)
            yield from zip(
                keys, repeat(None), md5, sha1, pdq, repeat(None), repeat(None), repeat(None)
            )


def url_of(i: int) -> str:
    return f"http://host{i % 5000}.example.test/path/{i}/page.html"


class UrlSource:
    """URLs numbered by `ids`, held sorted by the SHA-256 of the URL (the list's key)."""

    def __init__(self, ids: np.ndarray) -> None:
        keys = np.array([hashlib.sha256(url_of(int(i)).encode()).digest() for i in ids], "S32")
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.ids = ids[order]

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[Row]:
        for start in range(0, len(self.keys), BATCH):
            keys = _hex_cells(self.keys[start : start + BATCH].tobytes(), 32)
            urls = [url_of(i) for i in self.ids[start : start + BATCH].tolist()]
            yield from zip(keys, urls, *(repeat(None),) * 6, strict=False)


def churned(src: HashSource | UrlSource, fraction: float, n_new: int) -> HashSource | UrlSource:
    """Drop `fraction` of the rows at random, add n_new fresh ones."""
    rnd = np.random.default_rng(7)
    drop = int(len(src) * fraction)
    keep = np.ones(len(src), dtype=bool)
    keep[rnd.choice(len(src), drop, replace=False)] = False
    if isinstance(src, HashSource):
        fresh = HashSource.random(n_new, 2).keys
        return HashSource(np.unique(np.concatenate([src.keys[keep], fresh])))
    start = int(src.ids.max()) + 1
    return UrlSource(np.concatenate([src.ids[keep], np.arange(start, start + n_new)]))


def verify_elsewhere(path: Path, signature: str, public_b64: str) -> None:
    """Verify as a partner would: another process, the existing verifier, the whole file."""
    code = (
        "import sys; from pathlib import Path; from openhotline.signing.service import verify; "
        "verify(Path(sys.argv[1]).read_bytes(), sys.argv[2], sys.argv[3])"
    )
    subprocess.run([sys.executable, "-c", code, str(path), signature, public_b64], check=True)


def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def run_list(
    kind: ListKind,
    desired: HashSource | UrlSource,
    make_changed: Callable[[], HashSource | UrlSource],
    tmp: Path,
    database_url: str | None,
) -> None:
    if database_url:
        reset_postgres(database_url)
        url = database_url
    else:
        url = f"sqlite:///{tmp / f'{kind.value}.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    key = load_or_create(tmp)
    cache = tmp / "lists"
    n = len(desired)
    label = f"{kind.value} ({n:,})"
    with transaction(factory) as s:
        timed(f"{label}: publish v1 (bulk load)", lambda: service.publish_list(s, kind, desired))
    files = {}
    with transaction(factory) as s:
        for fmt in ("csv", "json"):
            files[fmt] = timed(
                f"{label}: render + sign snapshot {fmt}",
                lambda fmt=fmt: service.snapshot_file(s, kind, 1, fmt, key, cache),  # type: ignore[misc]
            )
            note(f"{label}: snapshot {fmt} size", f"{files[fmt].size / 1e6:.1f} MB")
    f = files["csv"]
    assert f.path is not None
    timed(
        f"{label}: verify signature (csv, separate process incl. start-up)",
        lambda: verify_elsewhere(f.path, f.signature, key.public_b64),  # type: ignore[arg-type]
    )
    changed = make_changed()
    with transaction(factory) as s:
        # As publish_lists does: the change token is read before the source; v2 stores it.
        token = service.source_token(s, kind)
        v2 = timed(
            f"{label}: publish v2 (1% churn)",
            lambda: service.publish_list(s, kind, changed, token=token),
        )
        note(f"{label}: v2 change", f"+{v2.added_count:,} -{v2.removed_count:,}")
    with transaction(factory) as s:
        for fmt in ("csv", "json"):
            d = timed(
                f"{label}: render + sign delta v1→v2 {fmt}",
                lambda fmt=fmt: service.delta_file(s, kind, 1, 2, fmt, key, cache),  # type: ignore[misc]
            )
            note(f"{label}: delta {fmt} size", f"{d.size / 1e6:.2f} MB")
    with transaction(factory) as s:
        v3 = timed(
            f"{label}: publish v3 (no change), old: source digest",
            lambda: service.publish_list(s, kind, changed),
        )
        assert v3.version == 2, "an unchanged source must not make a version"
    with transaction(factory) as s:

        def by_token() -> ListVersion:
            # What publish_lists does when no source row changed: read the counters,
            # compare, never build the source (the function below is not called).
            now = service.source_token(s, kind)
            return service.publish_list(s, kind, lambda: changed, token=now)

        v3 = timed(f"{label}: publish v3 (no change), new: change token", by_token)
        assert v3.version == 2, "an unchanged source must not make a version"
    timed(
        f"{label}: of which reading the source alone (rows from the arrays)",
        lambda: sum(1 for _ in changed),
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--hashes", type=int, default=5_000_000)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (its schema is DROPPED)")
    args = parser.parse_args()
    backend = "PostgreSQL" if args.database_url else f"SQLite {sqlite3.sqlite_version}"
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {backend}, load {os.getloadavg()}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="bench-lists-") as tmpdir:
        tmp = Path(tmpdir)
        if args.urls:
            n, c = args.urls, int(args.urls * args.churn)
            urls = UrlSource(np.arange(n))
            run_list(
                ListKind.URLS, urls, lambda: churned(urls, args.churn, c), tmp, args.database_url
            )
            del urls
        if args.hashes:
            n, c = args.hashes, int(args.hashes * args.churn)
            hashes = HashSource.random(n, 1)
            run_list(
                ListKind.HASHES,
                hashes,
                lambda: churned(hashes, args.churn, c),
                tmp,
                args.database_url,
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    note("peak RSS of the benchmark process", f"{peak:,.0f} MB")
    note("peak RSS of the verifier process (partner side)", f"{child:,.0f} MB")
    note("load average at the end", str(os.getloadavg()))
    print("| step | wall time | CPU time (this process) | value |\n|---|---|---|---|")
    for label, t, c, v in rows:
        print(f"| {label} | {t} | {c} | {v} |")


if __name__ == "__main__":
    main()
