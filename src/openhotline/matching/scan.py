"""`openhotline scan`: hash a folder tree with all cores (or a Ray cluster) and match banks.

One way to scan a file (`_scan_one`: decode and hash; `queries_of`; the matcher's rules;
`record_of`), one output writer, one summary and one checkpoint, with two executors: a
process pool on this machine matching against the database (`_scan_local`), or Ray tasks
matching against a snapshot of the banks shipped once per node (`scan_ray.scan`).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cli_context import services
from openhotline.matching import scan_ray
from openhotline.matching.cli_common import _factory, _fail, err
from openhotline.matching.engine import MatchEngine
from openhotline.matching.matcher import match
from openhotline.matching.scan_file import (
    ScanOptions,
    _scan_one,
    feature_source,
    queries_of,
    record_of,
)
from openhotline.matching.service import Match
from openhotline.matching.snapshot import take_snapshot

__all__ = ["_scan_one", "scan_command"]  # _scan_one: bench/scan_throughput.py


def _walk(root: Path, follow_links: bool = False) -> Iterator[str]:
    seen: set[str] = set()
    for dirpath, dirs, files in os.walk(root, followlinks=follow_links):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link cycle: each real folder is scanned once
            dirs[:] = []
            continue
        seen.add(real)
        for f in sorted(files):
            yield os.path.join(dirpath, f)


class _Output:
    """The scan's stdout: JSON lines or CSV rows, one per file, flushed as they come."""

    def __init__(self, fmt: str, stream: TextIO) -> None:
        self.fmt = fmt
        self.stream = stream  # held: Ray's messages go to stderr meanwhile (scan_command)
        self.writer = csv.writer(stream, lineterminator="\n")
        if fmt == "csv":
            self.writer.writerow(
                ["path", "status", "md5", "sha256", "pdq", "pdq_quality", "matches"]
            )

    def emit(self, rec: dict[str, Any]) -> None:
        if self.fmt == "json":
            self.stream.write(json.dumps(rec) + "\n")
        else:
            ok = rec["status"] == "ok"
            cell = " ".join(
                f"{m['bank']}:{m['entry_id']}:{m['distance']}:{m['matched_by']}"
                for m in rec.get("matches", [])
            )
            self.writer.writerow(
                [rec["path"], rec["status"] if ok else f"{rec['status']}: {rec.get('reason', '')}",
                 rec.get("md5", ""), rec.get("sha256", ""), rec.get("pdq", ""),
                 rec.get("pdq_quality", "") if ok else "", cell]
            )  # fmt: skip
        self.stream.flush()


@dataclass
class _Summary:
    files: int = 0
    matched: int = 0
    unreadable: int = 0
    skipped: int = 0

    def add(self, rec: dict[str, Any]) -> None:
        self.files += 1
        if rec["status"] == "ok":
            self.matched += bool(rec["matches"])
        elif rec["status"] == "unreadable":
            self.unreadable += 1
        else:
            self.skipped += 1

    def line(self) -> str:
        return (
            f"{self.files} files: {self.matched} matched, "
            f"{self.unreadable} unreadable, {self.skipped} skipped"
        )


def scan_command(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="Folder to scan (recursively)."),
    bank: list[str] = typer.Option(..., "--bank", help="Bank(s) to match against."),
    fmt: str = typer.Option("json", "--format", help="json (one object per line) or csv."),
    workers: int = typer.Option(
        0, help="Hashing processes (0 = all cores); with --ray auto, the CPUs Ray may use."
    ),
    geometric: bool = typer.Option(
        True, help="Also try crop/rotation guesses per file (slower; see bench/RESULTS.md)."
    ),
    regions: bool = typer.Option(
        True, help="Also hash embedded photos (screenshots, collages; see bench/RESULTS.md)."
    ),
    follow_links: bool = typer.Option(
        False, "--follow-links", help="Follow symbolic links out of the folder."
    ),
    ray: str = typer.Option(
        "",
        "--ray",
        help="Spread the scan over a Ray cluster: its address (host:port of the head), or "
        "'auto' to start a Ray runtime on this machine (needs the ray extra).",
    ),
    batch: int = typer.Option(
        scan_ray.BATCH, "--batch", min=1, help="With --ray: files per Ray task."
    ),
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="Keep each finished file here; run again with the same file after an "
        "interruption to scan only the rest (the output still lists every file once).",
    ),
) -> None:
    """Hash every file under DIRECTORY with all cores (or a Ray cluster) and match."""
    from openhotline.matching import service

    if fmt not in ("json", "csv"):
        _fail("--format must be json or csv")
    if not directory.is_dir():
        _fail(f"{directory} is not a folder")
    if ray:
        problem = scan_ray.unavailable() or scan_ray.target_problem(ray)
        if problem:
            _fail(problem)
    factory = _factory(ctx)
    with factory() as session:
        for name in bank:
            try:
                service.get_bank(session, name)
            except service.BankError as exc:
                _fail(str(exc))
    engine = services(ctx).matcher
    with factory() as session:
        # Local features cost a second pass per file: only when a bank scanned has some.
        with_features = bool(engine.sync_features(session, set(bank)))
    if with_features and ray:
        err.print("note: local features are not searched on Ray (PDQ and exact hashes are)")
        with_features = False
    paths = list(_walk(directory, follow_links))
    opts = ScanOptions(
        tuple(bank), geometric, regions, None if follow_links else os.path.realpath(directory),
        with_features,
    )  # fmt: skip
    done: dict[str, dict[str, Any]] = {}
    journal = None
    if checkpoint is not None:
        header = {
            "directory": os.path.realpath(directory), "banks": sorted(set(bank)),
            "geometric": geometric, "regions": regions, "follow_links": follow_links,
        }  # fmt: skip
        try:
            journal, done = Checkpoint.open(checkpoint, header)
        except CheckpointError as exc:
            _fail(str(exc))
            return
    out = _Output(fmt, sys.stdout)
    summary = _Summary()
    progress = Progress(
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err,
    )  # fmt: skip
    todo = [p for p in paths if p not in done]
    emitted: set[str] = set()
    # Ray prints cluster events (a task retried after its node died) on stdout, which
    # holds the results alone: they go to stderr while the scan runs.
    quiet = contextlib.redirect_stdout(sys.stderr) if ray else contextlib.nullcontext()
    with progress, quiet:
        task = progress.add_task("scan", total=len(paths))
        for p in paths:  # finished in an earlier run: printed again, not scanned again
            if p in done:
                out.emit(done[p])
                summary.add(done[p])
                emitted.add(p)
        progress.update(task, completed=len(emitted))
        if ray:
            with factory() as session:
                snapshot = take_snapshot(session, engine, set(bank))
            batches: Iterator[list[dict[str, Any]]] = scan_ray.scan(
                ray, todo, opts, snapshot, workers, batch
            )
        else:
            batches = _scan_local(factory, engine, todo, opts, workers)
        try:
            for finished in batches:
                fresh = [r for r in finished if r["path"] not in emitted]  # never twice
                if journal is not None:
                    journal.append(fresh)
                for rec in fresh:
                    emitted.add(rec["path"])
                    out.emit(rec)
                    summary.add(rec)
                progress.update(task, completed=len(emitted))
        except scan_ray.RayScanError as exc:
            _fail(str(exc))
        finally:
            if journal is not None:
                journal.close()
    engine.wait_idle()
    err.print(summary.line(), highlight=False)


