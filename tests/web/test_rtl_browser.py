"""Arabic pages lay out right to left in a real browser (Debian's chromium, never a download).

The report form, the children's web chat and Report Remove are opened in Arabic on the real
server; each must compute ``direction: rtl``, put a label's text to the right of its field's
start, the checkbox to the right of its words, and the "leave quickly" button on the left.
The same checks on the English page see the mirror image, so the test cannot pass on a page
that is merely marked dir="rtl". Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openhotline.config import Settings
from tests.helpline.test_browser import browser  # noqa: F401 (fixture)
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.browser

# The x extent of a label's text (a Range, not the block box that spans the whole width).
TEXT_BOX = """sel => {
  const el = document.querySelector(sel);
  const range = document.createRange();
  range.selectNodeContents(el);
  const r = range.getBoundingClientRect();
  return {left: r.left, right: r.right};
}"""
# The words after a checkbox inside its label.
AFTER_BOX = """sel => {
  const input = document.querySelector(sel);
  const range = document.createRange();
  range.setStartAfter(input);
  range.setEndAfter(input.parentNode.lastChild);
  const r = range.getBoundingClientRect();
  return {left: r.left, right: r.right};
}"""
BOX = """sel => {
  const r = document.querySelector(sel).getBoundingClientRect();
  return {left: r.left, right: r.right, width: r.width};
}"""


@pytest.fixture
def server(db_url: str, settings: Settings) -> Iterator[ServerProcess]:
    data_dir: Path = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = ServerProcess(db_url, data_dir, {})
    proc.start(timeout=90)
    yield proc
    proc.stop()


def _direction(page: Any, selector: str = "body") -> str:
    return str(page.eval_on_selector(selector, "el => getComputedStyle(el).direction"))


def _check_mirrored(page: Any, label: str, field: str, rtl: bool) -> None:
    text = page.evaluate(TEXT_BOX, label)
    box = page.evaluate(BOX, field)
    middle = box["left"] + box["width"] / 2
    if rtl:
        # The label's words start at the right edge of the column, over the field's start.
        assert text["left"] > middle, (label, text, box)
        assert abs(text["right"] - box["right"]) < 40, (label, text, box)
    else:
        assert text["right"] < middle, (label, text, box)
        assert abs(text["left"] - box["left"]) < 40, (label, text, box)


@pytest.mark.parametrize("language", ["ar", "en"])
def test_arabic_pages_are_mirrored(
    browser: Any,  # noqa: F811
    server: ServerProcess,
    tmp_path: Path,
    language: str,
) -> None:
    rtl = language == "ar"
    context = browser.new_context(base_url=server.base, viewport={"width": 1000, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"/report?lang={language}")
        assert page.get_attribute("html", "dir") == ("rtl" if rtl else "ltr")
        assert _direction(page) == ("rtl" if rtl else "ltr")
        assert _direction(page, "label[for=description]") == ("rtl" if rtl else "ltr")
        _check_mirrored(page, "label[for=description]", "#description", rtl)
        # The consent checkbox sits before its words: on the right in Arabic.
        checkbox = page.evaluate(BOX, "input[name=contact_consent]")
        words = page.evaluate(AFTER_BOX, "input[name=contact_consent]")
        assert (checkbox["left"] > words["left"]) is rtl, (checkbox, words)
        # The error box's coloured edge is on the start side.
        border = page.eval_on_selector(
            ".notice",
            "el => [getComputedStyle(el).borderRightWidth, getComputedStyle(el).borderLeftWidth]",
        )
        assert (border[0] == "4px") is rtl and (border[1] == "4px") is not rtl, border
        page.screenshot(path=str(tmp_path / f"report-{language}.png"), full_page=True)

        page.goto(f"/helpline/chat/child?lang={language}")
        assert _direction(page) == ("rtl" if rtl else "ltr")
        _check_mirrored(page, "label[for=message]", "#message", rtl)
        leave = page.evaluate(BOX, "#leave-quickly")
        brand = page.evaluate(BOX, "header .brand")
        assert (leave["left"] < brand["left"]) is rtl, (leave, brand)
        page.screenshot(path=str(tmp_path / f"chat-{language}.png"), full_page=True)

        page.goto(f"/report-remove?lang={language}")
        assert _direction(page) == ("rtl" if rtl else "ltr")
        _check_mirrored(page, "label[for=file]", "main h1", rtl)
        # "Leave this site quickly" floats to the end of the line: left in Arabic.
        leave = page.evaluate(BOX, "#leave-quickly")
        heading = page.evaluate(BOX, "main h1")
        assert (leave["left"] < heading["left"] + heading["width"] / 2) is rtl, (leave, heading)
        page.screenshot(path=str(tmp_path / f"report-remove-{language}.png"), full_page=True)
        # Following a link keeps the chosen language (no cookie carries it).
        page.click("nav a[href^='/report-remove/status']")
        assert page.get_attribute("html", "lang") == language
        assert context.cookies() == []
    finally:
        context.close()
    for name in ("report", "chat", "report-remove"):
        assert (tmp_path / f"{name}-{language}.png").stat().st_size > 1000
