"""Bidirectional control characters are shown, never obeyed, wherever text reaches a page."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from openhotline.web.templating import BIDI_CONTROLS, show_bidi, templates
from tests.console_fixtures import Items, Staff, login

RLO = "\u202e"


def test_a_reported_description_shows_the_override_as_a_marker(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff], items: Items
) -> None:
    case_id = items.case("http://example.test/bidi", description=f"holiday {RLO}gpj.exe")
    client = new_client()
    login(client, make_user("ana"))
    page = client.get(f"/console/cases/{case_id}").text
    assert RLO not in page
    assert "holiday [U+202E]gpj.exe" in page


def test_every_template_expression_is_neutralised() -> None:
    out = templates.env.from_string("<p>{{ a }}</p><p>{{ b|upper }}</p>").render(
        a=f"x{RLO}y", b="\u2067z\u2069"
    )
    assert out == "<p>x[U+202E]y</p><p>[U+2067]Z[U+2069]</p>"


@given(st.text())
def test_show_bidi_leaves_no_control_and_marks_each_one(text: str) -> None:
    shown = show_bidi(text)
    assert not BIDI_CONTROLS.search(shown)
    assert shown.count("[U+") - text.count("[U+") == len(BIDI_CONTROLS.findall(text))
    if not BIDI_CONTROLS.search(text):
        assert shown == text
