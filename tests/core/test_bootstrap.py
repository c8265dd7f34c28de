"""The composition root: one Services per process, every table loaded, clear start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from openhotline import domains
from openhotline.bootstrap import SchemaNotReadyError, build
from openhotline.config import Settings
from openhotline.db import Base
from openhotline.migrate import upgrade

SRC = Path(__file__).resolve().parents[2] / "src" / "openhotline"

# Every command that needs the database, as a newcomer would type it in an empty folder.
COMMANDS = [
    ["serve"],
    ["worker", "--once"],
    ["demo", "load"],
    ["audit", "verify"],
    ["user", "unlock", "nobody"],
    ["bank", "list"],
    ["lists", "publish"],
    ["partner", "list"],
    ["takedown", "stats"],
    ["helpline", "anonymise"],
    ["export", "police", "1", "out.zip"],
]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENHOTLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "openhotline", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_every_command_in_an_empty_folder_says_db_upgrade_in_one_line(
    args: list[str], tmp_path: Path
) -> None:
    result = _run(args, tmp_path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "openhotline db upgrade" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "var" / "openhotline.db").exists()  # nothing half-made left


def test_an_unmigrated_database_is_refused_with_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    with pytest.raises(SchemaNotReadyError, match="openhotline db upgrade"):
        build(Settings(data_dir=tmp_path / "var", database_url=url))
    result = _run(["audit", "verify"], tmp_path, OPENHOTLINE_DATABASE_URL=url)
    assert result.returncode == 2
    assert "revision" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_build_loads_every_table_the_migrations_create(db_url: str, tmp_path: Path) -> None:
    services = build(Settings(data_dir=tmp_path / "var", database_url=db_url))
    try:
        engine = create_engine(services.engine.url)
        migrated = set(inspect(engine).get_table_names()) - {"alembic_version"}
        engine.dispose()
        assert migrated <= set(Base.metadata.tables)
    finally:
        services.close()


def test_a_fresh_process_sees_every_table_after_build(tmp_path: Path) -> None:
    """What the worker lacked: a process that imports only bootstrap knows every table."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    code = (
        "from openhotline.bootstrap import build\n"
        "from openhotline.config import Settings\n"
        "from openhotline.db import Base\n"
        f"s = build(Settings(database_url={url!r}, data_dir={str(tmp_path / 'var')!r}))\n"
        "print(len(Base.metadata.tables)); s.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    engine = create_engine(url)
    expected = len(set(inspect(engine).get_table_names()) - {"alembic_version"})
    engine.dispose()
    assert int(out.stdout.strip()) >= expected


def test_every_package_with_tables_or_tasks_is_a_declared_domain() -> None:
    declared = {d.name for d in domains.all_domains()}
    for pkg in SRC.iterdir():
        if not (pkg / "__init__.py").exists():
            continue
        owns = any((pkg / f).exists() for f in ("models.py", "tasks.py", "api.py", "cli.py"))
        if owns:
            assert pkg.name in declared, f"{pkg.name} has models/tasks/routes but no domain.py"
            assert (pkg / "domain.py").exists()


def test_every_declared_reference_resolves() -> None:
    for domain in domains.all_domains():
        for ref in (*domain.models, *domain.handlers.values(), *domain.tick_hooks):
            assert domains.resolve(ref) is not None
        for _module, ref in domain.mounted_routers():
            assert domains.resolve(ref) is not None
        for _name, ref in domain.cli:
            assert domains.resolve(ref) is not None


def test_no_module_outside_the_composition_root_builds_an_engine() -> None:
    """Adapters are built in bootstrap only (13 CLI modules once made their own engines)."""
    allowed = {"db.py", "bootstrap.py", "migrations/env.py"}
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in allowed:
            continue
        text = path.read_text()
        for needle in ("make_engine(", "EncryptedFileStore(", "SmtpMailer.from_settings("):
            if needle in text:
                offenders.append(f"{rel}: {needle}")
    assert offenders == []


def test_config_check_masks_secrets_and_flags_misspelt_names(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENHOTLINE_SMTP_PASSWORD=hunter2-secret\n")
    result = _run(
        ["config", "check"],
        tmp_path,
        OPENHOTLINE_CRAWLER_TIMEOUT_SECOND="3",
        OPENHOTLINE_HOTLINE_NAME="Test Hotline",
    )
    assert result.returncode == 1
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "OPENHOTLINE_SMTP_PASSWORD = (set)" in result.stdout  # read from .env
    assert "OPENHOTLINE_HOTLINE_NAME = 'Test Hotline'" in result.stdout
    assert "[crawler]" in result.stdout
    assert "OPENHOTLINE_CRAWLER_TIMEOUT_SECOND is not a setting" in result.stderr
    assert "did you mean OPENHOTLINE_CRAWLER_TIMEOUT_SECONDS?" in result.stderr


def test_config_check_names_an_invalid_value(tmp_path: Path) -> None:
    result = _run(["config", "check"], tmp_path, OPENHOTLINE_CRAWLER_ALLOW_NETWORKS='["x"]')
    assert result.returncode == 2
    assert "OPENHOTLINE_CRAWLER_ALLOW_NETWORKS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_clean_config_check_exits_zero(tmp_path: Path) -> None:
    result = _run(["config", "check"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OPENHOTLINE_MEDIA_KEY = (not set)" in result.stdout
