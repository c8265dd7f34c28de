"""`openhotline keys ...` (the signing key) and `openhotline verify-list` (for partners)."""

from __future__ import annotations

from pathlib import Path

import typer

from openhotline.cli_context import settings
from openhotline.cli_support import domain_errors
from openhotline.clock import SYSTEM_CLOCK
from openhotline.signing import service

keys_app = typer.Typer(help="The hotline's Ed25519 signing key.", no_args_is_help=True)


@keys_app.command("generate")
def generate_command(ctx: typer.Context) -> None:
    """Create the signing key (refuses if one exists)."""
    with domain_errors():
        key = service.generate(settings(ctx).data_dir)
    typer.echo(f"signing key {key.key_id} created; public key: {key.public_b64}")


@keys_app.command("show")
def show_command(
    ctx: typer.Context, pem: bool = typer.Option(False, help="Print PEM instead of base64.")
) -> None:
    """Print the public key partners use to verify lists, referrals and exports."""
    path = service.key_path(settings(ctx).data_dir)
    if not path.exists():
        typer.echo(f"no signing key at {path}; run `openhotline keys generate`", err=True)
        raise typer.Exit(1)
    key = service.load_key(path)
    typer.echo(key.public_pem().strip() if pem else key.public_b64)


@keys_app.command("rotate")
def rotate_command(ctx: typer.Context) -> None:
    """Replace the signing key; the old one is kept so old signatures stay checkable."""
    key, archived = service.rotate(settings(ctx).data_dir, SYSTEM_CLOCK.now())
    if archived:
        typer.echo(f"old key kept as {archived}")
    typer.echo(f"new signing key {key.key_id}; public key: {key.public_b64}")


def verify_list_command(
    file: Path = typer.Argument(..., help="The downloaded list (CSV or JSON)."),
    sig: Path = typer.Argument(..., help="Its .sig file (base64 signature)."),
    pubkey: str = typer.Argument(..., help="Public key: base64, or a file holding base64/PEM."),
) -> None:
    """Check a signed list file; exit 0 if the signature is valid, 1 otherwise."""
    key_text = Path(pubkey).read_text() if Path(pubkey).is_file() else pubkey
    try:
        service.verify(file.read_bytes(), sig.read_text(), key_text)
    except (OSError, service.SignatureError) as exc:
        typer.echo(f"INVALID: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"OK: {file} is signed by this key")
