"""`openhotline user ...`: create staff users (the first admin), unlock, list."""

from __future__ import annotations

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors

user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="Login name (a-z, 0-9, '.', '_', '-')."),
    role: str = typer.Option(
        "analyst", help="One of the roles in README (analyst, supervisor, admin, ...)."
    ),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="At least 12 characters."
    ),
) -> None:
    """Create a user; print the TOTP secret and recovery codes once."""
    from openhotline.accounts import service
    from openhotline.db import transaction

    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        created = service.create_user(session, username, password, role, actor="cli")
    typer.echo(f"user {created.user.username!r} created with role {role}.")
    typer.echo("Add this to an authenticator app now; it is shown only once:")
    typer.echo(f"  TOTP secret: {created.totp_secret}")
    typer.echo(f"  URI: {created.provisioning_uri}")
    typer.echo("One-time recovery codes (store them offline):")
    for code in created.recovery_codes:
        typer.echo(f"  {code}")


@user_app.command("unlock")
def user_unlock(ctx: typer.Context, username: str) -> None:
    """Clear a user's login lockout."""
    from sqlalchemy import select

    from openhotline.accounts import service
    from openhotline.accounts.models import User
    from openhotline.db import transaction

    with transaction(services(ctx).sessionmaker) as session:
        user = session.execute(
            select(User).where(User.username == username.lower())
        ).scalar_one_or_none()
        if user is None:
            typer.echo(f"error: no user {username!r}", err=True)
            raise typer.Exit(2)
        service.unlock(session, user, actor="cli")
    typer.echo(f"user {username!r} unlocked")


@user_app.command("list")
def user_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List staff users: name, role, status, last login."""
    import json

    from openhotline.accounts import service
    from openhotline.db import transaction

    with transaction(services(ctx).sessionmaker) as session:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "status": "inactive"
                if not u.active
                else ("locked" if u.locked_until else "active"),
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in service.list_users(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['username']}\t{row['role']}\t{row['status']}\t{row['last_login_at'] or 'never'}"
        )
