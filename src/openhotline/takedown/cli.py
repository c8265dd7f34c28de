"""`openhotline takedown ...`: statistics, the URL block list, uncertain sends.

Police clearances are recorded with `openhotline police clear` (the police channel).
"""

from __future__ import annotations

import json

import typer
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cli_context import services

takedown_app = typer.Typer(help="Notice-and-takedown.", no_args_is_help=True)


def _factory(ctx: typer.Context) -> sessionmaker[Session]:
    return services(ctx).sessionmaker


@takedown_app.command("stats")
def stats(ctx: typer.Context) -> None:
    """Print time to notice, time to removal and notices per case, host and country (JSON)."""
    from openhotline.takedown.stats import takedown_stats

    factory = _factory(ctx)
    with factory() as session:
        typer.echo(json.dumps(takedown_stats(session), indent=2, default=str))


@takedown_app.command("blocklist")
def blocklist(ctx: typer.Context) -> None:
    """Print the URLs of confirmed-illegal cases whose content is not yet removed."""
    from openhotline.takedown.service import urls_to_block

    factory = _factory(ctx)
    with factory() as session:
        for url in urls_to_block(session):
            typer.echo(url)


@takedown_app.command("uncertain")
def uncertain(ctx: typer.Context) -> None:
    """List notice sends that may or may not have arrived (SMTP cut off mid-way)."""
    from openhotline.takedown.service import uncertain_sends

    svc = services(ctx)
    with svc.sessionmaker() as session:
        rows = uncertain_sends(session, svc.settings.notice_send_uncertain_seconds)
        for row in rows:
            typer.echo(
                f"{row.id}\tcase {row.case_id}\tnotice {row.notice_id}\t{row.state.value}\t"
                f"{row.sent_at:%Y-%m-%d %H:%M:%S}\t{row.recipient}\t{row.message_id}"
            )
    if not rows:
        typer.echo("no uncertain notice sends")


@takedown_app.command("resend")
def resend(
    ctx: typer.Context,
    send_id: int = typer.Argument(..., min=1, max=2_147_483_647, help="Send id (see uncertain)."),
    operator: str = typer.Option(..., help="Who decided to send again (audited)."),
) -> None:
    """Send an uncertain notice again on the next run (the recipient may get it twice)."""
    from openhotline.cli_support import domain_errors
    from openhotline.db import transaction
    from openhotline.takedown.service import resend_send

    svc = services(ctx)
    with domain_errors(), transaction(svc.sessionmaker) as session:
        notice = resend_send(
            session, send_id, svc.settings.notice_send_uncertain_seconds, actor=f"user:{operator}"
        )
        typer.echo(f"notice {notice.id} (case {notice.case_id}) will be sent on the next run")
