"""`openhotline partner ...`: organisations and API keys from the command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from sqlalchemy.orm import Session

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors

partner_app = typer.Typer(help="Partner organisations and their API keys.", no_args_is_help=True)
T = TypeVar("T")
CLI_ACTOR = "cli"


def _in_transaction(ctx: typer.Context, fn: Callable[[Session], T]) -> T:
    from openhotline.db import transaction

    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        return fn(session)


@partner_app.command("add")
def add_command(
    ctx: typer.Context,
    name: str,
    kind: str = typer.Option(..., help="hotline, police, hosting_provider, platform, ..."),
    country: str = typer.Option(None, help="ISO country code (hotlines, police)."),
) -> None:
    """Add a partner organisation."""
    from openhotline.partners import service

    org_id = _in_transaction(
        ctx, lambda s: service.create_org(s, name, kind, country, actor=CLI_ACTOR).id
    )
    typer.echo(f"organisation {org_id} {name!r} added")


@partner_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List organisations and their keys."""
    from openhotline.partners import service

    def show(s: Session) -> None:
        for org in service.list_orgs(s):
            typer.echo(f"{org.id}\t{org.name}\t{org.kind}\t{org.country or '-'}")
            for k in org.keys:
                state = "revoked" if k.revoked_at else "active"
                typer.echo(f"  key {k.id}\t{k.prefix}…\t{state}\t{k.scopes}\t{k.ip_allow or 'any'}")

    _in_transaction(ctx, show)


@partner_app.command("key-new")
def key_new_command(
    ctx: typer.Context,
    org: str = typer.Argument(..., help="Organisation name."),
    scope: list[str] = typer.Option(..., "--scope", help="Repeat: urls.read, hashes.read, ..."),
    ip: list[str] = typer.Option([], "--ip", help="Allowed address or CIDR (repeat)."),
    label: str = typer.Option("", help="A note to tell keys apart."),
) -> None:
    """Create an API key; it is printed once and only its digest is stored."""
    from openhotline.partners import service

    def make(s: Session) -> tuple[int, str]:
        key, token = service.create_key(
            s, service.find_org(s, org), scope, actor=CLI_ACTOR, ip_allow=ip, label=label
        )
        return key.id, token

    key_id, token = _in_transaction(ctx, make)
    typer.echo(f"key {key_id} (give to the partner, shown once): {token}")


@partner_app.command("key-revoke")
def key_revoke_command(ctx: typer.Context, key_id: int) -> None:
    """Revoke an API key at once."""
    from openhotline.partners import service

    _in_transaction(ctx, lambda s: service.revoke_key(s, key_id, actor=CLI_ACTOR).id)
    typer.echo(f"key {key_id} revoked")


@partner_app.command("key-rotate")
def key_rotate_command(ctx: typer.Context, key_id: int) -> None:
    """Replace a key by a new one with the same scopes; the old one stops working."""
    from openhotline.partners import service

    def make(s: Session) -> tuple[int, str]:
        key, token = service.rotate_key(s, key_id, actor=CLI_ACTOR)
        return key.id, token

    new_id, token = _in_transaction(ctx, make)
    typer.echo(f"key {key_id} revoked; new key {new_id} (shown once): {token}")
