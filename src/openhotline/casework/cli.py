"""`openhotline case show|list`: the workbench's case file and search from the command line.

They join the `case` group of cases/cli.py; they live here because they read every hotline
domain (trace, takedown, assessment), which the cases package sits below.
"""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from openhotline.cases.cli import case_app
from openhotline.cli_context import services
from openhotline.cli_support import domain_errors
from openhotline.db import transaction


class Format(StrEnum):
    """Output formats of the case commands."""

    JSON = "json"
    CSV = "csv"


def show(
    ctx: typer.Context,
    case_id: int = typer.Argument(..., help="Case id."),
    fmt: Format = typer.Option(Format.JSON, "--format", help="json (the only format)."),
) -> None:
    """Print a case whole: status, items with review state and grades, trace, notices, referrals."""
    from openhotline.casework import service

    if fmt is not Format.JSON:
        typer.echo("error: case show prints json only", err=True)
        raise typer.Exit(2)
    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        data = service.case_file_json(service.case_file(session, case_id))
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def list_cases(
    ctx: typer.Context,
    status: str = typer.Option("", help="Only cases in this status."),
    domain: str = typer.Option("", help="Only this registrable domain and its subdomains."),
    country: str = typer.Option("", help="Only cases hosted in this country (ISO code)."),
    fmt: Format = typer.Option(Format.JSON, "--format", help="json or csv."),
    limit: int = typer.Option(100_000, min=1, max=1_000_000, help="At most this many cases."),
) -> None:
    """List cases (oldest first) as JSON or CSV (cells neutralised for spreadsheets)."""
    from openhotline.casework import service

    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        filters = service.parse_filters({"status": status, "domain": domain, "country": country})
        rows = service.iter_cases(session, filters, limit=limit)
        if fmt is Format.CSV:
            typer.echo(service.cases_csv(rows), nl=False)
            return
        out = [dict(zip(service.CSV_HEADER, service.case_row_values(r), strict=True)) for r in rows]
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


def register(_app: typer.Typer) -> None:
    """Add `show` and `list` to the `case` command group."""
    case_app.command("show")(show)
    case_app.command("list")(list_cases)
