"""Provider webhooks of the helpline: inbound SMS, WhatsApp and phone calls (Twilio's shape).

The provider POSTs application/x-www-form-urlencoded fields (From, To, Body, MessageSid,
...) signed with X-Twilio-Signature (helpline/signature.py). A bad or missing signature is
403; a replayed MessageSid is answered 200 and changes nothing; missing fields, a wrong
content type or an oversized body get a clear 4xx. The answer is an empty TwiML document:
counsellors reply later through the provider's API (helpline/provider.py).
The sender's number is turned into a returning-caller key at once and never stored or
logged (the request logger records method, route and status only).

A phone call (`/voice`) is answered with TwiML that greets the caller and puts the call in
the provider's queue, where a counsellor answers it from the provider's softphone; the
inbox shows the waiting call. The call's status callback (`/voice/status`) records its end
and length, and a call that ends before anyone answers is recorded as missed. Calls are
never recorded and have no transcript.
"""

from __future__ import annotations

from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openhotline.helpline import channels
from openhotline.helpline import signature as sig
from openhotline.helpline.callerkey import IdentityError, normalise_identity
from openhotline.helpline.service import ContactRejectedError
from openhotline.web.deps import services_of
from openhotline.web.errors import ApiError

router = APIRouter(prefix="/helpline/webhooks", tags=["helpline"], include_in_schema=False)

WEBHOOK_MAX_BYTES = 32 * 1024  # a provider's message webhook is a few hundred bytes
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _signed_url(request: Request, base: str) -> str:
    if not base:
        return str(request.url)
    query = request.url.query
    return base + request.url.path + (f"?{query}" if query else "")


async def _signed_fields(request: Request, channel: str) -> dict[str, str]:
    """The webhook's form fields, after the channel, size, encoding and signature checks."""
    services = services_of(request)
    settings = services.settings
    if channel not in settings.helpline_channels:
        raise ApiError(404, f"the {channel} channel is not enabled")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise ApiError(415, "send the body as application/x-www-form-urlencoded")
    raw = await request.body()
    if len(raw) > WEBHOOK_MAX_BYTES:
        raise ApiError(413, f"body larger than {WEBHOOK_MAX_BYTES} bytes")
    try:
        params = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "the body is not a valid form encoding") from exc
    url = _signed_url(request, settings.helpline_webhook_base_url)
    given = request.headers.get("x-twilio-signature", "")
    if not sig.verify(settings.helpline_provider_auth_token, url, params, given):
        raise ApiError(403, "missing or invalid X-Twilio-Signature")
    return dict(params)


def _require(fields: dict[str, str], names: tuple[str, ...]) -> None:
    missing = [n for n in names if not fields.get(n)]
    if missing:
        raise ApiError(400, f"missing fields: {', '.join(missing)}")


def _identity(request: Request, channel: str, sender: str) -> str:
    code = services_of(request).settings.helpline_default_country_code
    try:
        return normalise_identity(channel, sender, code)
    except IdentityError as exc:
        raise ApiError(400, "From is not a phone number") from exc


async def _intake(request: Request, channel: str) -> Response:
    services = services_of(request)
    fields = await _signed_fields(request, channel)
    message_id = fields.get("MessageSid") or fields.get("SmsMessageSid") or ""
    missing = [n for n in ("From", "To", "Body") if n not in fields]
    if not message_id:
        missing.append("MessageSid")
    if missing:
        raise ApiError(400, f"missing fields: {', '.join(missing)}")
    if len(message_id) > 64:
        raise ApiError(400, "MessageSid is too long")
    identity = _identity(request, channel, fields["From"])
    reply_to = identity.removeprefix("tel:")
    with services.sessionmaker.begin() as session:
        channels.receive_provider_message(
            session,
            channel=channel,
            identity=identity,
            reply_to=reply_to,
            body=fields["Body"],
            provider_id=message_id,
            keys=services.helpline_caller_keys,
            cipher=services.helpline_cipher,
        )
    return Response(EMPTY_TWIML, media_type="text/xml")


def _call_id(fields: dict[str, str]) -> str:
    _require(fields, ("CallSid",))
    if len(fields["CallSid"]) > 64:
        raise ApiError(400, "CallSid is too long")
    return fields["CallSid"]


@router.post("/voice")
async def voice_webhook(request: Request) -> Response:
    """An incoming phone call: greet the caller and queue the call for a counsellor."""
    services = services_of(request)
    settings = services.settings
    fields = await _signed_fields(request, "phone")
    call_id = _call_id(fields)
    _require(fields, ("From",))
    identity = _identity(request, "phone", fields["From"])
    with services.sessionmaker.begin() as session:
        channels.receive_call(
            session, identity=identity, call_id=call_id, keys=services.helpline_caller_keys
        )
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Say>{escape(settings.helpline_voice_greeting)}</Say>"
        f"<Enqueue>{escape(settings.helpline_voice_queue)}</Enqueue></Response>"
    )
    return Response(twiml, media_type="text/xml")


@router.post("/voice/status")
async def voice_status_webhook(request: Request) -> Response:
    """A call's status callback: its end, its length, or that nobody answered."""
    services = services_of(request)
    fields = await _signed_fields(request, "phone")
    call_id = _call_id(fields)
    _require(fields, ("CallStatus",))
    duration: int | None = None
    raw_duration = fields.get("CallDuration", "")
    if raw_duration:
        if not raw_duration.isdigit() or len(raw_duration) > 7:
            raise ApiError(400, "CallDuration must be a whole number of seconds")
        duration = int(raw_duration)
    with services.sessionmaker.begin() as session:
        try:
            channels.call_status(
                session, call_id=call_id, status=fields["CallStatus"], duration_s=duration
            )
        except ContactRejectedError as exc:
            raise ApiError(400, str(exc)) from exc
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/sms")
async def sms_webhook(request: Request) -> Response:
    """An inbound SMS (Twilio's webhook form)."""
    return await _intake(request, "sms")


@router.post("/whatsapp")
async def whatsapp_webhook(request: Request) -> Response:
    """An inbound WhatsApp message (Twilio's webhook form; From is "whatsapp:+...")."""
    return await _intake(request, "whatsapp")
