"""Alembic environment: migrations for every domain's tables."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, event

from openhotline import domains
from openhotline.db import Base, make_engine

domains.load_models()  # every domain's tables, as every process sees them
config = context.config
target_metadata = Base.metadata


def _transactional_sqlite_ddl(engine: Any) -> None:
    """Let each SQLite migration run in one real transaction, DDL included.

    Python's sqlite3 module commits implicitly before DDL, so a migration killed half-way
    left its first tables behind and the next upgrade failed ('table already exists').
    Handing transaction control to SQLAlchemy (the documented pysqlite recipe) makes an
    interrupted migration roll back whole, as it does on PostgreSQL.
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def run_migrations_online() -> None:
    """Run migrations against a live connection, one transaction per migration."""
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(str(url))
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        _transactional_sqlite_ddl(engine)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
