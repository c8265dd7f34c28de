"""Live helpline channels: SMS / WhatsApp messages and web chats as conversations.

An inbound SMS or WhatsApp message (a provider webhook, helpline/channel_api.py) opens a
conversation in the counsellors' inbox, or continues the caller's conversation that has
not ended, found by the returning-caller key; the phone number itself is never stored
(callerkey.py); only while the conversation is live is the reply address kept, encrypted.
A web chat (helpline/chat_views.py) stores no identifier at all: a random token in the
page's URL, kept here only as its SHA-256.

A counsellor picks a waiting conversation up, replies (through the provider adapter for
SMS and WhatsApp), and ends it by coding it: the conversation then becomes a contact record
(helpline/service.py) linked to the caller's case (cases.py), opened if there is none.
The transcript is encrypted with the helpline cipher and anonymised with the contacts.
Services never commit: the route or job owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.helpline import cases, service
from openhotline.helpline.callerkey import CallerKeys
from openhotline.helpline.case_models import (
    CaseStatus,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    HelplineCase,
)
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.models import HelplineContact
from openhotline.helpline.provider import MessageProvider, ProviderError
from openhotline.helpline.schemas import ContactBase
from openhotline.helpline.service import ContactRejectedError, HelplineConflictError
from openhotline.helpline.taxonomy import MODES, Taxonomy

MESSAGE_MAX = 2000  # characters of one message (an SMS concatenates up to 1,600)
PROVIDER_CHANNELS = ("sms", "whatsapp")
PHONE = "phone"
# Provider call statuses that end a call (Twilio's CallStatus values).
CALL_FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
CALL_STATUSES = CALL_FINAL_STATUSES | {"queued", "ringing", "in-progress"}
TOKEN_BYTES = 24


@dataclass(frozen=True)
class Inbound:
    """What intake did with an inbound provider message."""

    conversation: Conversation
    new_conversation: bool
    duplicate: bool


@dataclass(frozen=True)
class Line:
    """One decrypted line of a transcript."""

    direction: str
    at: datetime
    text: str


def token_hash(token: str) -> str:
    """The stored form of a web chat token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _msg_ctx(conversation: Conversation, message: ConversationMessage) -> str:
    return f"helpline-conversation:{conversation.ref}:message:{message.ref}"


def _reply_ctx(conversation: Conversation) -> str:
    return f"helpline-conversation:{conversation.ref}:reply-to"


def _check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise ContactRejectedError("the message is empty")
    if len(text) > MESSAGE_MAX:
        raise ContactRejectedError(f"the message is longer than {MESSAGE_MAX} characters")
    return text


def _add_message(
    session: Session,
    conversation: Conversation,
    direction: str,
    text: str,
    cipher: FieldCipher,
    dedupe_key: str | None = None,
) -> ConversationMessage:
    message = ConversationMessage(
        conversation=conversation,
        ref=secrets.token_hex(8),
        direction=direction,
        at=db.now(session),
        dedupe_key=dedupe_key,
    )
    message.body_enc = cipher.encrypt(text, _msg_ctx(conversation, message))
    session.add(message)
    return message


def _waiting(
    session: Session, candidates: list[str], channel: str, mode: str, now: datetime
) -> Conversation:
    """A new conversation in the inbox, joined to the caller's case when there is one."""
    case = cases.case_for_caller(session, candidates)
    conversation = Conversation(
        ref=secrets.token_hex(16),
        mode=case.mode if case is not None else mode,
        channel=channel,
        status=ConversationStatus.WAITING,
        started_at=now,
        waiting_since=now,
        case_id=case.id if case is not None else None,
    )
    session.add(conversation)
    return conversation


