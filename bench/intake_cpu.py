"""CPU per report on the intake path, in process: the app driven as ASGI, no sockets, no wrk.

On a loaded machine wall-clock rates say little; the CPU a request costs the server's threads
does not depend on how many other processes share the cores. This builds the app of the
source tree on PYTHONPATH (run it once with main's tree and once with a branch's, in turn),
sends `--requests` single reports (or `--batches` partner batches) through it with
`--concurrency` in flight, and prints one JSON line: CPU ms per request of the event-loop
thread, of the whole process (the group-commit writer included), and wall time.

    PYTHONPATH=$PWD/src .venv/bin/python bench/intake_cpu.py --kind single --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

KEY = "bench-partner-key"


def single_body(tid: int, n: int) -> bytes:
    """The body bench/intake.py's wrk script sends for one report."""
    return (
        f'{{"urls": ["http://bench.test/{tid}/{n}"], "description": "benchmark report"}}'
    ).encode()


def batch_body(tid: int, n: int, size: int) -> bytes:
    """The body bench/intake.py's wrk script sends for one batch."""
    parts = [f'{{"urls": ["http://batch.test/{tid}/{n}/{i}"]}}' for i in range(1, size + 1)]
    return ('{"reports": [' + ",".join(parts) + "]}").encode()


async def call(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One POST through the ASGI app; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def drive(app: Any, args: argparse.Namespace) -> dict[str, float]:
    """Send the requests with `concurrency` in flight; measure CPU and wall time."""
    # bench/intake.py's wrk scripts send every URL twice (its two threads count alike and
    # both write tid 0), so by default two clients here send the same bodies too.
    half = max(1, args.concurrency // 2)

    def tid(w: int) -> int:
        return w % half if args.duplicates else w

    if args.kind == "single":
        path, n, headers = "/api/v1/reports", args.requests, []
        bodies = [single_body(tid(w), i) for w in range(args.concurrency) for i in range(n)]
    else:
        path, n = "/api/v1/reports/batch", args.batches
        headers = [(b"authorization", f"Bearer {KEY}".encode())]
        bodies = [
            batch_body(tid(w), i, args.batch_size)
            for w in range(args.concurrency)
            for i in range(n)
        ]
    per_worker = len(bodies) // args.concurrency
    statuses: list[int] = []

    async def worker(w: int) -> None:
        for i in range(per_worker):
            statuses.append(await call(app, path, bodies[w * per_worker + i], headers))

    # Warm up (compiled SQL, first connections), then measure.
    await asyncio.gather(*(call(app, path, bodies[i], headers) for i in range(2)))
    run_id = uuid.uuid4().hex[:6]
    bodies = [b.replace(b".test/", f".test/{run_id}/".encode()) for b in bodies]
    gc.collect()
    wall0, cpu0, loop0 = time.perf_counter(), time.process_time(), time.thread_time()
    await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
    wall, cpu, loop_cpu = (
        time.perf_counter() - wall0,
        time.process_time() - cpu0,
        time.thread_time() - loop0,
    )
    bad = sum(1 for s in statuses if s not in (200, 201))
    reqs = len(statuses)
    reports = reqs * (1 if args.kind == "single" else args.batch_size)
    return {
        "requests": reqs,
        "non2xx": bad,
        "wall_s": round(wall, 3),
        "loop_cpu_ms_per_request": round(loop_cpu * 1000 / reqs, 4),
        "process_cpu_ms_per_request": round(cpu * 1000 / reqs, 4),
        "process_cpu_us_per_report": round(cpu * 1e6 / reports, 2),
        "reports_per_cpu_s": round(reports / cpu, 1) if cpu else 0.0,
    }


def main() -> int:
    """Build the app of the tree on PYTHONPATH, drive it, print one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kind", choices=("single", "batch"), default="single")
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("OPENHOTLINE_TEST_DATABASE_URL", ""))
    ap.add_argument("--requests", type=int, default=60, help="single: requests per client")
    ap.add_argument("--batches", type=int, default=2, help="batch: batches per client")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--label", default="")
    ap.add_argument(
        "--no-duplicates", dest="duplicates", action="store_false",
        help="every client its own URLs (default: each URL twice, as bench/intake.py's wrk)",
    )  # fmt: skip
    ap.add_argument("--profile", type=Path, help="write a cProfile of the event-loop thread")
    args = ap.parse_args()

    from openhotline.config import hash_api_key

    with tempfile.TemporaryDirectory(prefix="oh-cpu-") as tmp:
        if args.backend == "sqlite":
            db_url = f"sqlite:///{Path(tmp) / 'intake.db'}"
        else:
            if not args.pg_url:
                print("--pg-url is needed for postgresql", file=sys.stderr)
                return 2
            db_url = args.pg_url
        os.environ.update(
            {
                "OPENHOTLINE_DATABASE_URL": db_url,
                "OPENHOTLINE_DATA_DIR": tmp,
                "OPENHOTLINE_PUBLIC_RATE_PER_MINUTE": "0",
                "OPENHOTLINE_PARTNER_API_KEY_HASHES": json.dumps([hash_api_key(KEY)]),
            }
        )
        from openhotline.app import create_app
        from openhotline.migrate import upgrade

        upgrade(db_url)
        import openhotline.app

        app = create_app()
        # As `serve` does once its app is built (trees before server_gc: collect, freeze).
        server_gc = getattr(openhotline.app, "server_gc", None)
        if server_gc is not None:
            server_gc()
        else:
            gc.collect()
            gc.freeze()
        try:
            if args.profile:
                import cProfile

                prof = cProfile.Profile()
                res = prof.runcall(asyncio.run, drive(app, args))
                prof.dump_stats(args.profile)
            else:
                res = asyncio.run(drive(app, args))
        finally:
            app.state.committer.close()
            app.state.services.close()
    import openhotline

    row = {
        "label": args.label,
        "tree": str(Path(openhotline.__file__).resolve().parents[2]),
        "kind": args.kind,
        "backend": args.backend,
        "concurrency": args.concurrency,
        "load_1min": round(os.getloadavg()[0], 1),
        **res,
    }
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
