"""The real worker process (Huey consumer + tick) runs the whole chain on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.db import transaction
from tests.takedown.takedown_world import World


def _env(world: World) -> dict[str, str]:
    s = world.settings
    env = dict(os.environ)
    env.update(
        {
            "OPENHOTLINE_DATA_DIR": str(s.data_dir),
            "OPENHOTLINE_DATABASE_URL": s.resolved_database_url(),
            "OPENHOTLINE_CRAWLER_ALLOW_NETWORKS": json.dumps(s.crawler_allow_networks),
            "OPENHOTLINE_DNS_OVERRIDES": json.dumps(s.dns_overrides),
            "OPENHOTLINE_GEOIP_COUNTRY_DB": str(s.geoip_country_db),
            "OPENHOTLINE_GEOIP_ASN_DB": str(s.geoip_asn_db),
            "OPENHOTLINE_RDAP_BASE_URL": s.rdap_base_url,
            "OPENHOTLINE_SMTP_PORT": str(s.smtp_port),
            "OPENHOTLINE_OWN_COUNTRIES": json.dumps(s.own_countries),
            "OPENHOTLINE_JOBS_NAME": world.queue.huey.name,
            "OPENHOTLINE_JOBS_TICK_SECONDS": "0.5",
        }
    )
    return env


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_worker_process_captures_traces_and_notices(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world("GB")
    world.gallery("/w", [71])
    r = world.client.post("/api/v1/reports", json={"urls": [world.url("/w")]})
    assert r.status_code == 201
    factory = world.queue.services.sessionmaker

    def status() -> str:
        with factory() as s:
            return s.execute(select(Case.status)).scalar_one()

    log = tmp_path / "worker.log"
    cli = Path(sys.executable).parent / "openhotline"
    worker = subprocess.Popen(
        [str(cli), "worker", "--workers", "2"],
        env=_env(world),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        assert _wait(lambda: status() == CaseStatus.TRIAGE, 60), log.read_text()
        with transaction(factory) as s:
            case = s.execute(select(Case)).scalar_one()
            move(s, case, CaseStatus.ASSESSED, actor="analyst:test")
        assert _wait(lambda: len(world.mail.messages) == 1, 60), log.read_text()
        assert status() == CaseStatus.ACTIONED
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    rcpts, _msg = world.mail.messages[0]
    assert rcpts == ["abuse@host-a.test"]
