"""CLI of media and matching: `hash`, `scan` and the `bank` commands."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import get_settings
from openhotline.matching.formats import CSV_EXPORT_HEADER, FileFormat, format_hma, parse_lines
from openhotline.matching.models import DEFAULT_PDQ_RADIUS, HashType

bank_app = typer.Typer(help="Hash banks: create, import, export, list.", no_args_is_help=True)
err = Console(stderr=True)


def _factory() -> sessionmaker[Session]:
    from openhotline.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings().resolved_database_url()))


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def hash_command(
    files: list[Path] = typer.Argument(..., help="Image files to hash."),
    full: bool = typer.Option(False, help="Hash at full resolution (no fast path)."),
) -> None:
    """Print JSON (one object per line) with md5, sha1, sha256, pdq, pdq_quality per file."""
    from openhotline.media.decode import MediaError
    from openhotline.media.hashing import hash_bytes

    failed = 0
    for path in files:
        try:
            h = hash_bytes(path.read_bytes(), fast=not full)
        except (OSError, MediaError) as exc:
            failed += 1
            msg = exc.message if isinstance(exc, MediaError) else exc.strerror or str(exc)
            err.print(f"[red]{path}[/red]: {msg}", highlight=False)
            continue
        out = {
            "file": str(path), "md5": h.md5, "sha1": h.sha1, "sha256": h.sha256, "pdq": h.pdq,
            "pdq_quality": h.pdq_quality, "weak": h.weak, "format": h.format,
            "width": h.width, "height": h.height,
        }  # fmt: skip
        if h.frame_pdqs:
            out["frame_pdqs"] = h.frame_pdqs
        typer.echo(json.dumps(out))
    if failed:
        raise typer.Exit(1)


@bank_app.command("create")
def bank_create(
    name: str,
    description: str = typer.Option("", help="What the bank holds."),
    pdq_radius: int = typer.Option(DEFAULT_PDQ_RADIUS, help="PDQ match radius (bits)."),
) -> None:
    """Create a hash bank."""
    from openhotline.db import transaction
    from openhotline.matching import service

    try:
        with transaction(_factory()) as session:
            service.create_bank(session, name, description, pdq_radius)
    except service.BankError as exc:
        _fail(str(exc))
    typer.echo(f"bank {name!r} created (PDQ radius {pdq_radius})")


@bank_app.command("list")
def bank_list() -> None:
    """List banks with their entry counts."""
    from openhotline.matching import service

    with _factory()() as session:
        for bank, count in service.list_banks(session):
            state = "enabled" if bank.enabled else "disabled"
            typer.echo(f"{bank.name}\t{count} entries\t{state}\tradius {bank.pdq_radius}")


@bank_app.command("import")
def bank_import(
    name: str,
    file: Path = typer.Argument(..., help="HMA local file, CSV with a header, or plain list."),
    fmt: str = typer.Option("auto", "--format", help="auto, hma, csv or plain."),
    hash_type: str = typer.Option("", "--type", help="Hash type of a plain list."),
    source: str = typer.Option("", help="Source recorded on every entry (e.g. a partner)."),
    added_by: str = typer.Option("cli", help="Who imported."),
) -> None:
    """Import hashes into a bank, streaming, skipping bad rows with reasons."""
    from openhotline.matching import service

    try:
        ff = None if fmt == "auto" else FileFormat(fmt)
        ht = HashType(hash_type.lower()) if hash_type else None
    except ValueError:
        _fail(f"unknown --format {fmt!r} or --type {hash_type!r}")
        return
    try:
        size = file.stat().st_size
        raw = file.open("rb")
        handle = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
        return
    factory = _factory()
    session = factory()
    try:
        bank = service.get_bank(session, name)
        with handle, _bytes_progress() as progress:
            task = progress.add_task(f"importing into {name}", total=size)

            def on_batch(_res: service.ImportResult, _line: int) -> None:
                session.commit()  # each batch is durable: a crash loses at most one batch
                progress.update(task, completed=raw.tell())

            result = service.import_rows(
                session, bank, parse_lines(handle, ff, ht, source), added_by, on_batch=on_batch
            )
            session.commit()
            progress.update(task, completed=size)
    except service.BankError as exc:
        session.rollback()
        _fail(str(exc))
        return
    finally:
        session.close()
    typer.echo(
        f"added {result.added}, duplicates {result.duplicates}, bad rows skipped {result.bad}"
    )
    for reason, count in result.reasons.most_common():
        typer.echo(f"  {count} x {reason}")
    for example in result.examples[:10]:
        typer.echo(f"  e.g. {example}")


def _bytes_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=err, transient=False,
    )  # fmt: skip


@bank_app.command("export")
def bank_export(
    name: str,
    fmt: str = typer.Option("hma", "--format", help="hma, csv or plain."),
    hash_type: str = typer.Option("", "--type", help="Only this hash type (plain: required)."),
) -> None:
    """Write a bank's live entries to stdout."""
    from openhotline.matching import service

    try:
        ff = FileFormat(fmt)
        ht = HashType(hash_type.lower()) if hash_type else None
    except ValueError:
        _fail(f"unknown --format {fmt!r} or --type {hash_type!r}")
        return
    if ff is FileFormat.PLAIN and ht is None:
        _fail("a plain export needs --type (md5, sha1, sha256 or pdq)")
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    with _factory()() as session:
        try:
            bank = service.get_bank(session, name)
        except service.BankError as exc:
            _fail(str(exc))
            return
        if ff is FileFormat.CSV:
            writer.writerow(CSV_EXPORT_HEADER)
        for e in service.iter_entries(session, bank, ht):
            if ff is FileFormat.HMA:
                out.write(format_hma(e.hash_type, e.hash_value))
            elif ff is FileFormat.PLAIN:
                out.write(e.hash_value + "\n")
            else:
                writer.writerow(
                    [e.hash_type, e.hash_value, e.source, e.classification, e.added_by,
                     e.added_at.isoformat()]
                )  # fmt: skip


