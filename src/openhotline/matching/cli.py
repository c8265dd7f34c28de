"""CLI of media and matching: `hash`, `scan` and the `bank` commands."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cli_context import services, settings
from openhotline.errors import DomainError
from openhotline.matching.cli_common import _factory, _fail, err, regular_file_problem
from openhotline.matching.formats import (
    CSV_EXPORT_HEADER,
    FileFormat,
    LineStats,
    bounded_lines,
    csv_safe,
    format_hma,
    parse_lines,
)
from openhotline.matching.models import DEFAULT_PDQ_RADIUS, HashType

R = TypeVar("R")

bank_app = typer.Typer(help="Hash banks: create, import, export, list.", no_args_is_help=True)


def hash_command(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Image files to hash."),
    full: bool = typer.Option(False, help="Hash at full resolution (no fast path)."),
) -> None:
    """Print JSON (one object per line) with md5, sha1, sha256, pdq, pdq_quality per file."""
    from openhotline.media.decode import MediaError
    from openhotline.media.hashing import hash_bytes

    max_bytes = settings(ctx).crawler_max_media_bytes
    failed = 0
    for path in files:
        problem = regular_file_problem(path, max_bytes)
        if problem is not None:
            failed += 1
            err.print(f"[red]{path}[/red]: {problem}", highlight=False)
            continue
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
    ctx: typer.Context,
    name: str,
    description: str = typer.Option("", help="What the bank holds."),
    pdq_radius: int = typer.Option(DEFAULT_PDQ_RADIUS, help="PDQ match radius (bits)."),
    owner: str = typer.Option(
        "", help="Partner organisation whose list this is (only it sees entries' sources)."
    ),
) -> None:
    """Create a hash bank."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.partners import service as partners

    try:
        with transaction(_factory(ctx)) as session:
            org_id = partners.find_org(session, owner).id if owner else None
            service.create_bank(session, name, description, pdq_radius, owner_org_id=org_id)
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"bank {name!r} created (PDQ radius {pdq_radius})")


@bank_app.command("list")
def bank_list(ctx: typer.Context) -> None:
    """List banks with their entry counts, source and policy."""
    from openhotline.matching import service

    with _factory(ctx)() as session:
        for bank, count in service.list_banks(session):
            state = "enabled" if bank.enabled else "disabled"
            feats = (
                f"features min {bank.features_min_inliers} inliers, radius {bank.features_radius}"
                if bank.features_enabled
                else "features off"
            )
            typer.echo(
                f"{bank.name}\t{count} entries\t{state}\tradius {bank.pdq_radius}"
                f"\t{bank.source.value}\t{bank.policy.value}\t{feats}"
            )


@bank_app.command("policy")
def bank_policy(
    ctx: typer.Context,
    name: str,
    policy: str = typer.Argument(..., help="auto_assess, review_with_hint or report_only."),
) -> None:
    """Set what a bank's matches do; auto_assess marks the bank trusted (audited)."""
    from openhotline.cli_support import domain_errors
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching.policy import parse_policy

    with domain_errors(), transaction(_factory(ctx)) as session:
        bank = service.get_bank(session, name)
        changed = service.set_policy(session, bank, parse_policy(policy), actor="cli")
        unmapped = bank.source.value != "own" and not service.mapping_of(bank)
    typer.echo(f"bank {name!r}: {policy}" + ("" if changed else " (unchanged)"))
    if policy.strip().lower() == "auto_assess" and unmapped:
        err.print("note: no classification mapping yet; matches stay hints until one is set")


