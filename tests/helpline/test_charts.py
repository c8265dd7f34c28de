"""Trend chart labels are wrapped to fit, never cut off at the chart's left edge."""

from __future__ import annotations

from typing import Any

import pytest

from openhotline.helpline.charts import bar_chart, label_lines
from tests.console.browser import browser  # noqa: F401 - fixture

LONG = "Online grooming by an adult known to the child through a gaming platform chat"


def test_long_labels_wrap_and_keep_every_word() -> None:
    lines = label_lines(LONG)
    assert len(lines) > 1 and " ".join(lines) == LONG
    svg = bar_chart("Contacts", [LONG, "short"], [12, None])
    for word in LONG.split():
        assert word in svg


@pytest.mark.browser
def test_labels_are_inside_the_chart_in_a_browser(browser: Any) -> None:  # noqa: F811
    page = browser.new_page()
    labels = [LONG, "x" * 80, "Self-harm", "A category with a rather long name (region)"]
    page.set_content(f"<html><body>{bar_chart('Trends', labels, [5, 9, None, 3])}</body></html>")
    boxes = page.eval_on_selector_all(
        "svg text.label", "els => els.map(e => { const b = e.getBBox(); return [b.x, b.width]; })"
    )
    assert len(boxes) == len(labels)
    for x, width in boxes:
        assert x >= 0 and width > 0, boxes
    page.close()
