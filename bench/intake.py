"""Intake benchmark: reports/s and latency through HTTP, single and batch endpoints.

Starts `openhotline serve` on 127.0.0.1 with a fresh database (SQLite, and PostgreSQL when
one answers), drives it with wrk (Debian package `wrk`) at 50 and 200 connections, then
checks durability: every report answered 2xx must be in the database.

    .venv/bin/python bench/intake.py [--duration 15] [--workers 1,2] [--backends sqlite,postgresql]

`--workers 1,2` runs every scenario with one server process, then with two, in the same run,
so the ratio means something on a shared machine; each row records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-partner-key"

SINGLE_LUA = """
local counter = 0
local tid = 0
local nthreads = 0
setup = function(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
request = function()
  counter = counter + 1
  local body = '{"urls": ["http://bench.test/' .. tid .. '/' .. counter .. '"], '
    .. '"description": "benchmark report"}'
  return wrk.format("POST", "/api/v1/reports", {["Content-Type"] = "application/json"}, body)
end
"""

BATCH_LUA = """
local counter = 0
local tid = 0
local nthreads = 0
setup = function(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, %(size)d do
    parts[i] = '{"urls": ["http://batch.test/' .. tid .. '/' .. counter .. '/' .. i .. '"]}'
  end
  local body = '{"reports": [' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/v1/reports/batch",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(key)s"}, body)