@bank_app.command("settings")
def bank_settings(
    ctx: typer.Context,
    name: str,
    features: bool | None = typer.Option(
        None, "--features/--no-features", help="Search the bank's local features."
    ),
    min_inliers: int | None = typer.Option(
        None, "--min-inliers", help="Keypoints that must agree for a local-features match."
    ),
    feature_radius: int | None = typer.Option(
        None, "--feature-radius", help="Hamming radius (of 256 bits) for a descriptor match."
    ),
    actor: str = typer.Option("cli", help="Who changes it (recorded in the audit log)."),
) -> None:
    """Show or change a bank's per-signal settings (local features; audited)."""
    from openhotline.cli_support import domain_errors
    from openhotline.db import transaction
    from openhotline.matching import service

    with domain_errors(), transaction(_factory(ctx)) as session:
        bank = service.get_bank(session, name)
        changes = service.set_feature_settings(
            session, bank, actor, features, min_inliers, feature_radius
        )
        line = (
            f"bank {name!r}: PDQ radius {bank.pdq_radius}; local features "
            + ("on" if bank.features_enabled else "off")
            + f", min inliers {bank.features_min_inliers}"
            + f", descriptor radius {bank.features_radius}"
        )
    changed = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes.items())
    typer.echo(line + (f" (changed: {changed})" if changed else ""))


@bank_app.command("subscribe")
def bank_subscribe(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The bank to feed (created if missing)."),
    url: str = typer.Argument(..., help="The publisher's hash list: https://…/api/v1/lists/hashes"),
    key: Path = typer.Option(..., "--key", help="File holding the API key the publisher issued."),
    verify_key: Path = typer.Option(
        ..., "--verify-key", help="File holding the publisher's Ed25519 public key (pinned)."
    ),
    every: int = typer.Option(60, "--every", help="Minutes between scheduled syncs."),
) -> None:
    """Feed a bank from another instance's signed hash list (then run `bank sync`)."""
    from openhotline.cli_support import domain_errors
    from openhotline.db import transaction
    from openhotline.matching import subscriptions

    try:
        pinned = verify_key.read_text(encoding="utf-8").strip()
    except OSError as exc:
        _fail(f"cannot read {verify_key}: {exc.strerror}")
        return
    with domain_errors(), transaction(_factory(ctx)) as session:
        subscriptions.subscribe(
            session, name, url, key, pinned, actor="cli", interval_minutes=every
        )
    typer.echo(f"bank {name!r} subscribed to {url}; policy stays review_with_hint until changed")


def _sync_each(
    factory: sessionmaker[Session],
    names: list[str],
    run: Callable[[Session, str], R],
    describe: Callable[[R], str],
) -> None:
    """Sync each bank in its own transaction, print what it did; exit 1 if any failed."""
    from openhotline.matching.tasks import run_bank_sync

    def one(bank: str) -> R:
        return run_bank_sync(factory, lambda session: run(session, bank))

    failed = 0
    for bank in names:
        try:
            result = one(bank)
        except DomainError as exc:  # the error is kept on the subscription or feed
            err.print(f"{bank}: {exc}")
            failed += 1
            continue
        typer.echo(f"{bank}: {describe(result)}")
    if failed:
        raise typer.Exit(1)


@bank_app.command("sync")
def bank_sync(
    ctx: typer.Context,
    name: str = typer.Argument("", help="One bank; all subscribed banks when left out."),
) -> None:
    """Pull, verify and apply what changed in subscribed lists (exit 1 if any sync failed)."""
    from openhotline.matching import subscriptions

    svc = services(ctx)
    factory = svc.sessionmaker
    with factory() as session:
        names = [name] if name else [n for _sub, n in subscriptions.subscriptions(session)]
    if not names:
        typer.echo("no subscribed banks")
        return

    def describe(r: subscriptions.SyncResult) -> str:
        notes = "".join(f"\n  note: {n}" for n in r.notes)
        if r.mode == "unchanged":
            return f"up to date (version {r.version}){notes}"
        return (
            f"{r.mode} version {r.from_version} -> {r.version}, added {r.added}, "
            f"removed {r.removed}, reclassified {r.reclassified}{notes}"
        )

    _sync_each(
        svc.sessionmaker,
        names,
        lambda session, bank: subscriptions.sync(session, bank, svc.list_fetcher, actor="cli"),
        describe,
    )


