"""Sending e-mail: a small Mailer protocol with an SMTP default (stdlib smtplib)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from openhotline.config import Settings


class Mailer(Protocol):
    """Delivers one message (raises on failure, so the job is retried)."""

    def send(self, message: EmailMessage) -> None:
        """Send message to its To and Cc recipients."""
        ...


class SmtpMailer:
    """SMTP submission, optionally with STARTTLS and login."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password, self.timeout = username, password, timeout

    @classmethod
    def from_settings(cls, s: Settings) -> SmtpMailer:
        """Mailer from OPENHOTLINE_SMTP_* settings."""
        return cls(
            s.smtp_host,
            s.smtp_port,
            starttls=s.smtp_starttls,
            username=s.smtp_username,
            password=s.smtp_password,
        )

    def send(self, message: EmailMessage) -> None:
        """Send one message over a fresh SMTP connection."""
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(message)
