"""`openhotline stats ...`: print or export the published (suppressed) statistics."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors, fail

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


@stats_app.command("host-page")
def host_page_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder to write index.html and hosts.csv."),
    start: str = typer.Option(None, help="First day, YYYY-MM-DD (default: a year ago)."),
    end: str = typer.Option(None, help="Last day, YYYY-MM-DD (default: today)."),
    language: str = typer.Option("en", help="Language of the page."),
) -> None:
    """Write the host accountability page as self-contained HTML + CSV for a website."""
    import csv

    from openhotline import i18n
    from openhotline.stats import hosts, service
    from openhotline.web.templating import templates

    rt = services(ctx)
    k = max(rt.settings.stats_host_page_min_notices, rt.settings.helpline_suppression_k)
    with domain_errors(), rt.sessionmaker() as session:
        period = service.parse_period(session, start, end)
        tables = hosts.accountability(session, period, k)
    if out.exists() and not out.is_dir():
        fail(f"{out} is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    with i18n.use_language(i18n.normalise(language)):
        html = templates.env.get_template("transparency/hosts_static.html").render(tables=tables)
    (out / "index.html").write_text(html, encoding="utf-8")
    with open(out / "hosts.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(hosts.csv_rows(tables))
    named = len(tables["providers"]["rows"])
    typer.echo(f"wrote {out / 'index.html'} and {out / 'hosts.csv'} ({named} provider(s) named)")


@stats_app.command("network-export")
def network_export_command(
    ctx: typer.Context,
    year: int = typer.Option(..., help="The calendar year (one export per year: no overlaps)."),
    hotline: str = typer.Option("openhotline", help="The hotline's name in the network."),
    csv_out: Path = typer.Option(None, "--csv", help="Also write the cells as CSV here."),
) -> None:
    """Print the suppressed annual export for the hotline network as JSON."""
    import csv

    from openhotline.stats import network

    rt = services(ctx)
    k = rt.settings.helpline_suppression_k
    with domain_errors(), rt.sessionmaker() as session:
        export = network.annual_export(session, year, k, hotline)
    if csv_out is not None:
        with open(csv_out, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(network.csv_rows(export))
    typer.echo(json.dumps(export, indent=2, sort_keys=True))