def _exchange_feed() -> Any:
    """The exchange-feed module, or a clear error without the `exchange` extra."""
    try:
        from openhotline.matching import exchange_feed
    except ImportError:
        _fail("exchange feeds need python-threatexchange: pip install 'openhotline[exchange]'")
    return exchange_feed


@bank_app.command("exchange-subscribe")
def bank_exchange_subscribe(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The bank to feed (created if missing)."),
    exchange: str = typer.Argument(
        ..., help="local_file, sample, openhotline, or any SignalExchangeAPI as module:Class."
    ),
    setting: list[str] = typer.Option(
        [], "--set", help="KEY=VALUE collaboration setting (repeat), e.g. filename=/srv/x.txt."
    ),
    every: int = typer.Option(60, "--every", help="Minutes between syncs."),
) -> None:
    """Feed a bank through a python-threatexchange exchange (then `bank exchange-sync`)."""
    from openhotline.cli_support import domain_errors
    from openhotline.db import transaction

    feed = _exchange_feed()
    pairs: dict[str, str] = {}
    for item in setting:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--set expects KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value
    with domain_errors(), transaction(_factory(ctx)) as session:
        feed.subscribe(session, name, exchange, pairs, actor="cli", interval_minutes=every)
    typer.echo(f"bank {name!r} fed by exchange {exchange}; policy stays review_with_hint")


@bank_app.command("exchange-sync")
def bank_exchange_sync(
    ctx: typer.Context,
    name: str = typer.Argument("", help="One bank; every exchange-fed bank when left out."),
) -> None:
    """Fetch from each exchange since its checkpoint and apply additions and removals."""
    feed = _exchange_feed()
    svc = services(ctx)
    factory = svc.sessionmaker
    with factory() as session:
        names = [name] if name else [n for _f, n in feed.feeds(session)]
    if not names:
        typer.echo("no exchange-fed banks")
        return

    def run(session: Session, bank: str) -> Any:
        api = feed.build_api(feed.feed_for(session, bank), bank, svc.list_fetcher)
        return feed.sync(session, bank, api, actor="cli")

    def describe(r: Any) -> str:
        skipped = "".join(f"\n  skipped {n}: {why}" for why, n in r.skipped.items())
        return (
            f"{r.mode} fetch, {r.batches} batch(es), added {r.added}, removed {r.removed}, "
            f"reclassified {r.reclassified}{skipped}"
        )

    _sync_each(svc.sessionmaker, names, run, describe)


@bank_app.command("subscriptions")
def bank_subscriptions(ctx: typer.Context) -> None:
    """List subscribed banks: source, version, last sync and last error."""
    from openhotline.matching import subscriptions

    with _factory(ctx)() as session:
        rows = subscriptions.subscriptions(session)
        if not rows:
            typer.echo("no subscribed banks")
        for sub, bank in rows:
            last = (
                sub.last_success_at.isoformat(timespec="seconds")
                if sub.last_success_at
                else "never"
            )
            line = f"{bank}\t{sub.list_url}\tversion {sub.version}\tlast sync {last}"
            typer.echo(line + (f"\terror: {sub.last_error}" if sub.last_error else ""))