def _scan_local(
    factory: sessionmaker[Session],
    engine: MatchEngine,
    paths: list[str],
    opts: ScanOptions,
    workers: int,
) -> Iterator[list[dict[str, Any]]]:
    """This machine's executor: a process pool hashes, this process matches (database)."""
    n = workers or os.cpu_count() or 1
    mp = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "forkserver")
    work = functools.partial(
        _scan_one, geometric=opts.geometric, regions=opts.regions, root=opts.root,
        features=opts.features,
    )  # fmt: skip
    batch: list[dict[str, Any]] = []
    flushed = time.monotonic()
    with mp.Pool(n) as pool, factory() as session:
        for res in pool.imap_unordered(work, paths, chunksize=4):
            per_bank: dict[str, list[Match]] = {}
            if res.status == "ok":
                per_bank = match(
                    session, engine, queries_of(res), banks_only=set(opts.banks),
                    features=feature_source(res),
                )  # fmt: skip
            batch.append(record_of(res, per_bank))
            if len(batch) >= 64 or time.monotonic() - flushed > 1.0:
                yield batch
                batch, flushed = [], time.monotonic()
    if batch:
        yield batch


class CheckpointError(Exception):
    """A checkpoint file that cannot be used for this scan."""


class Checkpoint:
    """Append-only file of finished files' results: one JSON line each, fsynced per batch.

    The first line describes the scan (folder, banks, options): a checkpoint is only
    resumed by the same scan. A line cut short by a crash (the last one) is dropped.
    """

    MAGIC = "openhotline-scan-checkpoint"

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh

    @classmethod
    def open(
        cls, path: Path, header: dict[str, Any]
    ) -> tuple[Checkpoint, dict[str, dict[str, Any]]]:
        """Open (or create) a checkpoint; returns it and the results it already holds."""
        head = {"format": cls.MAGIC, "version": 1, **header}
        done: dict[str, dict[str, Any]] = {}
        try:
            fh = open(path, "r+b" if path.exists() else "w+b")  # noqa: SIM115
        except OSError as exc:
            raise CheckpointError(f"cannot open {path}: {exc.strerror or exc}") from exc
        data = fh.read()
        good = data.rfind(b"\n") + 1  # past the last whole line; the rest is torn
        lines = data[:good].splitlines()
        if lines:
            try:
                first = json.loads(lines[0])
            except ValueError:
                first = None
            if first != head:
                fh.close()
                raise CheckpointError(
                    f"{path} is not a checkpoint of this scan (folder, banks and options "
                    "must be the same); use another file"
                )
            for n, line in enumerate(lines[1:], start=2):
                try:
                    rec = json.loads(line)
                    done[rec["path"]] = rec
                except (ValueError, KeyError, TypeError):
                    fh.close()
                    raise CheckpointError(f"{path}: line {n} is damaged") from None
        fh.seek(good)
        fh.truncate()
        journal = cls(fh)
        if not lines:
            journal._write([head])
        return journal, done

    def append(self, records: list[dict[str, Any]]) -> None:
        """Add finished files' results, durably (written and fsynced)."""
        if records:
            self._write(records)

    def _write(self, objs: list[dict[str, Any]]) -> None:
        self.fh.write(b"".join(json.dumps(o).encode() + b"\n" for o in objs))
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()
