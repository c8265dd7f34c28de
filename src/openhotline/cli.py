"""The `openhotline` command line (Typer)."""

from __future__ import annotations

import secrets

import typer

from openhotline.accounts.cli import user_app
from openhotline.audit.cli import audit_app
from openhotline.blocklist.cli import lists_app
from openhotline.cases.cli import case_app
from openhotline.config import get_settings, hash_api_key
from openhotline.exports.cli import export_app
from openhotline.helpline.cli import helpline_app
from openhotline.matching.cli import register as register_matching
from openhotline.partners.cli import partner_app
from openhotline.signing.cli import keys_app, verify_list_command
from openhotline.takedown.cli import takedown_app

app = typer.Typer(help="openhotline: hotline, helpline and partner platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Synthetic demo data.", no_args_is_help=True)
apikey_app = typer.Typer(help="Static partner API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(apikey_app, name="apikey")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(partner_app, name="partner")
app.add_typer(keys_app, name="keys")
app.add_typer(lists_app, name="lists")
app.add_typer(export_app, name="export")
app.command("verify-list")(verify_list_command)
app.add_typer(takedown_app, name="takedown")
app.add_typer(helpline_app, name="helpline")
app.add_typer(case_app, name="case")
register_matching(app)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    from openhotline.migrate import upgrade

    url = get_settings().resolved_database_url()
    upgrade(url)
    typer.echo(f"database schema up to date ({url.split('@')[-1]})")


@demo_app.command("load")
def demo_load() -> None:
    """Load a small synthetic demo dataset (idempotent; example.test URLs only)."""
    from openhotline.db import make_engine, make_sessionmaker, transaction
    from openhotline.demo import load_demo

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url())
    with transaction(make_sessionmaker(engine)) as session:
        created = load_demo(session)
    engine.dispose()
    typer.echo(f"demo data: {created} new reports")


@apikey_app.command("new")
def apikey_new() -> None:
    """Generate a partner API key and print it with the digest to put in settings."""
    key = "oh_" + secrets.token_urlsafe(32)
    typer.echo(f"key (give to the partner, shown once): {key}")
    typer.echo(f"OPENHOTLINE_PARTNER_API_KEY_HASHES='[\"{hash_api_key(key)}\"]'")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, help="Worker processes."),
) -> None:
    """Serve the web app and API with uvicorn (no access log: reporters stay anonymous)."""
    import uvicorn

    uvicorn.run(
        "openhotline.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


@app.command("worker")
def worker(
    workers: int = typer.Option(2, help="Worker threads."),
    once: bool = typer.Option(False, help="Run what is due, then exit."),
) -> None:
    """Run background jobs (capture, trace, notices, re-checks) from the job queue."""
    from openhotline.jobs.worker import run_worker

    done = run_worker(get_settings(), workers=workers, once=once)
    if once:
        typer.echo(f"ran {done} job(s)")


def main() -> None:
    """Entry point for `python -m openhotline`."""
    app()
