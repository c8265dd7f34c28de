"""Languages: the request's locale, gettext over the .po catalogs, and text direction.

Catalogs live in ``openhotline/locale/<lang>/LC_MESSAGES/messages.po`` and are read with
Babel at first use (no compile step, so a fresh clone and ``make run`` need nothing more).
The active language is a context variable set per request by ``LocaleMiddleware`` and per
job or e-mail by ``use_language``; code that formats user-facing text calls ``gettext``.
"""

from __future__ import annotations

import contextvars
import fnmatch
import gettext as stdlib_gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
# The public pages are offered in these; the console is English-complete and translatable.
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "nl", "ar")
# The console and the API speak English only until their catalogs are complete: a French
# Accept-Language would otherwise half-translate a page staff rely on.
CONSOLE_LANGUAGES: tuple[str, ...] = ("en",)
CONSOLE_PREFIXES = ("/console", "/api/")
# Each language's own name, as the switcher shows it to someone who reads only that language.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
    "nl": "Nederlands",
    "ar": "العربية",
}
# The sources of the public pages (relative to the package): every msgid found in one of
# them must be translated into every language (tests and scripts/i18n_missing.py check it).
PUBLIC_SOURCES: tuple[str, ...] = (
    "templates/base.html",
    "templates/_languages.html",
    "templates/home.html",
    "templates/error.html",
    "templates/report/*.html",
    "templates/appeal/*.html",
    "templates/helpline/chat*.html",
    "templates/reportremove/start.html",
    "templates/reportremove/receipt.html",
    "templates/reportremove/status.html",
    "templates/reportremove/_*.html",
    "templates/transparency/*.html",
    "reporting/views.py",
    "reporting/schemas.py",
    "blocklist/views.py",
    "blocklist/service.py",
    "helpline/chat_views.py",
    "reportremove/views.py",
    "web/errors.py",
    "web/problems.py",
)
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})
DEFAULT_LANGUAGE = "en"

_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "openhotline_language", default=DEFAULT_LANGUAGE
)
# The language a visitor picked with ?lang= (None when negotiated): links and forms carry it
# on, so the choice is remembered without a cookie (the public pages promise none).
_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "openhotline_chosen_language", default=None
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


def offered_languages(path: str) -> tuple[str, ...]:
    """The languages a page at ``path`` is offered in (the console: English only)."""
    return CONSOLE_LANGUAGES if path.startswith(CONSOLE_PREFIXES) else LANGUAGES


def chosen_language() -> str | None:
    """The language picked explicitly with ?lang= for this request, if any."""
    return _chosen.get()


def set_chosen(language: str | None) -> contextvars.Token[str | None]:
    """Record the explicitly chosen language; return the reset token."""
    return _chosen.set(language)


def reset_chosen(token: contextvars.Token[str | None]) -> None:
    """Restore the chosen language that was current before ``set_chosen``."""
    _chosen.reset(token)


def with_language(url: str, language: str | None = None) -> str:
    """``url`` with ``lang=`` added when a language was chosen (or ``language`` is given)."""
    language = language or chosen_language()
    if not language:
        return url
    path, hash_mark, fragment = url.partition("#")
    joiner = "&" if "?" in path else "?"
    return f"{path}{joiner}lang={language}{hash_mark}{fragment}"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark ``message`` for extraction without translating it now (tables built at import)."""
    return message


def normalise(
    language: str, default: str = DEFAULT_LANGUAGE, offered: tuple[str, ...] = LANGUAGES
) -> str:
    """Map "fr-BE", "FR" or "fr_CA" to an offered language code, else ``default``."""
    base = language.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in offered else default


def negotiate(
    accept_language: str | None,
    default: str = DEFAULT_LANGUAGE,
    offered: tuple[str, ...] = LANGUAGES,
) -> str:
    """Pick the best offered language from an Accept-Language header (RFC 9110 weights)."""
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
        code = normalise(tag, default="", offered=offered)
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


def _is_public(location: str) -> bool:
    return any(fnmatch.fnmatch(location, pattern) for pattern in PUBLIC_SOURCES)


def public_msgids(template: Path | None = None) -> list[str]:
    """The msgids of the public pages, from the extracted template (messages.pot)."""
    with (template or LOCALE_DIR / f"{DOMAIN}.pot").open("rb") as handle:
        catalog = read_po(handle)
    out = []
    for message in catalog:
        if not message.id:
            continue
        if any(_is_public(Path(filename).as_posix()) for filename, _line in message.locations):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def missing_translations(
    language: str, msgids: list[str] | None = None, locale_dir: Path | None = None
) -> list[str]:
    """Public msgids ``language``'s catalog lacks, leaves empty or marks fuzzy (all forms)."""
    wanted = public_msgids() if msgids is None else msgids
    path = (locale_dir or LOCALE_DIR) / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return list(wanted)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    by_id: dict[str, Message] = {}
    for message in catalog:
        key = message.id if isinstance(message.id, str) else message.id[0]
        by_id[key] = message
    missing = []
    for msgid in wanted:
        found = by_id.get(msgid)
        if found is None or found.fuzzy:
            missing.append(msgid)
            continue
        value = found.string
        strings = [value] if isinstance(value, str) else list(value or ())
        if not strings or not all(strings):
            missing.append(msgid)
    return missing
