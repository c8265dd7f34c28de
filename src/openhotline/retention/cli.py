"""`openhotline retention ...`: purge on policy (or a dry run), legal holds on cases."""

from __future__ import annotations

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors
from openhotline.db import transaction

retention_app = typer.Typer(help="Retention policies and legal holds.", no_args_is_help=True)


@retention_app.command("purge")
def purge_command(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; erase nothing."),
) -> None:
    """Erase what the retention policies say (audited); print the counts."""
    from openhotline.config import RetentionSettings
    from openhotline.retention.service import purge

    rt = services(ctx)
    with domain_errors(), transaction(rt.sessionmaker) as session:
        counts = purge(session, rt.settings.group(RetentionSettings), dry_run=dry_run, actor="cli")
    verb = "would erase" if dry_run else "erased"
    for name, n in counts.items():
        typer.echo(f"{name}: {verb} {n}")


@retention_app.command("hold")
def hold_command(
    ctx: typer.Context,
    case_id: int = typer.Argument(help="The case."),
    reason: str = typer.Option(..., help="Why (recorded in the audit log)."),
    lift: bool = typer.Option(False, "--lift", help="Lift the hold instead."),
    by: str = typer.Option(..., "--by", help="Who sets it (recorded in the audit log)."),
) -> None:
    """Put a case under legal hold, so no purge touches it (or lift the hold)."""
    from openhotline.retention.service import set_legal_hold

    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        set_legal_hold(session, case_id, not lift, actor=f"cli:{by}", reason=reason)
    typer.echo(f"case {case_id}: legal hold {'lifted' if lift else 'set'}")
