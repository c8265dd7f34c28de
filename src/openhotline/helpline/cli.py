"""`openhotline helpline ...`: run the retention (anonymisation) job by hand or from cron."""

from __future__ import annotations

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors

helpline_app = typer.Typer(help="Helpline contacts and trend data.", no_args_is_help=True)


@helpline_app.command("anonymise")
def anonymise(
    ctx: typer.Context,
    retention_days: int = typer.Option(
        0, min=0, help="Override OPENHOTLINE_HELPLINE_RETENTION_DAYS (0 = use the setting)."
    ),
) -> None:
    """Anonymise contacts older than the retention period (counts survive, details do not)."""
    from openhotline.helpline.tasks import run_anonymise

    svc = services(ctx)
    days = retention_days or svc.settings.helpline_retention_days
    result = run_anonymise(svc.sessionmaker, retention_days=days)
    typer.echo(
        f"anonymised {result.anonymised} contacts recorded before {result.cutoff:%Y-%m-%d}"
        f" ({result.skipped_pending} left for a pending safeguarding decision)"
    )


@helpline_app.command("demo")
def demo(
    ctx: typer.Context,
    year: int = typer.Option(..., min=2000, max=2100, help="Calendar year to fill."),
    count: int = typer.Option(300, min=1, max=100_000, help="How many contacts."),
) -> None:
    """Record synthetic coded contacts (no notes, no identities) to try the trend pages."""
    from openhotline.db import transaction
    from openhotline.helpline.demo import load_demo_contacts

    svc = services(ctx)
    with domain_errors(), transaction(svc.sessionmaker) as session:
        made = load_demo_contacts(
            session,
            year=year,
            count=count,
            cipher=svc.helpline_cipher,
            taxonomy=svc.helpline_taxonomy,
        )
    typer.echo(f"recorded {made} synthetic helpline contacts in {year}")
