"""Languages: the request's locale, gettext over the .po catalogs, and text direction.

Catalogs live in ``openhotline/locale/<lang>/LC_MESSAGES/messages.po`` and are read with
Babel at first use (no compile step, so a fresh clone and ``make run`` need nothing more).
The active language is a context variable set per request by ``LocaleMiddleware`` and per
job or e-mail by ``use_language``; code that formats user-facing text calls ``gettext``.
"""

from __future__ import annotations

import contextvars
import gettext as stdlib_gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
# The public pages are offered in these; the console is English-complete and translatable.
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "nl", "ar")
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})
DEFAULT_LANGUAGE = "en"

_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "openhotline_language", default=DEFAULT_LANGUAGE
)


def current_language() -> str:
    """Return the language of the request or job being handled."""
    return _current.get()


def text_direction(language: str | None = None) -> str:
    """Return "rtl" for right-to-left languages, otherwise "ltr"."""
    return "rtl" if (language or current_language()) in RTL_LANGUAGES else "ltr"


def set_language(language: str) -> contextvars.Token[str]:
    """Make ``language`` current (normalised to a supported one); return the reset token."""
    return _current.set(normalise(language))


def reset_language(token: contextvars.Token[str]) -> None:
    """Restore the language that was current before ``set_language``."""
    _current.reset(token)


@contextmanager
def use_language(language: str) -> Iterator[None]:
    """Render text in ``language`` inside the block (jobs, e-mails, tests)."""
    token = set_language(language)
    try:
        yield
    finally:
        _current.reset(token)


def normalise(language: str, default: str = DEFAULT_LANGUAGE) -> str:
    """Map "fr-BE", "FR" or "fr_CA" to a supported language code, else ``default``."""
    base = language.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else default


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Pick the best supported language from an Accept-Language header (RFC 9110 weights)."""
    if not accept_language:
        return default
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight <= 0 or not tag or tag == "*":
            continue
        code = normalise(tag, default="")
        if code:
            choices.append((-weight, position, code))
    return min(choices)[2] if choices else default


@lru_cache(maxsize=len(LANGUAGES) + 4)
def translations(language: str) -> stdlib_gettext.NullTranslations:
    """Return the translations of ``language``, compiled in memory from its .po catalog."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not path.is_file():
        return stdlib_gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    # Fuzzy entries are drafts a translator has not confirmed: never shown.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return stdlib_gettext.GNUTranslations(compiled)


def gettext(message: str) -> str:
    """Translate ``message`` into the current language (the message itself when missing)."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a plural form chosen by ``n`` for the current language."""
    return translations(current_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` in a disambiguating ``context``."""
    return translations(current_language()).pgettext(context, message)


_ = gettext
