"""The Alembic chain builds exactly the schema the models declare (types and lengths too)."""

from __future__ import annotations

from enum import StrEnum

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, String

from openhotline import domains
from openhotline.db import Base, EnumString


class _Colour(StrEnum):
    RED = "red"


def test_enum_string_keeps_the_declared_length() -> None:
    # A shared String instance as `impl` silently ignored the length: every column was 40.
    assert isinstance(EnumString(_Colour, 10).impl, String)
    assert EnumString(_Colour, 10).impl.length == 10
    assert EnumString(_Colour).impl.length == 40


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    domains.load_models()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []
