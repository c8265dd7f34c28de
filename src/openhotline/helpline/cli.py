"""`openhotline helpline ...`: run the retention (anonymisation) job by hand or from cron."""

from __future__ import annotations

import typer

from openhotline.cli_support import domain_errors
from openhotline.config import get_settings

helpline_app = typer.Typer(help="Helpline contacts and trend data.", no_args_is_help=True)


@helpline_app.command("anonymise")
def anonymise(
    retention_days: int = typer.Option(
        0, min=0, help="Override OPENHOTLINE_HELPLINE_RETENTION_DAYS (0 = use the setting)."
    ),
) -> None:
    """Anonymise contacts older than the retention period (counts survive, details do not)."""
    from openhotline.db import make_engine, make_sessionmaker
    from openhotline.helpline.tasks import run_anonymise

    settings = get_settings()
    days = retention_days or settings.helpline_retention_days
    engine = make_engine(settings.resolved_database_url())
    try:
        result = run_anonymise(make_sessionmaker(engine), retention_days=days)
    finally:
        engine.dispose()
    typer.echo(
        f"anonymised {result.anonymised} contacts recorded before {result.cutoff:%Y-%m-%d}"
        f" ({result.skipped_pending} left for a pending safeguarding decision)"
    )


@helpline_app.command("demo")
def demo(
    year: int = typer.Option(..., min=2000, max=2100, help="Calendar year to fill."),
    count: int = typer.Option(300, min=1, max=100_000, help="How many contacts."),
) -> None:
    """Record synthetic coded contacts (no notes, no identities) to try the trend pages."""
    from openhotline.db import make_engine, make_sessionmaker, transaction
    from openhotline.helpline.crypto import FieldCipher
    from openhotline.helpline.demo import load_demo_contacts
    from openhotline.helpline.taxonomy import load_taxonomy

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())
    try:
        with domain_errors(), transaction(make_sessionmaker(engine)) as session:
            made = load_demo_contacts(
                session,
                year=year,
                count=count,
                cipher=FieldCipher(settings.helpline_key_bytes()),
                taxonomy=load_taxonomy(settings.helpline_taxonomy_path),
            )
    finally:
        engine.dispose()
    typer.echo(f"recorded {made} synthetic helpline contacts in {year}")
