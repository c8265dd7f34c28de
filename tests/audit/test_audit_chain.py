"""The audit log is a hash chain: any edited, deleted or reordered row is detected."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.audit import service
from openhotline.audit.models import AuditAction
from openhotline.cli import app as cli_app
from openhotline.config import get_settings
from openhotline.db import transaction


@pytest.fixture
def chain(session_factory: sessionmaker[Session]) -> int:
    """Five audited events, committed one by one."""
    for i in range(1, 6):
        with transaction(session_factory) as s:
            service.record(
                s, f"user:a{i}", AuditAction.ITEM_REVEAL, f"item:{i}", {"n": i, "note": "é"}
            )
    return 5


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner whose settings point at the test database."""
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def drop_triggers(engine: Engine) -> Iterator[Callable[[], None]]:
    """Let a test act as an attacker with DDL rights; PostgreSQL's triggers come back after."""

    def _drop() -> None:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
            else:
                conn.execute(text("DROP TRIGGER audit_log_no_update"))
                conn.execute(text("DROP TRIGGER audit_log_no_delete"))

    yield _drop
    if engine.dialect.name == "postgresql":  # the PostgreSQL schema is shared by all tests
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))


def _verify(session_factory: sessionmaker[Session]) -> service.VerifyResult:
    with session_factory() as s:
        return service.verify(s)


def test_intact_chain_verifies(chain: int, session_factory: sessionmaker[Session]) -> None:
    result = _verify(session_factory)
    assert result.ok and result.checked == chain


def test_empty_log_verifies(session_factory: sessionmaker[Session]) -> None:
    assert _verify(session_factory).ok


def test_rows_link_to_previous(chain: int, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        rows = list(reversed(service.recent(s, limit=10)))
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == "0" * 64
    for prev, row in itertools.pairwise(rows):
        assert row.prev_hash == prev.hash
    assert service.details_of(rows[2]) == {"n": 3, "note": "é"}


def test_rolled_back_action_leaves_no_row(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), transaction(session_factory) as s:
        service.record(s, "user:x", AuditAction.ITEM_REVEAL, "item:1", {})
        raise RuntimeError("the audited action failed")
    with transaction(session_factory) as s:
        service.record(s, "user:x", AuditAction.ITEM_REVEAL, "item:2", {})
    result = _verify(session_factory)
    assert result.ok and result.checked == 1


@pytest.mark.parametrize(
    ("sql", "bad_row"),
    [
        ("UPDATE audit_log SET details = '[99]' WHERE id = 3", 3),
        ("UPDATE audit_log SET actor = 'user:someone-else' WHERE id = 2", 2),
        ("UPDATE audit_log SET action = 'item.hide' WHERE id = 5", 5),
        ("DELETE FROM audit_log WHERE id = 2", 2),
        ("DELETE FROM audit_log WHERE id = 1", 1),
        ("DELETE FROM audit_log WHERE id = 5", 5),
        (
            "UPDATE audit_log SET id = -1 WHERE id = 2;"
            "UPDATE audit_log SET id = 2 WHERE id = 3;"
            "UPDATE audit_log SET id = 3 WHERE id = -1",
            2,
        ),
    ],
    ids=[
        "edit-details",
        "edit-actor",
        "edit-last",
        "delete-middle",
        "delete-first",
        "delete-last",
        "swap-ids",
    ],
)
def test_tampering_is_detected_by_cli(
    chain: int,
    engine: Engine,
    cli: CliRunner,
    drop_triggers: Callable[[], None],
    sql: str,
    bad_row: int,
) -> None:
    ok = cli.invoke(cli_app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "5 rows verified" in ok.output
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(sql.split(";")[0]))
    drop_triggers()  # an attacker with DDL rights
    with engine.begin() as conn:
        for statement in sql.split(";"):
            conn.execute(text(statement))
    broken = cli.invoke(cli_app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"BROKEN at row {bad_row}:" in broken.output


def test_recomputed_hash_breaks_next_link(
    chain: int,
    engine: Engine,
    session_factory: sessionmaker[Session],
    drop_triggers: Callable[[], None],
) -> None:
    """An attacker who edits a row and fixes its own hash still breaks the next link."""
    with session_factory() as s:
        row = next(r for r in service.recent(s) if r.id == 3)
        forged = service.entry_hash(
            row.prev_hash,
            entry_id=3,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            details='{"n":0}',
        )
    drop_triggers()
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET details = :d, hash = :h WHERE id = 3"),
            {"d": '{"n":0}', "h": forged},
        )
    result = _verify(session_factory)
    assert not result.ok and result.first_bad_id == 4


def test_canonical_json_is_stable() -> None:
    assert service.canonical_json({"b": 1, "a": [1, "x"]}) == '{"a":[1,"x"],"b":1}'
