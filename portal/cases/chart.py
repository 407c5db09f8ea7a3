"""A server-rendered SVG bar chart of the contributions: no JavaScript, no external files.

Each data point gets a row: its label on one line, a bar below it that starts at the
middle axis and goes right (it raised the model's result) or left (it lowered it), orange
when it pulled towards the decision and blue when against, and the signed number next to
the bar. Every text drawn here is also in the table beside the chart.
Colours are set as SVG presentation attributes (not inline styles, which the CSP
forbids), so the same markup works on the page and in the PDF. Blue/orange stays apart
for the common kinds of colour blindness; the words in the table say the direction too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

TOWARD_COLOUR = "#b35806"  # orange (ColorBrewer PuOr), 4.9:1 against white
AGAINST_COLOUR = "#1f5f99"  # blue, 6.6:1 against white
TEXT_COLOUR = "#1a1a1a"
AXIS_COLOUR = "#454545"

WIDTH = 720
ROW_HEIGHT = 46
LABEL_SIZE = 14
TOP = 8
HALF = WIDTH / 2  # the axis is in the middle; bars go either way from it
NUMBER_ROOM = 160  # room beside the longest bar for its number ("+12,4 procentpoint")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    value_text: str
    toward: bool


def render_chart(bars: Sequence[Bar], *, chart_id: str, described_by: str) -> Markup:
    """The chart as inline SVG with ``role="img"`` and ``aria-labelledby`` the text
    alternative (``described_by`` is the id of an element holding the summary)."""
    largest = max((abs(b.value) for b in bars), default=0.0) or 1.0
    axis_x = WIDTH / 2
    height = TOP * 2 + ROW_HEIGHT * max(len(bars), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="explanation-chart" id="{escape(chart_id)}"'
        f' role="img" aria-labelledby="{escape(described_by)}" focusable="false"'
        f' viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
    ]
    for i, bar in enumerate(bars):
        y = TOP + i * ROW_HEIGHT
        length = abs(bar.value) / largest * (HALF - NUMBER_ROOM)
        bar_y = y + LABEL_SIZE + 8
        colour = TOWARD_COLOUR if bar.toward else AGAINST_COLOUR
        # The side is the sign (right raised the estimate, left lowered it), so the signed
        # number beside a bar always matches its side; the colour says towards/against.
        rightward = bar.value >= 0
        x = axis_x if rightward else axis_x - length
        parts.append(
            f'<text x="4" y="{y + LABEL_SIZE}" font-size="{LABEL_SIZE}" fill="{TEXT_COLOUR}"'
            f' font-family="IBM Plex Sans, DejaVu Sans, sans-serif">{escape(bar.label)}</text>'
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{bar_y}" width="{max(length, 1.5):.1f}" height="16"'
            f' fill="{colour}"/>'
        )
        if rightward:
            number_x, anchor = axis_x + length + 6, "start"
        else:
            number_x, anchor = axis_x - length - 6, "end"
        parts.append(
            f'<text x="{number_x:.1f}" y="{bar_y + 13}" font-size="{LABEL_SIZE - 1}"'
            f' text-anchor="{anchor}" fill="{TEXT_COLOUR}"'
            f' font-family="IBM Plex Sans, DejaVu Sans, sans-serif">{escape(bar.value_text)}</text>'
        )
    parts.append(
        f'<line x1="{axis_x}" y1="{TOP}" x2="{axis_x}" y2="{height - TOP}"'
        f' stroke="{AXIS_COLOUR}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
