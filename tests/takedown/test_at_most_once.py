"""Notice e-mails go out at most once: recorded before SMTP, uncertain when cut off, resent by hand.

The probe killed the worker while the SMTP server delayed its reply: 6 of 40 notices went out
2-3 times, because a send was only recorded after SMTP answered and the notice's claim then
lapsed. Here the worker "dies" right after the server took the message, with the claim lease
set to 0 so the notice is claimable again at once.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openhotline.bootstrap import build as build_services
from openhotline.cases.models import Case
from openhotline.cli import app as cli_app
from openhotline.config import get_settings
from openhotline.db import transaction
from openhotline.takedown import service as takedown
from openhotline.takedown import tasks
from openhotline.takedown.mailer import SmtpMailer
from openhotline.takedown.models import NoticeSend, NoticeSendState
from tests.takedown.takedown_world import World


class WorkerKilledError(BaseException):
    """Stands for kill -9 between the SMTP server's acceptance and the worker's bookkeeping."""


class DeliverThenDie:
    """Hands the message to the real local SMTP server, then the worker 'dies'."""

    def __init__(self, port: int) -> None:
        self.inner = SmtpMailer("127.0.0.1", port)

    def send(self, message: EmailMessage) -> None:
        self.inner.send(message)
        raise WorkerKilledError


class RefusingMailer:
    """An SMTP server that refuses the recipients: certainly not delivered."""

    def send(self, message: EmailMessage) -> None:
        raise smtplib.SMTPRecipientsRefused({"abuse@host-a.test": (550, b"no")})


def _queued_notice(make_world: Callable[..., World]) -> World:
    world = make_world(
        "GB",
        police_first=True,
        notice_claim_lease_seconds=0.0,
        notice_send_uncertain_seconds=0.0,
    )
    world.gallery("/p", [61])
    r = world.client.post("/api/v1/reports", json={"urls": [world.url("/p")]})
    assert r.status_code == 201, r.text
    world.drain()
    from tests.takedown.test_takedown_e2e import _assess_all

    _assess_all(world)
    world.drain()
    assert world.mail.messages == []  # held for police
    with transaction(world.queue.services.sessionmaker) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
        assert takedown.clear_for_notice(s, case_id, actor="police:test") == 1
    return world


def test_a_worker_killed_after_smtp_accepted_sends_nothing_twice(
    make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _queued_notice(make_world)
    dying = build_services(world.settings, mailer=DeliverThenDie(world.mail.port))
    with pytest.raises(WorkerKilledError):
        tasks.send_notices(dying, {})
    dying.close()
    assert len(world.mail.messages) == 1
    first = world.mail.messages[0][1]
    # The restarted worker: the claim has lapsed (lease 0), the notice is not sent again.
    restarted = build_services(world.settings)
    try:
        tasks.send_notices(restarted, {})
        assert len(world.mail.messages) == 1
        with restarted.sessionmaker() as s:
            (send,) = s.execute(select(NoticeSend)).scalars().all()
            assert send.state is NoticeSendState.SENDING
            assert (
                first["Message-ID"]
                == send.message_id
                == takedown.send_message_id(send.id, "openhotline.invalid")
            )
        # The operator sees it as uncertain and decides to send it again.
        monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", world.settings.resolved_database_url())
        monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(world.settings.data_dir))
        monkeypatch.setenv("OPENHOTLINE_NOTICE_SEND_UNCERTAIN_SECONDS", "0")
        get_settings.cache_clear()
        runner = CliRunner()
        listed = runner.invoke(cli_app, ["takedown", "uncertain"])
        assert listed.exit_code == 0, listed.output
        assert send.message_id in listed.output and "sending" in listed.output
        again = runner.invoke(cli_app, ["takedown", "resend", str(send.id), "--operator", "ana"])
        assert again.exit_code == 0, again.output
        twice = runner.invoke(cli_app, ["takedown", "resend", str(send.id), "--operator", "ana"])
        assert twice.exit_code != 0 and "not uncertain" in twice.output
        missing = runner.invoke(cli_app, ["takedown", "resend", "999", "--operator", "ana"])
        assert missing.exit_code != 0 and "no notice send 999" in missing.output
        get_settings.cache_clear()
        tasks.send_notices(restarted, {})
        assert len(world.mail.messages) == 2
        second = world.mail.messages[1][1]
        assert second["Message-ID"] != first["Message-ID"]
        with restarted.sessionmaker() as s:
            rows = s.execute(select(NoticeSend).order_by(NoticeSend.id)).scalars()
            states = [r.state for r in rows]
            assert states == [NoticeSendState.RESENT, NoticeSendState.SENT]
            assert takedown.uncertain_sends(s, 0.0) == []
    finally:
        restarted.close()


def test_a_refused_send_is_not_delivered_and_goes_again(make_world: Callable[..., World]) -> None:
    world = _queued_notice(make_world)
    refused = build_services(world.settings, mailer=RefusingMailer())
    with pytest.raises(tasks.NoticeSendError):
        tasks.send_notices(refused, {})
    refused.close()
    with world.queue.services.sessionmaker() as s:
        (send,) = s.execute(select(NoticeSend)).scalars().all()
        assert send.state is NoticeSendState.FAILED and "550" in (send.error or "")
        assert takedown.uncertain_sends(s, 0.0) == []
    working = build_services(world.settings)
    try:
        tasks.send_notices(working, {})  # due again at once: the job's retry delivers it
    finally:
        working.close()
    assert len(world.mail.messages) == 1