@bank_app.command("add")
def bank_add(
    name: str,
    hash_type: str,
    value: str,
    classification: str = typer.Option("", help="e.g. 'category A'"),
    source: str = typer.Option("", help="Where the hash comes from."),
) -> None:
    """Add one hash to a bank."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching.formats import parse_type

    try:
        with transaction(_factory()) as session:
            bank = service.get_bank(session, name)
            entry = service.add_entry(
                session, bank, parse_type(hash_type), value, source, classification, "cli"
            )
            entry_id = entry.id
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(f"entry {entry_id}")


@bank_app.command("remove")
def bank_remove(name: str, hash_type: str, value: str) -> None:
    """Remove one hash from a bank (kept as a removed entry for the record)."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching.formats import parse_type

    try:
        with transaction(_factory()) as session:
            bank = service.get_bank(session, name)
            n = service.remove_entry(session, bank, parse_type(hash_type), value, "cli")
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo("removed" if n else "not in the bank")


# --- scan -----------------------------------------------------------------------------


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


def _scan_one(path: str) -> _Scanned:
    from openhotline.media.decode import MediaError, UnsupportedFormatError
    from openhotline.media.service import query_image

    try:
        size = os.path.getsize(path)
        if size > MAX_SCAN_BYTES:
            return _Scanned(path, "unreadable", f"larger than {MAX_SCAN_BYTES} bytes")
        with open(path, "rb") as fh:
            data = fh.read()
        q = query_image(data)
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


def _walk(root: Path) -> Iterator[str]:
    for dirpath, _dirs, files in os.walk(root):
        for f in sorted(files):
            yield os.path.join(dirpath, f)


def scan_command(
    directory: Path = typer.Argument(..., help="Folder to scan (recursively)."),
    bank: list[str] = typer.Option(..., "--bank", help="Bank(s) to match against."),
    fmt: str = typer.Option("json", "--format", help="json (one object per line) or csv."),
    workers: int = typer.Option(0, help="Hashing processes (0 = all cores)."),
) -> None:
    """Hash every file under DIRECTORY with all cores and match against the bank(s)."""
    from openhotline.matching import service
    from openhotline.matching.engine import MatchEngine
    from openhotline.matching.matcher import QueryHash, match

    if fmt not in ("json", "csv"):
        _fail("--format must be json or csv")
    if not directory.is_dir():
        _fail(f"{directory} is not a folder")
    factory = _factory()
    with factory() as session:
        for name in bank:
            try:
                service.get_bank(session, name)
            except service.BankError as exc:
                _fail(str(exc))
    engine = MatchEngine(factory, get_settings().data_dir / "index")
    paths = list(_walk(directory))
    counts = {"files": 0, "matched": 0, "unreadable": 0, "skipped": 0}
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(["path", "status", "md5", "sha256", "pdq", "pdq_quality", "matches"])
    n = workers or os.cpu_count() or 1
    ctx = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "forkserver")
    progress = Progress(
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err,
    )  # fmt: skip
    with progress, ctx.Pool(n) as pool, factory() as session:
        task = progress.add_task("scan", total=len(paths))
        for res in pool.imap_unordered(_scan_one, paths, chunksize=4):
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
                 "classification": m.classification}
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


def register(app: typer.Typer) -> None:
    """Add `hash`, `scan` and `bank` to the main CLI."""
    app.command("hash")(hash_command)
    app.command("scan")(scan_command)
    app.add_typer(bank_app, name="bank")


__all__ = ["bank_app", "register"]