def receive_provider_message(
    session: Session,
    *,
    channel: str,
    identity: str,
    reply_to: str,
    body: str,
    provider_id: str,
    keys: CallerKeys,
    cipher: FieldCipher,
    mode: str = "child",
) -> Inbound:
    """Take one inbound SMS/WhatsApp message (idempotent per provider message id)."""
    if channel not in PROVIDER_CHANNELS:
        raise ContactRejectedError(f"unknown provider channel {channel!r}")
    dedupe = hashlib.sha256(f"{channel}:{provider_id}".encode()).hexdigest()
    seen = session.execute(
        select(ConversationMessage).where(ConversationMessage.dedupe_key == dedupe)
    ).scalar_one_or_none()
    if seen is not None:
        return Inbound(seen.conversation, new_conversation=False, duplicate=True)
    text = body.strip()[:MESSAGE_MAX] or "(empty message)"
    now = db.now(session)
    candidates = keys.candidates(identity, now.year)
    conversation = (
        session.execute(
            select(Conversation)
            .where(
                Conversation.caller_key.in_(candidates),
                Conversation.channel == channel,
                Conversation.status != ConversationStatus.ENDED,
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    created = conversation is None
    if conversation is None:
        conversation = _waiting(session, candidates, channel, mode, now)
    conversation.caller_key = candidates[0]
    conversation.reply_to_enc = cipher.encrypt(reply_to, _reply_ctx(conversation))
    _add_message(session, conversation, "in", text, cipher, dedupe_key=dedupe)
    session.flush()
    return Inbound(conversation, new_conversation=created, duplicate=False)


def _call_ref(call_id: str) -> str:
    return hashlib.sha256(f"{PHONE}:{call_id}".encode()).hexdigest()


def receive_call(
    session: Session,
    *,
    identity: str,
    call_id: str,
    keys: CallerKeys,
    mode: str = "child",
) -> Inbound:
    """Take an incoming phone call into the inbox (idempotent per provider call id).

    The caller waits in the provider's call queue; the conversation holds only the
    returning-caller key, the times and the call's status: no number, no recording, no
    transcript.
    """
    ref = _call_ref(call_id)
    seen = session.execute(
        select(Conversation).where(Conversation.provider_ref == ref)
    ).scalar_one_or_none()
    if seen is not None:
        return Inbound(seen, new_conversation=False, duplicate=True)
    now = db.now(session)
    candidates = keys.candidates(identity, now.year)
    conversation = _waiting(session, candidates, PHONE, mode, now)
    conversation.caller_key = candidates[0]
    conversation.provider_ref = ref
    conversation.call_status = "queued"
    session.flush()
    return Inbound(conversation, new_conversation=True, duplicate=False)


def call_status(
    session: Session, *, call_id: str, status: str, duration_s: int | None
) -> Conversation:
    """Apply a provider's call status callback; a call that ends unanswered is missed."""
    if status not in CALL_STATUSES:
        raise ContactRejectedError(f"unknown call status {status!r}")
    conversation = session.execute(
        select(Conversation).where(Conversation.provider_ref == _call_ref(call_id))
    ).scalar_one_or_none()
    if conversation is None:
        raise ContactRejectedError("no call with this id")
    if conversation.call_status in CALL_FINAL_STATUSES | {"missed"}:
        return conversation  # a repeated final callback changes nothing
    conversation.call_status = status
    if status not in CALL_FINAL_STATUSES:
        return conversation
    conversation.call_seconds = duration_s
    if conversation.status == ConversationStatus.WAITING:
        # Nobody answered: the call leaves the inbox as missed (there is no number to ring
        # back); it counts in the audit log, and no contact is recorded for it.
        now = db.now(session)
        conversation.status = ConversationStatus.ENDED
        conversation.ended_at = now
        conversation.call_status = "missed"
        waited = now - (conversation.waiting_since or conversation.started_at)
        audit.record(
            session,
            "system:helpline",
            AuditAction.HELPLINE_CALL_MISSED,
            f"helpline_conversation:{conversation.id}",
            {"provider_status": status, "waited_s": int(waited.total_seconds())},
        )
    return conversation


def start_web_chat(
    session: Session, *, mode: str, body: str, cipher: FieldCipher
) -> tuple[Conversation, str]:
    """Open an anonymous web chat with its first message; return it and its token."""
    if mode not in MODES:
        raise ContactRejectedError(f"unknown helpline mode {mode!r}")
    text = _check_body(body)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = db.now(session)
    conversation = Conversation(
        ref=secrets.token_hex(16),
        mode=mode,
        channel="chat",
        status=ConversationStatus.WAITING,
        token_hash=token_hash(token),
        started_at=now,
        waiting_since=now,
    )
    session.add(conversation)
    _add_message(session, conversation, "in", text, cipher)
    session.flush()
    return conversation, token


def web_chat_of_token(session: Session, token: str) -> Conversation | None:
    """The web chat a token opens (None for an unknown or malformed token)."""
    if not token or len(token) > 100:
        return None
    return session.execute(
        select(Conversation).where(
            Conversation.token_hash == token_hash(token), Conversation.channel == "chat"
        )
    ).scalar_one_or_none()


def post_web_message(
    session: Session, conversation: Conversation, body: str, cipher: FieldCipher
) -> ConversationMessage:
    """The person in a web chat writes again."""
    if conversation.status == ConversationStatus.ENDED:
        raise HelplineConflictError("this conversation has ended")
    message = _add_message(session, conversation, "in", _check_body(body), cipher)
    session.flush()
    return message


def transcript(conversation: Conversation, cipher: FieldCipher) -> list[Line]:
    """The decrypted messages, oldest first (empty once anonymised)."""
    return [
        Line(m.direction, m.at, cipher.decrypt(m.body_enc, _msg_ctx(conversation, m)))
        for m in conversation.messages
    ]


def inbox(session: Session) -> list[Conversation]:
    """Conversations nobody has picked up, the longest waiting first."""
    query = (
        select(Conversation)
        .where(Conversation.status == ConversationStatus.WAITING)
        .order_by(Conversation.waiting_since, Conversation.id)
    )
    return list(session.execute(query).scalars().all())


def active_of(session: Session, counsellor: str | None) -> list[Conversation]:
    """Active conversations (a counsellor's own, or all when counsellor is None)."""
    query = select(Conversation).where(Conversation.status == ConversationStatus.ACTIVE)
    if counsellor is not None:
        query = query.where(Conversation.counsellor == counsellor)
    return list(session.execute(query.order_by(Conversation.id)).scalars().all())


def earlier_contacts(session: Session, conversation: Conversation) -> list[HelplineContact]:
    """Contacts of the same caller before this conversation (their case's contacts)."""
    if conversation.case_id is None:
        return []
    case = session.get(HelplineCase, conversation.case_id)
    return cases.contacts_of(case) if case is not None else []


def pick_up(session: Session, conversation: Conversation, *, counsellor: str) -> Conversation:
    """A counsellor takes a waiting conversation (one counsellor at a time)."""
    if conversation.status == ConversationStatus.ENDED:
        raise HelplineConflictError("this conversation has ended")
    if conversation.status == ConversationStatus.ACTIVE:
        if conversation.counsellor == counsellor:
            return conversation
        raise HelplineConflictError("another counsellor has picked this conversation up")
    conversation.status = ConversationStatus.ACTIVE
    conversation.counsellor = counsellor
    conversation.picked_up_at = db.now(session)
    waited = conversation.picked_up_at - (conversation.waiting_since or conversation.started_at)
    audit.record(
        session,
        f"user:{counsellor}",
        AuditAction.HELPLINE_CONVERSATION_PICKED_UP,
        f"helpline_conversation:{conversation.id}",
        {"channel": conversation.channel, "waited_s": int(waited.total_seconds())},
    )
    return conversation


def _own_active(conversation: Conversation, counsellor: str) -> None:
    if conversation.status != ConversationStatus.ACTIVE:
        raise HelplineConflictError("pick the conversation up first")
    if conversation.counsellor != counsellor:
        raise HelplineConflictError("another counsellor has this conversation")


def reply(
    session: Session,
    conversation: Conversation,
    *,
    body: str,
    counsellor: str,
    cipher: FieldCipher,
    provider: MessageProvider,
) -> ConversationMessage:
    """Send a counsellor's reply (SMS/WhatsApp through the provider; web chat: stored)."""
    _own_active(conversation, counsellor)
    if conversation.channel == PHONE:
        raise ContactRejectedError("a phone call has no written replies")
    text = _check_body(body)
    message = _add_message(session, conversation, "out", text, cipher)
    if conversation.channel in PROVIDER_CHANNELS:
        if conversation.reply_to_enc is None:
            message.delivered = "failed"
        else:
            to = cipher.decrypt(conversation.reply_to_enc, _reply_ctx(conversation))
            try:
                provider.send(conversation.channel, to, text)
                message.delivered = "sent"
            except ProviderError:
                message.delivered = "failed"
    session.flush()
    audit.record(
        session,
        f"user:{counsellor}",
        AuditAction.HELPLINE_CONVERSATION_REPLIED,
        f"helpline_conversation:{conversation.id}",
        {"message_id": message.id, "delivered": message.delivered},
    )
    return message


def end(
    session: Session,
    conversation: Conversation,
    data: ContactBase,
    *,
    counsellor: str,
    cipher: FieldCipher,
    taxonomy: Taxonomy,
    open_case: bool = True,
) -> tuple[HelplineContact, HelplineCase | None]:
    """End a conversation: record it as a contact and link it to the caller's case.

    A caller with a key (SMS/WhatsApp) always gets a case: the one found by the key, or a
    new one. A web chat gets a new case only when open_case is set.
    """
    _own_active(conversation, counsellor)
    if data.channel != conversation.channel:
        raise ContactRejectedError(f"channel: this conversation came by {conversation.channel}")
    contact = service.record_contact(
        session,
        data,
        mode=conversation.mode,
        counsellor=counsellor,
        cipher=cipher,
        taxonomy=taxonomy,
        at=conversation.started_at,
    )
    actor = f"user:{counsellor}"
    case: HelplineCase | None = None
    if conversation.case_id is not None:
        case = session.get(HelplineCase, conversation.case_id)
        if case is not None and case.anonymised_at is not None:
            case = None
    if case is None and conversation.caller_key is not None:
        case = cases.case_for_caller(session, [conversation.caller_key])
    if case is None and (conversation.caller_key is not None or open_case):
        case = cases.open_case(
            session,
            mode=conversation.mode,
            actor=actor,
            counsellor=counsellor,
            caller_key=conversation.caller_key,
        )
    if case is not None:
        cases.add_contact(session, case, contact, actor=actor)
        if case.counsellor is None:
            case.counsellor = counsellor
        if case.status == CaseStatus.CLOSED:
            case.status = CaseStatus.OPEN
    now = db.now(session)
    conversation.status = ConversationStatus.ENDED
    conversation.ended_at = now
    conversation.contact_id = contact.id
    conversation.case_id = case.id if case is not None else None
    conversation.reply_to_enc = None  # nothing left to reply to: erase the address
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_CONVERSATION_ENDED,
        f"helpline_conversation:{conversation.id}",
        {
            "contact_id": contact.id,
            "case_id": conversation.case_id,
            "duration_s": (
                conversation.call_seconds
                if conversation.call_seconds is not None
                else int((now - conversation.started_at).total_seconds())
            ),
        },
    )
    return contact, case


def view(session: Session, conversation: Conversation, *, actor: str) -> None:
    """Audit that someone read a transcript."""
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_CONVERSATION_VIEWED,
        f"helpline_conversation:{conversation.id}",
    )


def conversation_of_contact(session: Session, contact_id: int) -> Conversation | None:
    """The conversation a contact was recorded from, if any."""
    return session.execute(
        select(Conversation).where(Conversation.contact_id == contact_id)
    ).scalar_one_or_none()
