"""`openhotline stats ...`: print or export the published (suppressed) statistics."""

from __future__ import annotations

import json

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors

stats_app = typer.Typer(help="Hotline statistics.", no_args_is_help=True)


@stats_app.command("export")
def export_command(
    ctx: typer.Context,
    start: str = typer.Option(None, help="First day, YYYY-MM-DD (default: a year ago)."),
    end: str = typer.Option(None, help="Last day, YYYY-MM-DD (default: today)."),
) -> None:
    """Print this period's and the previous period's figures as JSON (suppressed)."""
    from openhotline.stats import service

    rt = services(ctx)
    with domain_errors(), rt.sessionmaker() as session:
        period = service.parse_period(session, start, end)
        both = service.compare(session, period)
    k = rt.settings.helpline_suppression_k
    out = {name: service.published(figures, k) for name, figures in both.items()}
    typer.echo(json.dumps(out, indent=2, sort_keys=True))
