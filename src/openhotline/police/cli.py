"""`openhotline police ...`: police channels and recording a clearance given by telephone."""

from __future__ import annotations

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors
from openhotline.db import transaction

police_app = typer.Typer(
    help="The police channel: channels, queue, clearances.", no_args_is_help=True
)


@police_app.command("channel")
def channel(
    ctx: typer.Context,
    org: str = typer.Argument(..., help="The police partner organisation (its name)."),
    destination: str = typer.Option(..., help="The referral destination it receives."),
    ack_hours: int = typer.Option(24, help="SLA: hours to acknowledge a referral."),
    decide_hours: int = typer.Option(72, help="SLA: hours to clear or hold it."),
    auto_release_hours: int = typer.Option(
        0, help="Release held notices after this many hours without a decision (0: never)."
    ),
) -> None:
    """Make a police partner receive a referral destination, with its SLAs and release rule."""
    from openhotline.police import service

    with domain_errors(), transaction(services(ctx).sessionmaker) as s:
        service.add_channel(
            s, org, destination, ack_hours=ack_hours, decide_hours=decide_hours,
            auto_release_hours=auto_release_hours or None, actor="cli",
        )  # fmt: skip
    rule = f"auto-release after {auto_release_hours} h" if auto_release_hours else "never released"
    slas = f"acknowledge {ack_hours} h, decide {decide_hours} h"
    typer.echo(f"{org} receives {destination!r}: {slas}, {rule}")


@police_app.command("queue")
def queue(ctx: typer.Context) -> None:
    """Open police referrals with their SLA state."""
    from openhotline.police import service

    with services(ctx).sessionmaker() as s:
        rows = service.queue(s)
        if not rows:
            typer.echo("no open police referrals")
        for e in rows:
            late = (
                " ACK OVERDUE"
                if e.ack_overdue
                else (" DECISION OVERDUE" if e.decide_overdue else "")
            )
            typer.echo(
                f"{e.referral.id}\tcase {e.case.id}\t{e.referral.destination}\t{e.state}\t"
                f"since {e.referral.created_at:%Y-%m-%d %H:%M}{late}"
            )


@police_app.command("clear")
def clear(
    ctx: typer.Context,
    case_id: int = typer.Argument(..., help="Case whose police referral police have cleared."),
    officer: str = typer.Option(..., help="Who at the police cleared it (recorded)."),
) -> None:
    """Record a clearance police gave by other means: held notices are sent on the next run."""
    from openhotline.police import service

    with domain_errors(), transaction(services(ctx).sessionmaker) as s:
        released = service.clear_case(s, case_id, actor=f"police:{officer}")
    typer.echo(f"case {case_id}: {released} notice(s) released")
