"""Outbound messages to SMS / WhatsApp callers through a provider's HTTP API.

The default adapter speaks Twilio's Messages API shape: POST <base>/Messages.json with the
form fields To, From, Body and HTTP basic auth (account id, auth token). Tests point the
base URL at a local 127.0.0.1 receiver. Built once in bootstrap.py (Services.message_provider).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx


class ProviderError(Exception):
    """The provider did not accept a message (the reason is safe to show a counsellor)."""


class MessageProvider(Protocol):
    """Sends one message to a caller on a channel; returns the provider's message id."""

    def send(self, channel: str, to: str, body: str) -> str:
        """Send body to the address `to` on channel ("sms" or "whatsapp")."""
        ...


@dataclass(frozen=True)
class HttpMessageProvider:
    """A Twilio-compatible Messages API client."""

    base_url: str
    account: str
    auth_token: str
    senders: dict[str, str]  # channel -> our sender number ("whatsapp:" added for WhatsApp)
    timeout: float = 10.0

    def send(self, channel: str, to: str, body: str) -> str:
        """POST the message; raise ProviderError on anything but a 2xx answer."""
        if not self.base_url:
            raise ProviderError("no provider is configured (helpline_provider_base_url)")
        sender = self.senders.get(channel, "")
        if channel == "whatsapp":
            sender, to = f"whatsapp:{sender}", f"whatsapp:{to}"
        try:
            response = httpx.post(
                f"{self.base_url}/Messages.json",
                data={"To": to, "From": sender, "Body": body},
                auth=(self.account, self.auth_token),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"provider unreachable: {type(exc).__name__}") from exc
        if response.status_code // 100 != 2:
            raise ProviderError(f"provider answered {response.status_code}")
        try:
            return str(response.json().get("sid", ""))
        except ValueError:
            return ""
