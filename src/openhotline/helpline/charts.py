"""Server-rendered SVG bar charts (no JavaScript); hidden values are drawn as such."""

from __future__ import annotations

from html import escape

BAR_H = 18
GAP = 6
LABEL_W = 260
BAR_W = 360


def bar_chart(title: str, labels: list[str], values: list[int | None]) -> str:
    """Return an accessible horizontal bar chart as SVG markup (values None = suppressed)."""
    top = max((v for v in values if v is not None), default=0) or 1
    height = len(labels) * (BAR_H + GAP) + GAP
    width = LABEL_W + BAR_W + 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = GAP + n * (BAR_H + GAP)
        text_y = y + BAR_H - 5
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{text_y}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
        )
        if value is None:
            parts.append(
                f'<rect class="suppressed" x="{LABEL_W}" y="{y}" width="{BAR_W // 6}" '
                f'height="{BAR_H}" fill="none" stroke="#888" stroke-dasharray="3 2"/>'
                f'<text x="{LABEL_W + BAR_W // 6 + 6}" y="{text_y}" font-size="12" '
                f'fill="#555">suppressed</text>'
            )
            continue
        w = round(BAR_W * value / top)
        parts.append(
            f'<rect class="bar" x="{LABEL_W}" y="{y}" width="{w}" height="{BAR_H}" '
            f'fill="#3465a4"/><text x="{LABEL_W + w + 6}" y="{text_y}" font-size="12">'
            f"{value}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
