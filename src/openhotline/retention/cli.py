"""`openhotline retention ...`: purge on policy (or a dry run), legal holds on cases."""

from __future__ import annotations

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors
from openhotline.db import transaction

retention_app = typer.Typer(help="Retention policies and legal holds.", no_args_is_help=True)


@retention_app.command("purge")
def purge_command(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; erase nothing."),
) -> None:
    """Erase what the retention policies say (audited); print the counts."""
    from openhotline.config import RetentionSettings
    from openhotline.retention.service import purge

    rt = services(ctx)
    with domain_errors(), transaction(rt.sessionmaker) as session:
        counts = purge(
            session,
            rt.settings.group(RetentionSettings),
            dry_run=dry_run,
            actor="cli",
            store=rt.media_store,
        )
    verb = "would erase" if dry_run else "erased"
    for name, n in counts.items():
        typer.echo(f"{name}: {verb} {n}")


@retention_app.command("hold")
def hold_command(
    ctx: typer.Context,
    case_id: int = typer.Argument(help="The case (or the item, with --item)."),
    reason: str = typer.Option(..., help="Why (recorded in the audit log)."),
    lift: bool = typer.Option(False, "--lift", help="Lift the hold instead."),
    by: str = typer.Option(..., "--by", help="Who sets it (recorded in the audit log)."),
    item: bool = typer.Option(False, "--item", help="The id is an item's, not a case's."),
) -> None:
    """Put a case or an item under legal hold, so no purge touches it (or lift the hold)."""
    from openhotline.retention.service import set_item_hold, set_legal_hold

    hold = set_item_hold if item else set_legal_hold
    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        hold(session, case_id, not lift, actor=f"cli:{by}", reason=reason)
    kind = "item" if item else "case"
    typer.echo(f"{kind} {case_id}: legal hold {'lifted' if lift else 'set'}")


@retention_app.command("rekey-media")
def rekey_command(ctx: typer.Context) -> None:
    """Re-encrypt media stored before per-item keys under keys of their own (resumable)."""
    from openhotline.retention.service import rekey_media

    rt = services(ctx)
    with domain_errors(), transaction(rt.sessionmaker) as session:
        old = rekey_media(session, rt.media_store, actor="cli")
    for key in old:  # committed: no row refers to the old files any more
        rt.media_store.delete(key)
    typer.echo(f"re-keyed {len(old)} file(s) under per-item keys")
