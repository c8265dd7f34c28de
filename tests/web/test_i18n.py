"""The language of a request: negotiation, normalisation, the template callables."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openhotline import i18n


def test_negotiate_takes_the_highest_weight_we_support() -> None:
    assert i18n.negotiate("de-CH;q=0.4, ar;q=0.9, ja") == "ar"
    assert i18n.negotiate("ja, zh;q=0.8") == "en"
    assert i18n.negotiate("FR-be") == "fr"
    assert i18n.negotiate("nl;q=0, es;q=0.1") == "es"
    assert i18n.negotiate(None, default="de") == "de"


def test_equal_weights_keep_the_browser_order() -> None:
    assert i18n.negotiate("es, fr") == "es"


@given(st.text(max_size=200))
def test_negotiate_never_fails_on_any_header(header: str) -> None:
    assert i18n.negotiate(header) in i18n.LANGUAGES


def test_direction_and_context() -> None:
    assert i18n.text_direction("ar") == "rtl"
    assert i18n.text_direction("fr") == "ltr"
    with i18n.use_language("ar-EG"):
        assert i18n.current_language() == "ar"
        assert i18n.text_direction() == "rtl"
    assert i18n.current_language() == "en"


def test_unknown_message_falls_back_to_itself() -> None:
    with i18n.use_language("fr"):
        assert i18n.gettext("a message no catalog has") == "a message no catalog has"
        assert i18n.ngettext("one item", "%(n)s items", 3) == "%(n)s items"
