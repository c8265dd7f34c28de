"""`openhotline victimid ...`: known-series lists, the new-material scan, series packages."""

from __future__ import annotations

from pathlib import Path

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors, fail

app = typer.Typer(help="Victim identification: series, known-series lists, packages.",
                  no_args_is_help=True)  # fmt: skip


@app.command("import-list")
def import_list_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV or JSON list of hashes with series references."),
    bank: str = typer.Option(..., help="Hash bank the list goes into (created if new)."),
    source: str = typer.Option("", help="Where the list comes from (e.g. police, ICSE)."),
    classification: str = typer.Option("", help="Bank code for entries that carry none."),
) -> None:
    """Import a known-series list; the bank's policy decides what a match does."""
    from openhotline.db import transaction
    from openhotline.victimid import known

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    svc = services(ctx)
    with domain_errors():
        entries, bad = known.parse_list(data, path.suffix.lstrip("."))
        with transaction(svc.sessionmaker) as s:
            r = known.import_list(
                s, bank, entries, actor="cli", source=source, classification=classification
            )
    typer.echo(
        f"bank {r.bank}: {r.added} hashes added, {r.duplicates} duplicates, "
        f"{r.series_created} series created, {r.series_updated} updated, {len(bad)} bad rows"
    )
    for line in bad[:20]:
        typer.echo(f"  skipped {line}", err=True)


@app.command("scan")
def scan_command(ctx: typer.Context) -> None:
    """Match new items against the series now (the worker does this every tick)."""
    from openhotline.victimid.tasks import scan_new_material

    with domain_errors():
        r = scan_new_material(services(ctx))
    typer.echo(f"{r.items} items scanned, {r.matches} matches, {len(r.alerts)} alerts, "
               f"{len(r.packages)} police packages")  # fmt: skip


@app.command("export")
def export_command(
    ctx: typer.Context,
    series_id: int,
    out: Path = typer.Argument(..., help="Zip file to write."),
) -> None:
    """Write the signed package of a series (hashes and fields; no media, no clues)."""
    from openhotline.db import transaction
    from openhotline.victimid import package, service

    svc = services(ctx)
    with domain_errors(), transaction(svc.sessionmaker) as s:
        built = package.export_series(
            s, service.get_series(s, series_id), svc.signer, actor="cli",
            hotline=svc.settings.hotline_name, store=svc.media_store,
        )  # fmt: skip
    out.write_bytes(built.data)
    typer.echo(f"wrote {out} ({built.files} files, export {built.export_id})")


@app.command("import")
def import_command(
    ctx: typer.Context,
    path: Path,
    sender: str = typer.Option(..., help="Country of the partner hotline that sent it."),
) -> None:
    """Import a series package, verified with the sender's configured public key."""
    from openhotline.db import transaction
    from openhotline.victimid import package

    svc = services(ctx)
    peer = svc.settings.federation_peers.get(sender.upper())
    if peer is None:
        fail(f"no partner hotline configured for {sender.upper()}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    with domain_errors(), transaction(svc.sessionmaker) as s:
        r = package.import_series(
            s, data, peer.public_key, actor="cli", sender=sender.upper(),
            cipher=svc.victimid_cipher,
        )  # fmt: skip
    typer.echo(f"series {r.reference} ({'new' if r.created else 'refreshed'}): "
               f"{r.hashes_added} hashes added")  # fmt: skip


@app.command("send")
def send_command(ctx: typer.Context, series_id: int, to: str = typer.Option(...)) -> None:
    """Send a series package to the partner hotline of a country."""
    from openhotline.victimid.tasks import send_series

    with domain_errors():
        answer = send_series(services(ctx), series_id, to, actor="cli")
    typer.echo(f"{to.upper()} has series {answer.get('reference')}")
