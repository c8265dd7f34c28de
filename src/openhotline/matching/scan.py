"""`openhotline scan`: hash a folder tree with all cores and match against banks."""

from __future__ import annotations

import csv
import functools
import json
import multiprocessing
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from openhotline.cli_context import services
from openhotline.matching.cli_common import _factory, _fail, err
from openhotline.matching.models import HashType
from openhotline.matching.rules import describe


@dataclass
class _Scanned:
    path: str
    status: str  # ok, unreadable, skipped
    reason: str = ""
    md5: str = ""
    sha256: str = ""
    pdq: str = ""
    quality: int = 0
    candidates: list[tuple[str, str, int]] = field(default_factory=list)


MAX_SCAN_BYTES = 64 * 1024 * 1024


def _scan_one(
    path: str, geometric: bool = True, regions: bool = True, root: str | None = None
) -> _Scanned:
    from openhotline.media.decode import MediaError, UnsupportedFormatError
    from openhotline.media.service import query_image

    try:
        # A link out of the folder is not followed unless asked (--follow-links).
        if root is not None and not _inside(os.path.realpath(path), root):
            return _Scanned(path, "skipped", "symbolic link out of the folder (--follow-links)")
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a named pipe would block the worker forever
            return _Scanned(path, "skipped", "not a regular file")
        if st.st_size > MAX_SCAN_BYTES:
            return _Scanned(path, "unreadable", f"larger than {MAX_SCAN_BYTES} bytes")
        with open(path, "rb") as fh:
            data = fh.read()
        q = query_image(data, geometric=geometric, regions=regions)
    except UnsupportedFormatError as exc:
        return _Scanned(path, "skipped", exc.message)
    except MediaError as exc:
        status = "skipped" if exc.message == "empty file" else "unreadable"
        return _Scanned(path, status, exc.message)
    except OSError as exc:
        return _Scanned(path, "unreadable", exc.strerror or str(exc))
    except Exception as exc:  # one odd file must never stop a scan of millions
        return _Scanned(path, "unreadable", f"unexpected error: {type(exc).__name__}")
    h = q.hashes
    cands = [(c.label, c.pdq, c.quality) for c in q.candidates]
    return _Scanned(path, "ok", "", h.md5, h.sha256, h.pdq, h.pdq_quality, cands)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


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


def scan_command(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="Folder to scan (recursively)."),
    bank: list[str] = typer.Option(..., "--bank", help="Bank(s) to match against."),
    fmt: str = typer.Option("json", "--format", help="json (one object per line) or csv."),
    workers: int = typer.Option(0, help="Hashing processes (0 = all cores)."),
    geometric: bool = typer.Option(
        True, help="Also try crop/rotation guesses per file (slower; see bench/RESULTS.md)."
    ),
    regions: bool = typer.Option(
        True, help="Also hash embedded photos (screenshots, collages; see bench/RESULTS.md)."
    ),
    follow_links: bool = typer.Option(
        False, "--follow-links", help="Follow symbolic links out of the folder."
    ),
) -> None:
    """Hash every file under DIRECTORY with all cores and match against the bank(s)."""
    from openhotline.matching import service
    from openhotline.matching.matcher import QueryHash, match

    if fmt not in ("json", "csv"):
        _fail("--format must be json or csv")
    if not directory.is_dir():
        _fail(f"{directory} is not a folder")
    factory = _factory(ctx)
    with factory() as session:
        for name in bank:
            try:
                service.get_bank(session, name)
            except service.BankError as exc:
                _fail(str(exc))
    engine = services(ctx).matcher
    paths = list(_walk(directory, follow_links))
    root = None if follow_links else os.path.realpath(directory)
    counts = {"files": 0, "matched": 0, "unreadable": 0, "skipped": 0}
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(["path", "status", "md5", "sha256", "pdq", "pdq_quality", "matches"])
    n = workers or os.cpu_count() or 1
    mp = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "forkserver")
    progress = Progress(
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err,
    )  # fmt: skip
    with progress, mp.Pool(n) as pool, factory() as session:
        task = progress.add_task("scan", total=len(paths))
        work = functools.partial(_scan_one, geometric=geometric, regions=regions, root=root)
        for res in pool.imap_unordered(work, paths, chunksize=4):
            counts["files"] += 1
            matches: list[service.Match] = []
            if res.status == "ok":
                queries = [
                    QueryHash("md5", HashType.MD5, res.md5),
                    QueryHash("sha256", HashType.SHA256, res.sha256),
                ] + [QueryHash(lbl, HashType.PDQ, h, q) for lbl, h, q in res.candidates]
                per_bank = match(session, engine, queries, banks_only=set(bank))
                matches = [m for ms in per_bank.values() for m in ms]
                counts["matched"] += bool(matches)
            else:
                counts[res.status] += 1
            _emit(writer, fmt, res, matches)
            progress.advance(task)
    engine.wait_idle()
    err.print(
        f"{counts['files']} files: {counts['matched']} matched, "
        f"{counts['unreadable']} unreadable, {counts['skipped']} skipped",
        highlight=False,
    )


def _emit(writer: Any, fmt: str, res: _Scanned, matches: list[Any]) -> None:
    if fmt == "json":
        obj: dict[str, Any] = {"path": res.path, "status": res.status}
        if res.reason:
            obj["reason"] = res.reason
        if res.status == "ok":
            obj.update(md5=res.md5, sha256=res.sha256, pdq=res.pdq, pdq_quality=res.quality)
            obj["matches"] = [
                {"bank": m.bank, "entry_id": m.entry_id, "hash_type": m.hash_type,
                 "distance": m.distance, "matched_by": m.query,
                 "matched_how": describe(m.query), "classification": m.classification}
                for m in matches
            ]  # fmt: skip
        sys.stdout.write(json.dumps(obj) + "\n")
    else:
        cell = " ".join(f"{m.bank}:{m.entry_id}:{m.distance}:{m.query}" for m in matches)
        writer.writerow(
            [res.path, res.status if res.status == "ok" else f"{res.status}: {res.reason}",
             res.md5, res.sha256, res.pdq, res.quality if res.status == "ok" else "", cell]
        )  # fmt: skip
    sys.stdout.flush()
