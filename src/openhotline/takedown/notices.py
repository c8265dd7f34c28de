"""Notice e-mails: editable Jinja2 templates per language, and signed confirmation links."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

PACKAGED = Path(__file__).resolve().parent.parent / "templates" / "notices"
DEFAULT_LANGUAGE = "en"
# What sign() produces: 40 lowercase hex digits. Anything else is refused before comparing
# (compare_digest raises TypeError on non-ASCII text, which was an HTTP 500 without login).
SIGNATURE_RE = re.compile(r"[0-9a-f]{40}")


def sign(key: bytes, notice_id: int) -> str:
    """Signature of a notice's confirmation link."""
    return hmac.new(key, f"notice-confirm:{notice_id}".encode(), hashlib.sha256).hexdigest()[:40]


def verify(key: bytes, notice_id: int, signature: str) -> bool:
    """Constant-time check of a confirmation link signature; False for any malformed one."""
    if not SIGNATURE_RE.fullmatch(signature):
        return False
    return hmac.compare_digest(sign(key, notice_id), signature)


def confirm_link(base_url: str, key: bytes, notice_id: int) -> str:
    """The link a host follows to tell us the content is removed."""
    sig = sign(key, notice_id)
    return f"{base_url.rstrip('/')}/api/v1/notices/{notice_id}/confirm?sig={sig}"


class NoticeTemplates:
    """Renders notices; files in an override folder take precedence over packaged ones."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
        loaders.append(FileSystemLoader(str(PACKAGED)))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def languages(self) -> list[str]:
        """Languages that have a notice template."""
        names = self.env.list_templates(filter_func=lambda n: n.endswith("/notice.txt.j2"))
        return sorted({n.split("/", 1)[0] for n in names})

    def render(self, language: str, context: dict[str, Any]) -> tuple[str, str]:
        """Return (subject, body); the first template line is 'Subject: ...'."""
        lang = language if language in self.languages() else DEFAULT_LANGUAGE
        text = self.env.get_template(f"{lang}/notice.txt.j2").render(**context)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            raise ValueError(f"notice template {lang} must start with 'Subject:'")
        return first.removeprefix("Subject:").strip(), body.lstrip("\n")


@dataclass
class Outgoing:
    """One e-mail to one abuse contact carrying one or more notices."""

    recipient: str
    cc: list[str]
    language: str
    subject: str
    body: str
    message_id: str

    def to_email(self, sender: str) -> EmailMessage:
        """Build the RFC 5322 message."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.recipient
        if self.cc:
            msg["Cc"] = ", ".join(self.cc)
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = self.message_id
        msg.set_content(self.body)  # resets Content-* headers, so set the language after
        msg["Content-Language"] = self.language
        return msg
