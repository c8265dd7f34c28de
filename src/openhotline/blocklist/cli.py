"""`openhotline lists ...`: publish versions, write signed files for offline distribution."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors

lists_app = typer.Typer(help="The signed URL list and hash list.", no_args_is_help=True)


@lists_app.command("publish")
def publish_command(ctx: typer.Context) -> None:
    """Rebuild both lists now (unchanged lists keep their version)."""
    from openhotline.blocklist.service import excluded_countries, publish_lists
    from openhotline.db import transaction

    svc = services(ctx)
    with transaction(svc.sessionmaker) as session:
        versions = publish_lists(
            session,
            exclude_countries=excluded_countries(svc.settings),
            actor="cli",
            provenance=svc.settings.hotline_name,
        )
        for kind, v in versions.items():
            typer.echo(
                f"{kind}: version {v.version}, {v.entry_count} entries "
                f"(+{v.added_count} -{v.removed_count})"
            )


@lists_app.command("export")
def export_command(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="urls or hashes"),
    out: Path = typer.Argument(..., help="Directory to write FILE and FILE.sig into."),
    version: int = typer.Option(0, help="Version (0 = latest)."),
    fmt: str = typer.Option("csv", "--format", help="csv or json"),
    since: int = typer.Option(-1, help="Write the delta since this version instead."),
) -> None:
    """Write a signed snapshot or delta file with its .sig."""
    from openhotline.blocklist import service

    svc = services(ctx)
    key = svc.signer
    out.mkdir(parents=True, exist_ok=True)
    # Rendered beside its destination and moved in: a large list never passes through memory.
    with (
        domain_errors(),
        svc.sessionmaker() as s,
        tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp,
    ):
        parsed = service.parse_kind(kind)
        if version == 0:
            row = service.latest(s, parsed)
            if row is None:
                raise service.BlocklistNotFoundError("nothing published yet")
            version = row.version
        if since >= 0:
            file = service.delta_file(s, parsed, since, version, fmt, key, Path(tmp))
        else:
            file = service.snapshot_file(s, parsed, version, fmt, key, Path(tmp))
        assert file.path is not None  # noqa: S101 - rendered into tmp
        file.path.replace(out / file.name)
    (out / (file.name + ".sig")).write_text(file.signature + "\n")
    typer.echo(f"wrote {out / file.name} and .sig (key {file.key_id})")
