"""Jinja2 templates with autoescaping, shared by every HTML route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from openhotline import i18n

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Bidirectional controls and invisible marks: a reported "gpj.exe" wrapped in U+202E shows
# as "exe.jpg". Shown as visible escapes wherever text reaches a page.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def show_bidi(text: str) -> str:
    """Replace each bidirectional control character by a visible [U+XXXX] marker."""
    return BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def _finalize(value: Any) -> Any:
    # Every {{ expression }} passes here before autoescaping; markup built by the templates
    # themselves (Markup) is ours and left alone.
    if isinstance(value, str) and not isinstance(value, Markup):
        return show_bidi(value)
    return value


templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.finalize = _finalize
# gettext over every template: {% trans %}...{% endtrans %} and {{ _("...") }} follow the
# request's language (openhotline.i18n); newstyle so %(name)s placeholders are escaped.
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
)
templates.env.globals["current_language"] = i18n.current_language
templates.env.globals["text_direction"] = i18n.text_direction
templates.env.globals["languages"] = i18n.LANGUAGES
templates.env.globals["language_names"] = i18n.LANGUAGE_NAMES
# Links and forms of the public pages carry a chosen ?lang= on (no cookie remembers it).
templates.env.globals["lang_url"] = i18n.with_language
templates.env.globals["chosen_language"] = i18n.chosen_language
