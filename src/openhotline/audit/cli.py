"""`openhotline audit ...`: verify the hash chain, show recent entries."""

from __future__ import annotations

import typer

from openhotline.cli_context import services

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify_command(ctx: typer.Context) -> None:
    """Check every row of the audit chain; exit 1 naming the first bad row."""
    from openhotline.audit import service

    with services(ctx).sessionmaker() as session:
        result = service.verify(session)
    if not result.ok:
        typer.echo(
            f"audit log BROKEN at row {result.first_bad_id}: {result.reason} "
            f"({result.checked} rows before it are intact)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {result.checked} rows verified")


@audit_app.command("tail")
def tail_command(
    ctx: typer.Context, limit: int = typer.Option(20, help="How many entries.")
) -> None:
    """Print the newest audit entries."""
    from openhotline.audit import service

    with services(ctx).sessionmaker() as session:
        for e in service.recent(session, limit=limit):
            fields = [str(e.id), e.at.isoformat(), e.actor, e.action, e.target or "-"]
            typer.echo("\t".join([*fields, e.details]))
