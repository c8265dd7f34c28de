"""Refusal reasons of the public forms (URL checks, intake limits) in the visitor's language.

The URL checks (openhotline.urls) and the intake limits word their refusals in English for
the API; the public pages show the same reasons translated. Reasons no table knows stay in
English on English pages and become a neutral sentence elsewhere (never half-translated).
"""

from __future__ import annotations

import re

from openhotline.i18n import N_, current_language
from openhotline.i18n import gettext as _

# Why a URL was refused (openhotline.urls and the intake limits), in the reporter's words.
URL_REASONS = {
    "invalid IPv4 address": N_("invalid IPv4 address"),
    "invalid IPv6 address": N_("invalid IPv6 address"),
    "URL has no host name": N_("URL has no host name"),
    "invalid international host name": N_("invalid international host name"),
    "invalid host name": N_("invalid host name"),
    "invalid host name (label over 63 characters)": N_(
        "invalid host name (label over 63 characters)"
    ),
    "URL must be text": N_("URL must be text"),
    "empty URL": N_("empty URL"),
    "URL must start with http:// or https:// (for example https://example.com/page)": N_(
        "URL must start with http:// or https:// (for example https://example.com/page)"
    ),
    "URL has no host name (write it as http://host/path)": N_(
        "URL has no host name (write it as http://host/path)"
    ),
    "URL too long": N_("URL too long"),
    "invalid characters after IPv6 address": N_("invalid characters after IPv6 address"),
    "invalid port": N_("invalid port"),
    "port out of range": N_("port out of range"),
    "invalid URL": N_("invalid URL"),
    "invalid URLs": N_("invalid URLs"),
    "at least one URL is required": N_("at least one URL is required"),
    "contact_email is not a valid email address": N_("it is not a valid email address"),
}
_SCHEME = re.compile(r"^only http and https URLs can be reported, not (\S+)$")
_LONGER = re.compile(r"^(?:URL )?longer than (\d+) bytes$")
_UNPARSEABLE = re.compile(r"^unparseable URL: ")
_TOO_MANY = re.compile(r"^too many URLs: (\d+) \(at most (\d+)\)$")


def url_reason(reason: str) -> str:
    """A refusal reason from URL checks or intake limits, in the request's language."""
    reason = reason.strip()
    if reason in URL_REASONS:
        return _(URL_REASONS[reason])
    if found := _SCHEME.match(reason):
        return _("only http and https URLs can be reported, not %(scheme)s") % {
            "scheme": found.group(1)
        }
    if found := _LONGER.match(reason):
        return _("longer than %(n)s bytes") % {"n": found.group(1)}
    if found := _TOO_MANY.match(reason):
        return _("too many URLs: %(n)s (at most %(max)s)") % {
            "n": found.group(1),
            "max": found.group(2),
        }
    if _UNPARSEABLE.match(reason) and current_language() != "en":
        return _("this is not a web address we can read")
    if current_language() != "en":
        # A message no table knows (a library's own wording) is not shown half-translated.
        return _("this value is not accepted")
    return reason
