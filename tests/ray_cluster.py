"""A throw-away Ray cluster on 127.0.0.1 for tests: a head and worker nodes, always stopped.

Each node is `ray start --block` in a process group of its own, with small resources (one
CPU, a 100 MB object store, no dashboard), ports picked free at start, and its own temp
folder, so it never meets another Ray on the machine. `stop()` ends the process groups
and then any process still naming the temp folder (by pid), and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

RAY = Path(sys.executable).parent / "ray"
STORE = str(100 * 1000 * 1000)


def free_ports(n: int) -> list[int]:
    """n ports free now on 127.0.0.1 (held open together, so all different)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Cluster:
    def __init__(self, env: dict[str, str]) -> None:
        # Short path: Ray's Unix sockets live under it (108-byte limit).
        self.tmp = tempfile.mkdtemp(prefix="ohray")
        # Token authentication (Ray's default for `ray start`): one token for every node
        # and driver, given by environment, so nothing is read from or written to ~/.ray.
        self.env = {
            **env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
        }  # fmt: skip
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _node_args(self) -> list[str]:
        nm, om, ag, al, me, re = free_ports(6)
        return [
            "--node-ip-address=127.0.0.1", "--num-cpus=1", f"--object-store-memory={STORE}",
            f"--node-manager-port={nm}", f"--object-manager-port={om}",
            f"--dashboard-agent-grpc-port={ag}", f"--dashboard-agent-listen-port={al}",
            f"--metrics-export-port={me}", f"--runtime-env-agent-port={re}",
            "--min-worker-port=0", "--max-worker-port=0", "--disable-usage-stats",
        ]  # fmt: skip

    def _start(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = Path(self.tmp) / f"{name}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [str(RAY), "start", "--block", *args, *self._node_args()],
                env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.nodes.append(proc)
        deadline = time.monotonic() + 90
        while b"Ray runtime started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray node {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        return proc

    def start_head(self) -> None:
        self.port, client, dashboard = free_ports(3)
        self._start(
            ["--head", f"--port={self.port}", f"--ray-client-server-port={client}",
             "--include-dashboard=false", f"--dashboard-port={dashboard}",
             f"--temp-dir={self.tmp}"],
            "head",
        )  # fmt: skip

    def add_worker(self) -> subprocess.Popen[bytes]:
        return self._start(
            [f"--address={self.address}", f"--temp-dir={self.tmp}"], f"worker{len(self.nodes)}"
        )

    def kill(self, node: subprocess.Popen[bytes]) -> None:
        """Kill a node at once, its workers too (SIGKILL): a machine lost."""
        for pid in members(node):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        node.wait(30)

    def stop(self) -> None:
        workers = [pid for node in self.nodes for pid in members(node)]
        for node in reversed(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGTERM)
        for node in self.nodes:
            try:
                node.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.pid, signal.SIGKILL)
                node.wait(10)
        for pid in [*workers, *leftover(self.tmp)]:  # anything outside the process groups
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _processes() -> Iterator[tuple[int, int, int, bytes]]:
    """(pid, parent pid, process group, command line) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            yield int(entry.name), int(fields[1]), int(fields[2]), (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue


def members(node: subprocess.Popen[bytes]) -> dict[int, bytes]:
    """The node's processes: its process group, and the workers its raylet started (Ray
    puts each worker in a process group of its own)."""
    procs = list(_processes())
    group = {pid for pid, _, pgid, _ in procs if pgid == node.pid}
    return {pid: cmd for pid, ppid, pgid, cmd in procs if pgid == node.pid or ppid in group}


def running(node: subprocess.Popen[bytes], task: str) -> bool:
    """Whether a worker of this node runs the named task now (Ray titles a worker process
    `ray::NAME` while it runs a task, `ray::IDLE` otherwise)."""
    return any(cmd.startswith(f"ray::{task}".encode()) for cmd in members(node).values())


def leftover(marker: str) -> list[int]:
    """Pids of processes whose command line names marker (our temp folder)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmd:
            out.append(int(entry.name))
    return out