@bank_app.command("import")
def bank_import(
    ctx: typer.Context,
    name: str,
    file: Path = typer.Argument(..., help="HMA local file, CSV with a header, or plain list."),
    fmt: str = typer.Option("auto", "--format", help="auto, hma, csv or plain."),
    hash_type: str = typer.Option("", "--type", help="Hash type of a plain list."),
    source: str = typer.Option("", help="Source recorded on every entry (e.g. a partner)."),
    added_by: str = typer.Option("cli", help="Who imported."),
) -> None:
    """Import hashes into a bank, streaming, skipping bad rows with reasons.

    Hex is accepted in any case (stored lower-case). All-zero and all-one hashes, lines over
    4,096 characters and unreadable rows are skipped and counted; `#` lines are comments.
    Exits 1 when nothing could be imported.
    """
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
    factory = _factory(ctx)
    session = factory()
    try:
        bank = service.get_bank(session, name)
        with handle, _bytes_progress() as progress:
            task = progress.add_task(f"importing into {name}", total=size)

            def on_batch(_res: service.ImportResult, _line: int) -> None:
                session.commit()  # each batch is durable: a crash loses at most one batch
                progress.update(task, completed=raw.tell())

            stats = LineStats()
            lines = bounded_lines(handle, stats)
            result = service.import_rows(
                session, bank, parse_lines(lines, ff, ht, source), added_by, on_batch=on_batch
            )
            session.commit()
            progress.update(task, completed=size)
    except service.BankError as exc:
        session.rollback()
        _fail(str(exc))
        return
    finally:
        session.close()
    bad = result.bad + stats.too_long_count
    typer.echo(
        f"added {result.added}, duplicates {result.duplicates}, bad rows skipped {bad}, "
        f"comment lines {stats.comments}"
    )
    if stats.too_long_count:
        lines_at = ", ".join(map(str, stats.too_long))
        typer.echo(
            f"  {stats.too_long_count} x line longer than 4096 characters (e.g. line {lines_at})"
        )
    for reason, count in result.reasons.most_common():
        at = ", ".join(map(str, result.samples.get(reason, [])))
        typer.echo(f"  {count} x {reason} (e.g. line {at})")
    if result.added == 0 and (bad or not result.duplicates):
        _fail(f"nothing imported into {name}: {bad} bad rows, {result.duplicates} duplicates")


def _bytes_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=err, transient=False,
    )  # fmt: skip


