"""Bulk scans on a Ray cluster: `openhotline scan DIR --bank NAME --ray ADDRESS|auto`.

The driver (the `scan` command) freezes the named banks into a `BankSnapshot` and puts it
in Ray's object store once: each node fetches it once, and each worker process
deserialises it once (the numpy arrays are shared, not copied). Files go out in batches
as Ray tasks; each task runs `scan_file.scan_frozen` on its files, the same per-file work
as the local scan, and returns the records the local scan would print. At most two
batches per CPU of the cluster are in flight, so a folder of tens of millions of files
never waits in memory as tasks.

A node lost mid-scan: Ray re-runs its tasks elsewhere (`max_retries`). A batch that still
fails (a file that kills the worker decoding it, every time) is split into single files
and retried once; a file that fails alone is reported as unreadable, like any bad file.
The driver prints each file once whatever is retried (scan.py keeps a set of paths done).

Ray is an optional extra (`pip install 'openhotline[ray]'`): it is imported only here and
only when a scan asks for it.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Iterator
from typing import Any

from openhotline.matching.scan_file import ScanOptions, _Scanned, record_of, scan_frozen
from openhotline.matching.snapshot import BankSnapshot

BATCH = 16  # files per task: enough to hide the task overhead (~1 ms), small enough to spread
MiB = 1024 * 1024


class RayScanError(Exception):
    """The scan cannot go on with Ray (no cluster at the address, the cluster lost)."""


def unavailable() -> str | None:
    """Why a Ray scan cannot run here (Ray not installed), or None."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "--ray needs Ray, the ray extra: pip install 'openhotline[ray]'"
    return None


def target_problem(target: str) -> str | None:
    """Why --ray TARGET cannot work (not host:port, nothing answering there), or None.

    Checked before the scan: Ray itself waits minutes for a head that is not there.
    """
    if target == "auto":
        return None
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"--ray must be 'auto' or the head's HOST:PORT, not {target!r}"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as exc:
        return f"no Ray cluster answers at {target}: {exc.strerror or exc}"
    return None


def scan(
    target: str,
    paths: list[str],
    opts: ScanOptions,
    snapshot: BankSnapshot,
    cpus: int = 0,
    batch: int = BATCH,
) -> Iterator[list[dict[str, Any]]]:
    """Scan paths on Ray; yields the records of each finished batch as it comes.

    target is a cluster address (host:port of the head's GCS) or "auto", which starts a
    Ray runtime on this machine with `cpus` CPUs (0: all) and an object store sized to
    the snapshot; it is stopped when the scan ends.
    """
    import ray as ray_module

    ray: Any = ray_module  # Ray's own types are partial; this module types what it uses
    _connect(ray, target, cpus, snapshot)
    try:
        holder = [ray.put(snapshot)]  # in a list: tasks get the reference, not a copy
        remote = ray.remote(max_retries=5)(_scan_batch)
        window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        queue: deque[tuple[list[str], int]] = deque(
            (paths[i : i + batch], 0) for i in range(0, len(paths), batch)
        )
        pending: dict[Any, tuple[list[str], int]] = {}
        while queue or pending:
            while queue and len(pending) < window:
                part, tries = queue.popleft()
                pending[remote.remote(holder, part, opts)] = (part, tries)
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                part, tries = pending.pop(ref)
                try:
                    records: list[dict[str, Any]] = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    records = []
                    if len(part) > 1:  # find the file that fails: one task per file
                        queue.extend(([p], 0) for p in part)
                    elif tries < 1:
                        queue.append((part, tries + 1))
                    else:
                        reason = f"stopped the worker scanning it ({type(exc).__name__})"
                        records = [record_of(_Scanned(part[0], "unreadable", reason), {})]
                if records:
                    yield records
    except ray.exceptions.RayError as exc:  # the cluster itself went away
        raise RayScanError(f"the Ray cluster failed: {type(exc).__name__}: {exc}") from exc
    finally:
        ray.shutdown()


def _connect(ray: Any, target: str, cpus: int, snapshot: BankSnapshot) -> None:
    try:
        if target == "auto":
            # A runtime of our own on this machine (never one already running here).
            store = max(128 * MiB, 2 * snapshot.nbytes() + 64 * MiB)
            ray.init(
                address="local", num_cpus=cpus or os.cpu_count() or 1,
                object_store_memory=store, include_dashboard=False, log_to_driver=False,
            )  # fmt: skip
        else:
            ray.init(address=target, log_to_driver=False)
    except Exception as exc:  # Ray raises several kinds; the user needs one line
        raise RayScanError(f"cannot start or reach Ray at {target!r}: {exc}") from exc


_FROZEN: dict[str, BankSnapshot] = {}  # per worker process: the snapshot, deserialised once


def _scan_batch(holder: list[Any], paths: list[str], opts: ScanOptions) -> list[dict[str, Any]]:
    """A Ray task: scan and match a batch of files against the snapshot."""
    import ray

    key = holder[0].hex()
    snapshot = _FROZEN.get(key)
    if snapshot is None:
        _FROZEN.clear()
        snapshot = ray.get(holder[0])
        _FROZEN[key] = snapshot
    return [scan_frozen(p, opts, snapshot) for p in paths]
