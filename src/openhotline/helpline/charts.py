"""Server-rendered SVG bar charts (no JavaScript); hidden values are drawn as such."""

from __future__ import annotations

import textwrap
from html import escape

BAR_H = 18
GAP = 6
LABEL_W = 260
BAR_W = 360
LINE_H = 14
# Widest a 12 px label character gets in common sans-serif fonts (wrap before the left edge).
CHAR_W = 7.2
LABEL_CHARS = int((LABEL_W - 16) / CHAR_W)


def label_lines(label: str) -> list[str]:
    """A label wrapped to fit left of the bars (long words are split, never cut off)."""
    return textwrap.wrap(label, LABEL_CHARS, break_long_words=True) or [""]


def bar_chart(title: str, labels: list[str], values: list[int | None]) -> str:
    """Return an accessible horizontal bar chart as SVG markup (values None = suppressed)."""
    top = max((v for v in values if v is not None), default=0) or 1
    wrapped = [label_lines(label) for label in labels]
    rows = [max(BAR_H, len(lines) * LINE_H + 4) for lines in wrapped]
    height = sum(rows) + GAP * (len(rows) + 1)
    width = LABEL_W + BAR_W + 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    y = GAP
    for lines, row_h, value in zip(wrapped, rows, values, strict=True):
        bar_y = y + (row_h - BAR_H) // 2
        text_y = bar_y + BAR_H - 5
        first = y + (row_h - len(lines) * LINE_H) // 2 + LINE_H - 3
        spans = "".join(
            f'<tspan x="{LABEL_W - 8}" y="{first + i * LINE_H}">{escape(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        parts.append(f'<text class="label" text-anchor="end" font-size="12">{spans}</text>')
        y += row_h + GAP
        if value is None:
            parts.append(
                f'<rect class="suppressed" x="{LABEL_W}" y="{bar_y}" width="{BAR_W // 6}" '
                f'height="{BAR_H}" fill="none" stroke="#888" stroke-dasharray="3 2"/>'
                f'<text x="{LABEL_W + BAR_W // 6 + 6}" y="{text_y}" font-size="12" '
                f'fill="#555">suppressed</text>'
            )
            continue
        w = round(BAR_W * value / top)
        parts.append(
            f'<rect class="bar" x="{LABEL_W}" y="{bar_y}" width="{w}" height="{BAR_H}" '
            f'fill="#3465a4"/><text x="{LABEL_W + w + 6}" y="{text_y}" font-size="12">'
            f"{value}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
