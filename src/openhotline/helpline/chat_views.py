"""The anonymous web chat pages: one for children, one for the prevention helpline.

They store no identifier at all: no IP address, no browser details, no cookie. A random
token in the page's URL (and the form's action) is the conversation's only handle; the
database keeps its SHA-256. The pages work without JavaScript (post a form; the page
reloads itself every few seconds to show replies) and better with the small poll script
(/static/helpline-chat.js). Every string is marked for translation; a "leave quickly"
link is on every page. Responses are never cached.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from openhotline.helpline import channels
from openhotline.helpline.case_models import Conversation, ConversationStatus
from openhotline.helpline.service import ContactRejectedError, HelplineConflictError
from openhotline.helpline.taxonomy import MODES
from openhotline.i18n import gettext as _
from openhotline.i18n import with_language
from openhotline.web.deps import DbDep, services_of
from openhotline.web.ratelimit import public_rate_limit
from openhotline.web.templating import templates

router = APIRouter(prefix="/helpline/chat", include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REFRESH_SECONDS = 10
Message = Annotated[str, Form(max_length=channels.MESSAGE_MAX * 2)]


def _enabled(request: Request) -> bool:
    return "chat" in services_of(request).settings.helpline_channels


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings = services_of(request).settings
    context.setdefault("errors", [])
    return templates.TemplateResponse(
        request,
        name,
        {"leave_url": settings.helpline_leave_url, **context},
        status_code=status,
        headers=NO_STORE,
    )


def _closed(request: Request) -> HTMLResponse:
    return _page(
        request,
        "helpline/chat_message.html",
        404,
        title=_("Chat not available"),
        text=_("This chat is not available. Please try again later or call us."),
    )


@router.get("/{mode}", response_class=HTMLResponse)
def chat_start_page(request: Request, mode: str) -> Response:
    """The start page of a web chat (child or prevention helpline)."""
    if mode not in MODES or not _enabled(request):
        return _closed(request)
    return _page(request, "helpline/chat_start.html", mode=mode, text="")


@router.post("/{mode}", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)])
def chat_start(request: Request, db: DbDep, mode: str, message: Message = "") -> Response:
    """Open a chat with its first message, then show the chat page (its URL holds the token)."""
    if mode not in MODES or not _enabled(request):
        return _closed(request)
    cipher = services_of(request).helpline_cipher
    try:
        with db.begin() as session:
            _conv, token = channels.start_web_chat(session, mode=mode, body=message, cipher=cipher)
    except ContactRejectedError:
        errors = [_("Please write a message (up to 2000 characters).")]
        return _page(request, "helpline/chat_start.html", 400, mode=mode, errors=errors, text="")
    return RedirectResponse(
        with_language(f"/helpline/chat/c/{token}"), status_code=303, headers=NO_STORE
    )


def _lines(conv: Conversation, cipher: Any) -> list[dict[str, str]]:
    return [
        {
            "who": "you" if line.direction == "in" else "counsellor",
            "at": line.at.strftime("%H:%M"),
            "text": line.text,
        }
        for line in channels.transcript(conv, cipher)
    ]


def _chat_page(
    request: Request, conv: Conversation, token: str, status: int = 200, **extra: Any
) -> HTMLResponse:
    cipher = services_of(request).helpline_cipher
    return _page(
        request,
        "helpline/chat.html",
        status,
        mode=conv.mode,
        token=token,
        lines=_lines(conv, cipher),
        ended=conv.status == ConversationStatus.ENDED,
        waiting=conv.status == ConversationStatus.WAITING,
        refresh=REFRESH_SECONDS,
        **extra,
    )


@router.get("/c/{token}", response_class=HTMLResponse)
def chat_page(request: Request, db: DbDep, token: str) -> Response:
    """The conversation: messages so far and a form to write (reloads itself without JS)."""
    with db.begin() as session:
        conv = channels.web_chat_of_token(session, token)
        if conv is None or conv.anonymised_at is not None:
            return _closed(request)
        return _chat_page(request, conv, token)


@router.post("/c/{token}", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)])
def chat_send(request: Request, db: DbDep, token: str, message: Message = "") -> Response:
    """Write another message (redirect after post: a reload does not send it twice)."""
    cipher = services_of(request).helpline_cipher
    with db.begin() as session:
        conv = channels.web_chat_of_token(session, token)
        if conv is None or conv.anonymised_at is not None:
            return _closed(request)
        try:
            channels.post_web_message(session, conv, message, cipher)
        except ContactRejectedError:
            errors = [_("Please write a message (up to 2000 characters).")]
            return _chat_page(request, conv, token, 400, errors=errors)
        except HelplineConflictError:
            errors = [_("This conversation has ended. You can start a new one.")]
            return _chat_page(request, conv, token, 409, errors=errors)
    return RedirectResponse(
        with_language(f"/helpline/chat/c/{token}"), status_code=303, headers=NO_STORE
    )


@router.get("/c/{token}/messages")
def chat_messages(request: Request, db: DbDep, token: str) -> Response:
    """The messages as JSON for the poll script."""
    cipher = services_of(request).helpline_cipher
    with db.begin() as session:
        conv = channels.web_chat_of_token(session, token)
        if conv is None or conv.anonymised_at is not None:
            return JSONResponse({"error": "not found"}, status_code=404, headers=NO_STORE)
        body = {
            "status": str(conv.status),
            "lines": _lines(conv, cipher),
            "labels": {"you": _("You"), "counsellor": _("Counsellor")},
        }
        return JSONResponse(body, headers=NO_STORE)
