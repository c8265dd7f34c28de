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
    delivery: str = typer.Option(
        "package",
        help="package: police fetch the signed package; ncmec: the worker submits each "
        "referral to NCMEC's CyberTipline (OPENHOTLINE_NCMEC_* settings).",
    ),
) -> None:
    """Make a police partner receive a referral destination, with its SLAs and release rule."""
    from openhotline.police import service

    with domain_errors(), transaction(services(ctx).sessionmaker) as s:
        service.add_channel(
            s, org, destination, ack_hours=ack_hours, decide_hours=decide_hours,
            auto_release_hours=auto_release_hours or None, delivery=delivery, actor="cli",
        )  # fmt: skip
    rule = f"auto-release after {auto_release_hours} h" if auto_release_hours else "never released"
    slas = f"acknowledge {ack_hours} h, decide {decide_hours} h"
    typer.echo(f"{org} receives {destination!r} by {delivery}: {slas}, {rule}")


@police_app.command("queue")
def queue(ctx: typer.Context) -> None:
    """Open police referrals with their SLA state."""
    from openhotline.police import service

    with services(ctx).sessionmaker() as s:
        rows = service.queue(s)
        if not rows:
            typer.echo("no open police referrals")
        for e in rows:
            failed = (
                f" DELIVERY FAILED: {e.referral.detail or ''}"
                if e.referral.status == "failed"
                else ""
            )
            late = (
                " ACK OVERDUE"
                if e.ack_overdue
                else (" DECISION OVERDUE" if e.decide_overdue else "")
            )
            typer.echo(
                f"{e.referral.id}\tcase {e.case.id}\t{e.referral.destination}\t{e.state}\t"
                f"since {e.referral.created_at:%Y-%m-%d %H:%M}{late}{failed}"
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


@police_app.command("ncmec")
def ncmec_list(
    ctx: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only submissions still under way."),
) -> None:
    """NCMEC CyberTipline submissions: state, NCMEC report id, files, last error."""
    from openhotline.police import ncmec

    with services(ctx).sessionmaker() as s:
        rows = ncmec.submissions(s, open_only=open_only)
        if not rows:
            typer.echo("no NCMEC submissions")
        for sub, ref in rows:
            up = sum(1 for f in sub.files if f.get("file_id"))
            report = f"report {sub.ncmec_report_id}" if sub.ncmec_report_id else "no report"
            error = f"\t{(sub.last_error or '').splitlines()[0]}" if sub.last_error else ""
            typer.echo(
                f"referral {ref.id}\tcase {ref.case_id}\t{sub.state}\t{report}\t"
                f"files {up}/{len(sub.files)}\tcalls {sub.attempts}{error}"
            )


@police_app.command("ncmec-resubmit")
def ncmec_resubmit(
    ctx: typer.Context,
    referral_id: int = typer.Argument(..., help="The referral whose submission failed."),
) -> None:
    """Submit a failed or retracted referral to NCMEC again (e.g. after fixing credentials)."""
    from openhotline.police import ncmec
    from openhotline.police.tasks import ncmec_policy

    svc = services(ctx)
    with domain_errors(), transaction(svc.sessionmaker) as s:
        ncmec.resubmit(s, referral_id, ncmec_policy(svc))
    typer.echo(f"referral {referral_id}: NCMEC submission queued again")
