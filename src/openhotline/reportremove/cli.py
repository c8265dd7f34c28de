"""`openhotline report-remove ...`: run the Report Remove purge by hand or from cron."""

from __future__ import annotations

import typer

from openhotline.cli_context import services

report_remove_app = typer.Typer(help="Report Remove requests.", no_args_is_help=True)


@report_remove_app.command("purge")
def purge(ctx: typer.Context) -> None:
    """Expire unclaimed requests and delete every image held past its retention."""
    from openhotline.reportremove.tasks import run_purge

    svc = services(ctx)
    s = svc.settings
    result, strays = run_purge(
        svc.sessionmaker,
        svc.removal_store,
        unclaimed_days=s.report_remove_unclaimed_days,
        image_days=s.report_remove_image_days,
    )
    typer.echo(
        f"expired {result.expired} requests, deleted {len(result.blobs)} images"
        f" and {strays} stray files"
    )
