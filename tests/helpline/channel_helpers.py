"""Helpers of the channel tests: a signing SMS sender, a local provider receiver, a DB dump."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Engine, select

from openhotline.db import Base
from openhotline.helpline import signature

AUTH_TOKEN = "test-auth-token-0123456789"
# A number from the UK's range reserved for drama (Ofcom): in every format a sender may use.
NUMBER_FORMS = ("+447700900123", "07700900123", "447700900123")
NEEDLES = (*NUMBER_FORMS, "7700900123", "+44 7700 900123", "07700 900123")


def channel_settings(receiver_url: str) -> dict[str, Any]:
    """Settings that open every channel, with the local receiver as the provider API."""
    return {
        "helpline_channels": ["chat", "sms", "whatsapp"],
        "helpline_provider_auth_token": AUTH_TOKEN,
        "helpline_provider_base_url": receiver_url,
        "helpline_provider_account": "ACtest",
        "helpline_sms_from": "+447700900999",
        "helpline_whatsapp_from": "+447700900998",
    }


def signed_form(
    url: str, fields: dict[str, str], token: str = AUTH_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and headers as the provider sends them."""
    body = urlencode(fields).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature.compute(token, url, fields.items()),
    }
    return body, headers


def sms_fields(sender: str, body: str, sid: str) -> dict[str, str]:
    """The fields of an inbound SMS webhook."""
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "ACtest",
        "From": sender,
        "To": "+447700900999",
        "Body": body,
        "NumMedia": "0",
    }


class Receiver:
    """A local stand-in for the provider's Messages API (127.0.0.1 only)."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.status = 201
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.received.append(dict(parse_qsl(self.rfile.read(length).decode())))
                payload = json.dumps({"sid": f"SM{len(outer.received):032d}"}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/2010-04-01/Accounts/ACtest"


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Run a Receiver in a thread for the duration of the block."""
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def dump_text(engine: Engine) -> list[tuple[str, str, str]]:
    """Every value of every column of every table, as text: (table, column, text).

    Not only text and blob columns: JSON (audit details) and custom types are included too.
    """
    out: list[tuple[str, str, str]] = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            cols = list(table.columns)
            for row in conn.execute(select(*cols)):
                for col, value in zip(cols, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("latin-1")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value)
                    else:
                        text = str(value)
                    out.append((table.name, col.name, text))
    return out


def find_needles(engine: Engine, needles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Where any needle occurs in the database (should be nowhere)."""
    return [(t, c, n) for t, c, text in dump_text(engine) for n in needles if n in text]
