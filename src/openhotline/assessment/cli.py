"""CLI of assessment: `bank map`, which needs the local classification scheme."""

from __future__ import annotations

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors
from openhotline.matching.cli import bank_app


@bank_app.command("map")
def bank_map(
    ctx: typer.Context,
    name: str,
    pairs: list[str] = typer.Argument(..., help="BANK_CODE=LOCAL_CODE pairs, e.g. A1=baseline."),
) -> None:
    """Map a bank's classification codes to the local scheme (replaces the mapping; audited)."""
    from openhotline.assessment import banks
    from openhotline.db import transaction
    from openhotline.errors import InvalidError

    svc = services(ctx)
    with domain_errors():
        mapping: dict[str, str] = {}
        for pair in pairs:
            code, sep, local = pair.partition("=")
            if not sep:
                raise InvalidError(f"{pair!r} is not BANK_CODE=LOCAL_CODE")
            mapping[code] = local
        with transaction(svc.sessionmaker) as session:
            banks.map_bank_classes(
                session, name, mapping, svc.settings.classification_scheme, actor="cli"
            )
    typer.echo(f"bank {name!r}: {len(mapping)} classification(s) mapped")


def register(app: typer.Typer) -> None:
    """The map command joins the matching domain's `bank` group (nothing to add here)."""
