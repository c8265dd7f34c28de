"""One error family for every domain: services raise a kind, never an HTTP status.

The web layer maps each kind to a response once for JSON (`web/errors.py`) and once for
console HTML; the CLI maps each kind to a one-line message and a non-zero exit.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """What went wrong, from the caller's point of view."""

    NOT_FOUND = "not found"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"
    UNAVAILABLE = "unavailable"


class DomainError(Exception):
    """Base of every error a service raises on purpose; carries a message for a person."""

    kind: ErrorKind = ErrorKind.REJECTED

    def __init__(self, message: str, detail: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = list(detail or [])


class NotFoundError(DomainError):
    """The thing asked for does not exist (or the caller may not know it exists)."""

    kind = ErrorKind.NOT_FOUND


class ConflictError(DomainError):
    """The request clashes with the current state (already decided, duplicate, wrong state)."""

    kind = ErrorKind.CONFLICT


class RejectedError(DomainError):
    """The input is invalid; nothing was stored."""

    kind = ErrorKind.REJECTED


class InvalidError(RejectedError):
    """Well-formed input whose content fails a rule (a field, a URL, a limit); nothing stored.

    A RejectedError, so callers that catch rejections catch it too; it keeps the 422 that
    the API has always answered for content it understood but cannot accept.
    """

    kind = ErrorKind.INVALID


class ForbiddenError(DomainError):
    """The caller is known but not allowed to do this."""

    kind = ErrorKind.FORBIDDEN


class UnauthenticatedError(DomainError):
    """The caller has not proven who they are."""

    kind = ErrorKind.UNAUTHENTICATED


class UnavailableError(DomainError):
    """A dependency (database, queue, store) cannot serve the request right now."""

    kind = ErrorKind.UNAVAILABLE


# The HTTP status each kind maps to; the only table of its kind (JSON and HTML share it).
HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.REJECTED: 400,
    ErrorKind.INVALID: 422,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.UNAVAILABLE: 503,
}
