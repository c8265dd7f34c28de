"""Run the real server (`openhotline serve`) in a subprocess for crash and load tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVE = [sys.executable, "-m", "openhotline", "serve"]


class ServerProcess:
    """`openhotline serve` on 127.0.0.1 with the given database, killable with SIGKILL."""

    def __init__(
        self,
        db_url: str,
        data_dir: Path,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
    ):
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "OPENHOTLINE_DATABASE_URL": db_url,
            "OPENHOTLINE_DATA_DIR": str(data_dir),
            "OPENHOTLINE_PUBLIC_RATE_PER_MINUTE": "0",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_from = 0
        self.log = data_dir / f"server-{self.port}.log"

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and wait until it answers (slow on a loaded shared machine)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*SERVE, "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: kill9() takes uvicorn's workers down with it.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                up = httpx.get(self.base + "/report", timeout=1).status_code == 200
            except httpx.HTTPError:
                up = False
            # With several workers, every one must be serving, not just the first.
            if up and (self.workers == 1 or len(self.worker_pids()) == self.workers):
                return
            time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def worker_pids(self) -> list[int]:
        """Process ids of uvicorn's worker processes that have started their app."""
        assert self.proc is not None
        log = self.log.read_bytes()[self._log_from :].decode(errors="replace")
        if log.count("Application startup complete") < self.workers:
            return []
        started = [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log)]
        alive = []
        for pid in started:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            # Field 4 of /proc/PID/stat is the parent's pid (after the parenthesised name).
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                alive.append(pid)
        return alive

    def kill9(self) -> None:
        """Kill the server without any chance to clean up."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server gracefully if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
