"""`openhotline reporters ...`: erase a reporter's e-mail address on request."""

from __future__ import annotations

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors
from openhotline.db import transaction

reporters_app = typer.Typer(help="Reporters' contact details.", no_args_is_help=True)


@reporters_app.command("erase-contact")
def erase_contact_command(
    ctx: typer.Context,
    email: str = typer.Argument(help="The address the reporter asked to have erased."),
    by: str = typer.Option(..., "--by", help="Who erases it (recorded in the audit log)."),
) -> None:
    """Erase an e-mail address from every report that holds it (audited)."""
    from openhotline.reporting.feedback import erase_reporter_contact

    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        count = erase_reporter_contact(session, email, actor=f"cli:{by}")
    typer.echo(f"erased the address from {count} report(s)")
