"""Per-bank policy: defaults, the classification mapping, audited changes, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.assessment import banks as assessment_banks
from openhotline.audit.models import AuditAction, AuditEntry
from openhotline.cli import app
from openhotline.config import get_settings
from openhotline.db import make_engine, make_sessionmaker, transaction
from openhotline.errors import InvalidError
from openhotline.matching import service
from openhotline.matching.policy import BankPolicy, BankSource, decide, parse_policy
from openhotline.migrate import upgrade

pytestmark = pytest.mark.db


def test_decision_table() -> None:
    own = decide(BankPolicy.AUTO_ASSESS, BankSource.OWN, {}, "default:baseline")
    assert own.auto and own.local == "default:baseline"
    # A partner code with no mapping never auto-assesses, even in a trusted bank.
    unmapped = decide(BankPolicy.AUTO_ASSESS, BankSource.PARTNER, {}, "A1")
    assert unmapped.policy == BankPolicy.REVIEW_WITH_HINT and unmapped.local is None
    mapped = decide(BankPolicy.AUTO_ASSESS, BankSource.PARTNER, {"A1": "default:baseline"}, "A1")
    assert mapped.auto and mapped.local == "default:baseline"
    other = decide(BankPolicy.AUTO_ASSESS, BankSource.PARTNER, {"A1": "default:baseline"}, "B2")
    assert not other.auto
    hint = decide(BankPolicy.REVIEW_WITH_HINT, BankSource.PARTNER, {"A1": "x:y"}, "A1")
    assert hint.policy == BankPolicy.REVIEW_WITH_HINT and hint.local == "x:y"
    report = decide(BankPolicy.REPORT_ONLY, BankSource.OWN, {}, "default:baseline")
    assert report.policy == BankPolicy.REPORT_ONLY and not report.auto


def test_parse_policy_rejects_unknown_names_clearly() -> None:
    assert parse_policy(" Auto_Assess ") == BankPolicy.AUTO_ASSESS
    with pytest.raises(InvalidError, match="review_with_hint"):
        parse_policy("trusted")


def test_defaults_and_audited_changes(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        partner = service.create_bank(session, "partner-list")
        own = assessment_banks.confirmed_bank(session)
        assert (partner.source, partner.policy) == (
            BankSource.IMPORTED,
            BankPolicy.REVIEW_WITH_HINT,
        )
        assert (own.source, own.policy) == (BankSource.OWN, BankPolicy.AUTO_ASSESS)
        assert assessment_banks.auto_assess_banks(session) == {"confirmed"}
        assert service.set_policy(session, partner, BankPolicy.AUTO_ASSESS, actor="admin")
        assert not service.set_policy(session, partner, BankPolicy.AUTO_ASSESS, actor="admin")
        assessment_banks.map_bank_classes(
            session, "partner-list", {"A1": "baseline"}, "default", "admin"
        )
        with pytest.raises(InvalidError, match="category-z"):
            assessment_banks.map_bank_classes(
                session, "partner-list", {"B1": "category-z"}, "default", "admin"
            )
    with session_factory() as session:
        bank = service.get_bank(session, "partner-list")
        assert service.mapping_of(bank) == {"A1": "default:baseline"}
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.actor, e.target) for e in entries] == [
            (AuditAction.BANK_POLICY.value, "admin", "bank:partner-list"),
            (AuditAction.BANK_MAPPING.value, "admin", "bank:partner-list"),
        ]
        assert json.loads(entries[0].details) == {"from": "review_with_hint", "to": "auto_assess"}


def test_import_records_last_sync(session_factory: sessionmaker[Session]) -> None:
    from openhotline.matching.formats import FileFormat, parse_lines

    rows = parse_lines(["hash_type,hash\n", "md5," + "a" * 32 + "\n"], FileFormat.CSV)
    with transaction(session_factory) as session:
        bank = service.create_bank(session, "imported")
        assert bank.last_synced_at is None
        service.import_rows(session, bank, rows)
        assert bank.last_synced_at is not None


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_policy_map_and_list(cli: CliRunner, db_url: str) -> None:
    r = cli.invoke(app, ["bank", "create", "partner-list", "--owner", "nobody"])
    assert r.exit_code == 1 and "no organisation named" in r.output
    assert cli.invoke(app, ["bank", "create", "partner-list"]).exit_code == 0
    r = cli.invoke(app, ["bank", "policy", "partner-list", "auto_assess"])
    assert r.exit_code == 0, r.output
    assert "no classification mapping" in r.output
    r = cli.invoke(app, ["bank", "policy", "partner-list", "trusted"])
    assert r.exit_code == 1 and "unknown bank policy" in r.output and "Traceback" not in r.output
    r = cli.invoke(app, ["bank", "policy", "nope", "report_only"])
    assert r.exit_code == 1 and "no bank named" in r.output
    r = cli.invoke(app, ["bank", "map", "partner-list", "A1=baseline", "A2=baseline"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["bank", "map", "partner-list", "A1"])
    assert r.exit_code == 1 and "BANK_CODE=LOCAL_CODE" in r.output
    r = cli.invoke(app, ["bank", "map", "partner-list", "A1=category-z"])
    assert r.exit_code == 1 and "not a class" in r.output
    r = cli.invoke(app, ["bank", "list"])
    assert "partner-list\t0 entries\tenabled\tradius 31\timported\tauto_assess" in r.output
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        bank = service.get_bank(session, "partner-list")
        assert service.mapping_of(bank) == {"A1": "default:baseline", "A2": "default:baseline"}
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["bank.policy", "bank.mapping"]
    engine.dispose()