end
"""


def free_port() -> int:
    """A free port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_url() -> str | None:
    """The PostgreSQL server to use, if one answers."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "test_database_url.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, percentiles (ms) and error counts from wrk --latency output."""

    def ms(value: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", value)
        if not m:
            return float("nan")
        n, unit = float(m.group(1)), m.group(2)
        return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n

    res: dict[str, float] = {}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        res[f"p{pct}_ms"] = ms(m.group(1)) if m else float("nan")
    m = re.search(r"(\d+) requests in", output)
    res["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    res["non2xx"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    res["socket_errors"] = float(sum(int(x) for x in m.groups())) if m else 0.0
    return res


class Server:
    """openhotline serve in a subprocess."""

    def __init__(self, db_url: str, data_dir: Path, workers: int) -> None:
        from openhotline.config import hash_api_key

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "OPENHOTLINE_DATABASE_URL": db_url,
            "OPENHOTLINE_DATA_DIR": str(data_dir),
            "OPENHOTLINE_PUBLIC_RATE_PER_MINUTE": "0",
            "OPENHOTLINE_PARTNER_API_KEY_HASHES": json.dumps([hash_api_key(KEY)]),
        }
        cmd = [
            sys.executable, "-m", "openhotline", "serve",
            "--port", str(self.port), "--workers", str(workers),
        ]  # fmt: skip
        self.log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            # Every worker must have started, or the first seconds measure fewer processes.
            started = (data_dir / "server.log").read_bytes().count(b"Application startup complete")
            try:
                up = httpx.get(self.url + "/report", timeout=1).status_code == 200
            except httpx.HTTPError:
                up = False
            if up and started >= workers:
                return
            time.sleep(0.2)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        """Stop the server."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def count_reports(db_url: str) -> int:
    """Reports stored in the database."""
    from openhotline.db import make_engine
    from openhotline.reporting.models import Report

    eng = make_engine(db_url)
    with eng.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(Report)).scalar_one())
    eng.dispose()
    return n


def run_wrk(url: str, script: str, connections: int, duration: int, workdir: Path) -> str:
    """Run wrk and return its output."""
    lua = workdir / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    lua.write_text(script)
    threads = min(2, connections)
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
        "--timeout", "60s", "-s", str(lua), url,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def bench_backend(
    name: str, db_url: str, args: argparse.Namespace, work: Path, workers: int
) -> list[dict]:
    """All scenarios on one backend with one number of server processes."""
    from openhotline.migrate import upgrade

    upgrade(db_url)
    data_dir = work / f"var-{name}-{workers}"
    data_dir.mkdir()
    server = Server(db_url, data_dir, workers)
    rows = []
    try:
        scenarios = [("single", 1, c) for c in args.clients] + [
            ("batch", args.batch_size, c) for c in args.batch_clients
        ]
        for kind, size, conns in scenarios:
            before = count_reports(db_url)
            script = SINGLE_LUA if kind == "single" else BATCH_LUA % {"size": size, "key": KEY}
            duration = args.duration if kind == "single" else args.batch_duration
            out = run_wrk(server.url, script, conns, duration, work)
            res = parse_wrk(out)
            time.sleep(2)  # let answers in flight at wrk's deadline land
            stored = count_reports(db_url) - before
            ok_requests = res["requests"] - res["non2xx"]
            row = {
                "backend": name,
                "workers": workers,
                "load_1min": round(os.getloadavg()[0], 1),
                "endpoint": kind,
                "batch": size,
                "clients": conns,
                "reports_per_s": round(stored / duration, 1),
                "requests_per_s": res["rps"],
                "p50_ms": res["p50_ms"],
                "p99_ms": res["p99_ms"],
                "non2xx": res["non2xx"],
                "socket_errors": res["socket_errors"],
                "stored": stored,
                # wrk stops counting at the deadline while answers may still be in flight,
                # so stored >= acknowledged (2xx x batch) is the durability check.
                "acknowledged_at_least": int(ok_requests * size),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.stop()
    return rows


def run_backend(backend: str, args: argparse.Namespace, work: Path, workers: int) -> list[dict]:
    """The scenarios on a fresh database of one backend."""
    if backend == "sqlite":
        return bench_backend(
            "sqlite", f"sqlite:///{work / f'bench-{workers}.db'}", args, work, workers
        )
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend}")
    base = pg_url()
    if base is None:
        print("PostgreSQL: skipped (no server answers)", file=sys.stderr)
        return []
    dbname = f"oh_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    try:
        return bench_backend(
            "postgresql", base.rsplit("/", 1)[0] + "/" + dbname, args, work, workers
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    """Run the benchmark and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument(
        "--workers", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2],
        help="server processes; a list (1,2) runs each in turn, in the same run",
    )  # fmt: skip
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--batch-duration", type=int, default=20)
    ap.add_argument("--clients", type=lambda v: [int(x) for x in v.split(",")], default=[50, 200])
    # A 1,000-report batch per client: 50 clients keep 50,000 reports in flight, so latency
    # grows with the queue; throughput (reports/s) is what batch runs measure.
    ap.add_argument(
        "--batch-clients", type=lambda v: [int(x) for x in v.split(",")], default=[4, 50]
    )
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "intake.json")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="oh-bench-") as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            for workers in args.workers:
                rows += run_backend(backend, args, work, workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "workers": args.workers,
        "duration_s": args.duration,
    }
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("\n| backend | workers | endpoint | clients | reports/s | p50 ms | p99 ms | non-2xx "
          "| durable | load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        durable = "yes" if r["stored"] >= r["acknowledged_at_least"] else "NO"
        print(
            f"| {r['backend']} | {r['workers']} | {r['endpoint']}"
            f"{' x' + str(r['batch']) if r['batch'] > 1 else ''} | {r['clients']} | "
            f"{r['reports_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['non2xx']:.0f} | {durable} | {r['load_1min']} |"
        )
    # Same scenario, N processes against the first count: the figure a shared machine keeps.
    base = {
        (r["backend"], r["endpoint"], r["clients"]): r
        for r in rows
        if r["workers"] == args.workers[0]
    }
    for r in rows:
        b = base.get((r["backend"], r["endpoint"], r["clients"]))
        if b is not None and r is not b and b["reports_per_s"]:
            print(
                f"{r['backend']} {r['endpoint']} {r['clients']} clients: {r['workers']} vs "
                f"{b['workers']} processes = {r['reports_per_s'] / b['reports_per_s']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
