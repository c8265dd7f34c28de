"""`openhotline helpline ...`: retention by hand or from cron, demo data, the referral
directory, and the CHI annual export."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors, fail
from openhotline.helpline.resources import CSV_COLUMNS

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
    year: int = typer.Option(0, min=0, max=2100, help="Calendar year to fill (past months)."),
    count: int = typer.Option(300, min=1, max=100_000, help="How many contacts."),
    remove: bool = typer.Option(False, "--remove", help="Delete every demo contact instead."),
) -> None:
    """Record synthetic coded contacts (no notes, no identities) to try the trend pages.

    They are dated in the year's ended months, marked as demo contacts (removable with
    --remove), and leave one audit entry for the whole load.
    """
    from openhotline.db import transaction
    from openhotline.helpline.demo import load_demo_contacts, remove_demo_contacts

    svc = services(ctx)
    if remove:
        with domain_errors(), transaction(svc.sessionmaker) as session:
            gone = remove_demo_contacts(session)
        typer.echo(f"removed {gone} demo helpline contacts")
        return
    if year < 2000:
        fail("--year is required (2000-2100), or --remove")
    with domain_errors(), transaction(svc.sessionmaker) as session:
        made = load_demo_contacts(
            session,
            year=year,
            count=count,
            cipher=svc.helpline_cipher,
            taxonomy=svc.helpline_taxonomy,
        )
    typer.echo(f"recorded {made} synthetic helpline contacts in the ended months of {year}")


resources_app = typer.Typer(help="The referral directory of services.", no_args_is_help=True)
helpline_app.add_typer(resources_app, name="resources")


@resources_app.command("import")
def resources_import(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV with a header: " + ",".join(CSV_COLUMNS)),
) -> None:
    """Add or update resources from a CSV file (all rows or none; bad rows are listed)."""
    from openhotline.db import transaction
    from openhotline.helpline.resources import import_csv

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    svc = services(ctx)
    with domain_errors(), transaction(svc.sessionmaker) as session:
        result = import_csv(session, text, taxonomy=svc.helpline_taxonomy, actor="cli")
        if result.errors:
            session.rollback()
    if result.errors:
        for line in result.errors:
            typer.echo(f"error: {line}", err=True)
        fail(f"nothing imported: {len(result.errors)} problem(s) in {file}")
    typer.echo(f"imported {result.added} new and {result.updated} updated resources")


@resources_app.command("list")
def resources_list(
    ctx: typer.Context,
    region: str = typer.Option("", help="Only resources serving this region code."),
    category: str = typer.Option("", help="Only this category code."),
    age: int = typer.Option(-1, min=-1, max=120, help="Only resources serving this age."),
    retired: bool = typer.Option(False, "--retired", help="Include retired resources."),
) -> None:
    """List the directory as CSV (code, name, category, region, ages, reach, retired)."""
    from openhotline.db import transaction
    from openhotline.helpline.resources import ResourceFilter, find_resources

    svc = services(ctx)
    flt = ResourceFilter(
        region=region or None,
        category=category or None,
        age=None if age < 0 else age,
        include_retired=retired,
    )
    with transaction(svc.sessionmaker) as session:
        found = find_resources(session, flt)
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow([*CSV_COLUMNS, "retired"])
        for r in found:
            out.writerow(
                [
                    r.code,
                    r.name,
                    r.category,
                    r.region or "",
                    r.age_min if r.age_min is not None else "",
                    r.age_max if r.age_max is not None else "",
                    r.reach,
                    r.description,
                    "yes" if r.retired_at else "",
                ]
            )


@helpline_app.command("export-chi")
def export_chi(
    ctx: typer.Context,
    year: int = typer.Option(..., min=2000, max=2100, help="Calendar year (its ended months)."),
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
) -> None:
    """The year's figures in Child Helpline International's data framework, suppressed."""
    from openhotline.audit import service as audit
    from openhotline.audit.models import AuditAction
    from openhotline.db import transaction
    from openhotline.helpline.chi import chi_export, load_mapping

    if fmt not in ("csv", "json"):
        fail("--format must be csv or json")
    svc = services(ctx)
    with domain_errors(), transaction(svc.sessionmaker) as session:
        tx = svc.helpline_taxonomy
        mapping = load_mapping(tx, svc.settings.helpline_chi_mapping_path)
        export = chi_export(session, year, tx, svc.settings.helpline_suppression_k, mapping=mapping)
        audit.record(
            session, "cli", AuditAction.HELPLINE_CHI_EXPORTED, None, {"year": year, "format": fmt}
        )
    text = export.as_csv() if fmt == "csv" else json.dumps(export.as_dict(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote the {year} CHI export to {output}")
