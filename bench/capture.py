"""Capture throughput on 127.0.0.1: one page showing N generated images, crawled and stored.

    .venv/bin/python bench/capture.py --images 200

Prints the crawl time (fetch + sniff), the store time (encrypt + hash + DB) and items/s.
Only 127.0.0.1 is contacted; images are generated noise (never real content).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pipeline_support import LocalSite, make_image

from openhotline.capture.crawler import CrawlLimits, crawl
from openhotline.capture.fetch import FetchLimits, SafeFetcher
from openhotline.capture.service import hash_media, store_capture
from openhotline.cases.models import Case
from openhotline.db import make_engine, make_sessionmaker, transaction
from openhotline.media.store import EncryptedFileStore
from openhotline.migrate import upgrade
from openhotline.net.guard import AddressGuard, StaticResolver, parse_networks
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report


def main() -> None:
    """Run the benchmark once and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    args = parser.parse_args()
    site = LocalSite().start()
    tags = []
    for i in range(args.images):
        site.media(f"/i{i}.png", make_image(i, "PNG", (args.size, args.size)))
        tags.append(f'<img src="/i{i}.png">')
    site.html("/", "<html>" + "".join(tags) + "</html>")
    guard = AddressGuard(
        StaticResolver({"bench.test": ["127.0.0.1"]}), parse_networks(["127.0.0.1/32"])
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/b.db"
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        with transaction(factory) as s:
            submit_report(s, ReportIn(urls=[site.url("/", "bench.test")]))
        store = EncryptedFileStore(Path(tmp) / "media", b"k" * 32)
        limits = CrawlLimits(max_items=args.images, case_seconds=600)
        t0 = time.perf_counter()
        with SafeFetcher(guard, FetchLimits(deadline_seconds=600)) as fetcher:
            result = crawl(fetcher, site.url("/", "bench.test"), limits)
        t1 = time.perf_counter()
        hashed = [hash_media(m) for m in result.media]
        t_hash = time.perf_counter()
        with transaction(factory) as s:
            case = s.query(Case).one()
            summary = store_capture(s, case, result, hashed, store, None)
        t2 = time.perf_counter()
        engine.dispose()
    site.stop()
    n = len(result.media)
    mb = sum(len(m.body) for m in result.media) / 1e6
    print(f"items captured: {n} ({mb:.1f} MB), new: {summary.new_items}")
    print(f"crawl (fetch+sniff): {t1 - t0:.2f} s  ({n / (t1 - t0):.0f} items/s)")
    print(f"hash (md5/sha1/sha256 + PDQ candidates): {t_hash - t1:.2f} s")
    print(f"store (encrypt+db): {t2 - t_hash:.2f} s  ({n / (t2 - t_hash):.0f} items/s)")
    print(f"total: {t2 - t0:.2f} s  ({n / (t2 - t0):.0f} items/s)")


if __name__ == "__main__":
    main()
