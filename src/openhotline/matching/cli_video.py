"""Bank commands for videos: import and export vPDQ entries, remove one, set the frame shares."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from openhotline.cli_context import settings
from openhotline.errors import DomainError
from openhotline.matching.cli_common import _factory, _fail, regular_file_problem
from openhotline.media.video import VideoFrame

TEXT_SUFFIXES = {".vpdq", ".txt", ".json", ".csv"}


def _frames_of(path: Path, max_bytes: int) -> list[VideoFrame]:
    """A vPDQ hash file's frames, or (for a video file) its frames hashed here."""
    from openhotline.media.decode import MediaError
    from openhotline.media.video import hash_video, parse_vpdq

    problem = regular_file_problem(path, max_bytes)
    if problem is not None:
        raise ValueError(problem)
    data = path.read_bytes()
    text: str | None = None
    if path.suffix.lower() in TEXT_SUFFIXES:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("a vPDQ hash file must be UTF-8 text") from None
    if text is not None:
        return parse_vpdq(text)
    try:
        return hash_video(path, max_bytes=max_bytes).frames
    except MediaError as exc:
        raise ValueError(exc.message) from exc


def import_video(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The bank."),
    files: list[Path] = typer.Argument(
        ...,
        help="vPDQ hash files (.vpdq/.txt: frame,quality,hash,timestamp lines; .json: "
        "threatexchange's list) or video files (hashed here; needs the video extra).",
    ),
    classification: str = typer.Option("", help="The bank's classification code."),
    source: str = typer.Option("", help="Where the videos come from."),
) -> None:
    """Add videos to a bank as vpdq entries (one entry per file)."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching import video as vbanks

    max_bytes = settings(ctx).crawler_max_media_bytes
    failed = 0
    for path in files:
        try:
            frames = _frames_of(path, max_bytes)
            with transaction(_factory(ctx)) as session:
                bank = service.get_bank(session, name)
                entry, created = vbanks.add_video(
                    session, bank, frames, source or path.name, classification, "cli"
                )
                digest = entry.hash_value
        except service.BankNotFoundError as exc:
            _fail(str(exc))
            return
        except (ValueError, OSError, DomainError) as exc:
            failed += 1
            typer.echo(f"{path}: {exc}", err=True)
            continue
        state = "added" if created else "already in the bank"
        typer.echo(f"{path}: {state}, {len(frames)} frames (vpdq {digest})")
    if failed:
        raise typer.Exit(1)


def export_video(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The bank."),
    folder: Path | None = typer.Option(
        None, "--dir", help="Write one <hash>.vpdq file per video here (vPDQ's own format)."
    ),
) -> None:
    """Export a bank's videos: JSON lines (threatexchange's vpdq signal) or vPDQ files."""
    from openhotline.matching import service
    from openhotline.matching import video as vbanks
    from openhotline.media.video import format_te_json, format_vpdq

    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"cannot create {folder}: {exc.strerror or exc}")
    count = 0
    with _factory(ctx)() as session:
        try:
            bank = service.get_bank(session, name)
        except service.BankError as exc:
            _fail(str(exc))
            return
        for entry, frames in vbanks.iter_videos(session, bank):
            count += 1
            if folder is None:
                line = {
                    "signal_type": "vpdq", "hash": entry.hash_value,
                    "signal": format_te_json(frames), "classification": entry.classification,
                    "added_at": entry.added_at.isoformat(),
                }  # fmt: skip
                typer.echo(json.dumps(line))
            else:
                (folder / f"{entry.hash_value}.vpdq").write_text(format_vpdq(frames))
    if folder is not None:
        typer.echo(f"{count} video(s) written to {folder}", err=True)


def remove_video(ctx: typer.Context, name: str, digest: str) -> None:
    """Remove one video (its vpdq hash) from a bank; kept as a removed entry."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching import video as vbanks

    try:
        with transaction(_factory(ctx)) as session:
            n = vbanks.remove_video(session, service.get_bank(session, name), digest, "cli")
    except DomainError as exc:
        _fail(str(exc))
        return
    typer.echo("removed" if n else "not in the bank")


def vpdq_shares(
    ctx: typer.Context,
    name: str,
    frame_share: float | None = typer.Option(
        None, help="Share of the query video's frames that must match (default 0.8)."
    ),
    target_share: float | None = typer.Option(
        None, help="Share of the bank video's frames that must be matched (default 0)."
    ),
) -> None:
    """Show or set the shares of frames a vPDQ match needs in this bank."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching import video as vbanks

    try:
        with transaction(_factory(ctx)) as session:
            bank = service.get_bank(session, name)
            if frame_share is not None or target_share is not None:
                vbanks.set_vpdq_shares(session, bank, frame_share, target_share)
            shown = (bank.vpdq_frame_share, bank.vpdq_target_share)
    except DomainError as exc:
        _fail(str(exc))
        return
    typer.echo(f"bank {name!r}: vpdq_frame_share {shown[0]:g}, vpdq_target_share {shown[1]:g}")


def register(bank_app: typer.Typer) -> None:
    """Add the video commands to `openhotline bank`."""
    bank_app.command("import-video")(import_video)
    bank_app.command("export-video")(export_video)
    bank_app.command("remove-video")(remove_video)
    bank_app.command("vpdq-shares")(vpdq_shares)