@bank_app.command("export")
def bank_export(
    ctx: typer.Context,
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
    if ht is HashType.VPDQ:
        _fail("videos are exported with `openhotline bank export-video`")
    if ff is FileFormat.PLAIN and ht is None:
        _fail("a plain export needs --type (md5, sha1, sha256 or pdq)")
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    with _factory(ctx)() as session:
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
                # Partner-supplied text: neutralised so a spreadsheet never runs it.
                writer.writerow(
                    [csv_safe(c) for c in (e.hash_type, e.hash_value, e.source,
                     e.classification, e.added_by, e.added_at.isoformat())]
                )  # fmt: skip


@bank_app.command("add")
def bank_add(
    ctx: typer.Context,
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
        with transaction(_factory(ctx)) as session:
            bank = service.get_bank(session, name)
            entry = service.add_entry(
                session, bank, parse_type(hash_type), value, source, classification, "cli"
            )
            entry_id = entry.id
    except (ValueError, DomainError) as exc:  # a bad hash value, or no such bank
        _fail(str(exc))
        return
    typer.echo(f"entry {entry_id}")


@bank_app.command("add-image")
def bank_add_image(
    ctx: typer.Context,
    name: str,
    files: list[Path] = typer.Argument(..., help="Confirmed images to add."),
    classification: str = typer.Option("", help="e.g. 'category A'"),
    variants: bool = typer.Option(True, help="Also store crop/rotation variant hashes."),
    features: bool = typer.Option(
        True, help="Also store local features (ORB keypoints: crops, rotations, screenshots)."
    ),
) -> None:
    """Add own confirmed images: MD5, SHA-256, PDQ, PDQ variants and local features."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching.features import item_features
    from openhotline.media.decode import MediaError
    from openhotline.media.hashing import WEAK_QUALITY
    from openhotline.media.service import item_variants

    failed = 0
    for path in files:
        try:
            data = path.read_bytes()
            h, extra = item_variants(data)
            feats = item_features(data) if features else None
        except (OSError, MediaError) as exc:
            failed += 1
            err.print(f"[red]{path}[/red]: {getattr(exc, 'message', exc)}", highlight=False)
            continue
        pdq = h.pdq if h.pdq_quality >= WEAK_QUALITY else None
        pairs = [(c.label, c.pdq) for c in extra if c.quality >= WEAK_QUALITY] if variants else []
        try:
            with transaction(_factory(ctx)) as session:
                bank = service.get_bank(session, name)
                entries = service.add_item(
                    session, bank, h.md5, h.sha256, pdq, pairs, classification, "cli",
                    features=None if feats is None else feats.to_bytes(),
                    keypoints=0 if feats is None else len(feats),
                )  # fmt: skip
        except service.BankError as exc:
            _fail(str(exc))
        kps = f", {len(feats)} keypoints" if feats is not None else ""
        typer.echo(f"{path}: {len(entries)} entries{kps} (sha256 {h.sha256})")
    if failed:
        raise typer.Exit(1)


@bank_app.command("remove")
def bank_remove(ctx: typer.Context, name: str, hash_type: str, value: str) -> None:
    """Remove one hash from a bank (kept as a removed entry for the record)."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching.formats import parse_type

    try:
        with transaction(_factory(ctx)) as session:
            bank = service.get_bank(session, name)
            n = service.remove_entry(session, bank, parse_type(hash_type), value, "cli")
    except (ValueError, DomainError) as exc:  # a bad hash value, or no such bank
        _fail(str(exc))
        return
    typer.echo("removed" if n else "not in the bank")


def video_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Video file (any format libav decodes)."),
    bank: list[str] = typer.Option([], "--bank", help="Bank(s) to match the frames against."),
    seconds_per_hash: float = typer.Option(1.0, help="One frame hash per this many seconds."),
) -> None:
    """Hash a video with vPDQ (needs the video extra) and match its frames against banks."""
    from openhotline.matching.matcher import match_video
    from openhotline.matching.video import match_video as vpdq_match
    from openhotline.media.decode import MediaError
    from openhotline.media.video import hash_video

    try:
        v = hash_video(file, seconds_per_hash)
    except (MediaError, OSError) as exc:
        _fail(exc.message if isinstance(exc, MediaError) else str(exc))
        return
    out: dict[str, Any] = {
        "file": str(file), "md5": v.md5, "sha1": v.sha1, "sha256": v.sha256,
        "frames": [{"pdq": f.pdq, "quality": f.quality, "frame": f.frame_number,
                    "timestamp": f.timestamp} for f in v.frames],
    }  # fmt: skip
    if bank:
        factory = _factory(ctx)
        engine = services(ctx).matcher
        with factory() as session:
            res = match_video(session, engine, [(f.pdq, f.quality) for f in v.frames], set(bank))
            videos = vpdq_match(session, engine, v.frames, set(bank))
        # vpdq entries: whole videos matched by share of frames (the bank's thresholds).
        out["videos"] = [
            {"bank": m.bank, "hash": m.digest, "classification": m.classification,
             "query_share": round(m.query_share, 4), "target_share": round(m.target_share, 4),
             "matched_how": m.how}
            for m in videos
        ]  # fmt: skip
        # pdq entries: single images among the frames.
        out["matches"] = [
            {"bank": r.bank, "frames_matched": r.frames_matched,
             "frames_total": r.frames_total, "share": round(r.share, 4),
             "entries": r.entries}
            for r in res
        ]  # fmt: skip
    typer.echo(json.dumps(out))


def register(app: typer.Typer) -> None:
    """Add `hash`, `scan`, `video` and `bank` to the main CLI."""
    app.command("hash")(hash_command)
    from openhotline.matching.scan import scan_command

    app.command("scan")(scan_command)
    app.command("video")(video_command)
    from openhotline.matching import cli_video

    cli_video.register(bank_app)
    app.add_typer(bank_app, name="bank")


__all__ = ["bank_app", "register"]
