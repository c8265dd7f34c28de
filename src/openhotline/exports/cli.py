"""`openhotline export ...`: police packages and their verification from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors

export_app = typer.Typer(help="Police export packages.", no_args_is_help=True)


@export_app.command("police")
def police_command(
    ctx: typer.Context, case_id: int, out: Path = typer.Argument(..., help="Zip file to write.")
) -> None:
    """Write the signed package of a case (without media)."""
    from openhotline.db import transaction
    from openhotline.exports import service

    svc = services(ctx)
    with domain_errors(), transaction(svc.sessionmaker) as s:
        export = service.police_export(
            s, case_id, svc.signer, actor="cli", hotline=svc.settings.hotline_name
        )
    out.write_bytes(export.data)
    typer.echo(f"wrote {out} ({export.files} files, export {export.export_id})")


@export_app.command("verify")
def verify_command(
    package: Path,
    pubkey: str = typer.Argument(..., help="Public key: base64, or a file holding base64/PEM."),
) -> None:
    """Check a package's manifest signature and every file's SHA-256; exit 1 if not intact."""
    from openhotline.exports import service

    key_text = Path(pubkey).read_text() if Path(pubkey).is_file() else pubkey
    try:
        manifest = service.verify_package(package.read_bytes(), key_text)
    except (OSError, service.ExportError) as exc:
        typer.echo(f"INVALID: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"OK: case {manifest['case_id']}, {len(manifest['files'])} files intact")
