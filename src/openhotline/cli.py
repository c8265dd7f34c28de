"""The `openhotline` command line (Typer): core commands plus every domain's commands."""

from __future__ import annotations

import os
import secrets
import sys
from typing import TYPE_CHECKING

import typer

from openhotline import domains
from openhotline.cli_context import CliState, services, state
from openhotline.config import Settings, get_settings, hash_api_key

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

app = typer.Typer(help="openhotline: hotline, helpline and partner platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Synthetic demo data.", no_args_is_help=True)
apikey_app = typer.Typer(help="Static partner API keys.", no_args_is_help=True)
config_app = typer.Typer(help="Settings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(apikey_app, name="apikey")
app.add_typer(config_app, name="config")


def _build_services(settings: Settings) -> Services:
    from openhotline.bootstrap import SchemaNotReadyError, build

    try:
        return build(settings)
    except SchemaNotReadyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.callback()
def root(ctx: typer.Context) -> None:
    """openhotline: hotline, helpline and partner platform."""
    cli_state = CliState(get_settings, _build_services)
    ctx.obj = cli_state
    ctx.call_on_close(cli_state.close)


def _register_domain_commands() -> None:
    for domain in domains.all_domains():
        for name, ref in domain.cli:
            target = domains.resolve(ref)
            if isinstance(target, typer.Typer):
                app.add_typer(target, name=name)
            elif name is None:
                target(app)  # a register(app) function adding several commands
            else:
                app.command(name)(target)


_register_domain_commands()


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the latest version."""
    from openhotline.migrate import upgrade

    url = state(ctx).settings.resolved_database_url()
    upgrade(url)
    typer.echo(f"database schema up to date ({url.split('@')[-1]})")


@db_app.command("downgrade")
def db_downgrade(
    ctx: typer.Context,
    revision: str = typer.Argument(..., help="Revision to go back to (e.g. 0700, or -1)."),
) -> None:
    """Take the schema back to an older revision (tables added since are dropped)."""
    from alembic.util.exc import CommandError

    from openhotline.migrate import downgrade

    url = state(ctx).settings.resolved_database_url()
    try:
        downgrade(url, revision)
    except CommandError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"database schema at {revision} ({url.split('@')[-1]})")


@demo_app.command("load")
def demo_load(ctx: typer.Context) -> None:
    """Load a small synthetic demo dataset (idempotent; example.test URLs only)."""
    from openhotline.db import transaction
    from openhotline.demo import load_demo

    with transaction(services(ctx).sessionmaker) as session:
        created = load_demo(session)
    typer.echo(f"demo data: {created} new reports")


@demo_app.command("pipeline")
def demo_pipeline() -> None:
    """Run the whole hotline path on 127.0.0.1 (local site, SMTP, RDAP, GeoIP); JSON summary."""
    from openhotline.demo_pipeline import run_demo

    raise typer.Exit(run_demo(typer.echo))


@apikey_app.command("new")
def apikey_new() -> None:
    """Generate a partner API key and print it with the digest to put in settings."""
    key = "oh_" + secrets.token_urlsafe(32)
    typer.echo(f"key (give to the partner, shown once): {key}")
    typer.echo(f"OPENHOTLINE_PARTNER_API_KEY_HASHES='[\"{hash_api_key(key)}\"]'")


@config_app.command("check")
def config_check() -> None:
    """Show the effective settings by domain (secrets masked); flag unknown OPENHOTLINE_* names."""
    import difflib

    from dotenv import dotenv_values
    from pydantic import ValidationError

    from openhotline.config import GROUPS, Settings, masked, unknown_variables

    try:
        current = Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "OPENHOTLINE_" + ".".join(str(p) for p in err["loc"]).upper()
            typer.echo(f"error: {name}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    for group, cls in GROUPS.items():
        typer.echo(f"[{group}]")
        for name in cls.model_fields:
            typer.echo(f"  OPENHOTLINE_{name.upper()} = {masked(name, getattr(current, name))}")
    from openhotline.media.video import video_status

    typer.echo(f"[video]\n  {video_status()}")
    dotenv = dotenv_values(".env") if os.path.exists(".env") else {}
    unknown = unknown_variables(dict(os.environ), dict(dotenv))
    known = [f"OPENHOTLINE_{n.upper()}" for n in Settings.model_fields]
    for name in unknown:
        near = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        typer.echo(f"warning: {name} is not a setting and is ignored{hint}", err=True)
    if unknown:
        raise typer.Exit(1)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int | None = typer.Option(
        None, min=1, max=64, help="Server processes (default: OPENHOTLINE_WORKERS, 1)."
    ),
) -> None:
    """Serve the web app and API with uvicorn (no access log: reporters stay anonymous).

    With several workers, uvicorn forks processes that share the listening socket and
    restarts one that dies; each has its own database pool and group-commit writer.
    """
    import uvicorn

    # Fail here, in one line, rather than in every uvicorn worker with a traceback.
    built = services(ctx)
    if workers is None:
        workers = built.settings.workers
    state(ctx).close()
    table = None
    if workers > 1 and os.name == "posix":
        from openhotline.web.ratelimit import SharedTokenBucketLimiter

        # One rate limit for the server, not one per process: the processes read the
        # table's path from the environment they inherit.
        table = SharedTokenBucketLimiter.create()
        os.environ["OPENHOTLINE_SHARED_RATE_TABLE"] = str(table)
    try:
        uvicorn.run(
            "openhotline.app:create_server_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
    finally:
        if table is not None:
            table.unlink(missing_ok=True)


@app.command("worker")
def worker(
    ctx: typer.Context,
    workers: int = typer.Option(2, help="Worker threads."),
    once: bool = typer.Option(False, help="Run what is due, then exit."),
) -> None:
    """Run background jobs (capture, trace, notices, re-checks) from the job queue."""
    from openhotline.jobs.worker import run_worker

    done = run_worker(services(ctx), workers=workers, once=once)
    if once:
        typer.echo(f"ran {done} job(s)")


def main() -> None:
    """Entry point for `python -m openhotline` and the `openhotline` script."""
    sys.exit(app())
