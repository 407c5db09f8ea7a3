"""A server-rendered SVG bar chart of the contributions: no JavaScript, no external files.

The chart reads one way only: a bar to the right of the middle axis pulled towards what
the page talks about (the decision, or the model's advice when the caseworker decided
otherwise), a bar to the left pulled against it. The colour says the same as the side
(orange right, blue left), and the number beside a bar is its size without a sign, so
side, colour and number never tell different stories.

Each data point gets a row: its label (wrapped over as many lines as it needs), then the
bar with its number. Two layouts are drawn: a wide one and a narrow one for phones, where
the labels keep a readable size (CSS shows one of them; the hidden one is out of the
accessibility tree). Every text drawn here is also in the table beside the chart.
Colours are SVG presentation attributes (not inline styles, which the CSP forbids), so
the same markup works on the page and in the PDF. Blue/orange stays apart for the common
kinds of colour blindness; the words in the table say the direction too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

TOWARD_COLOUR = "#b35806"  # orange (ColorBrewer PuOr), 4.9:1 against white
AGAINST_COLOUR = "#1f5f99"  # blue, 6.6:1 against white
TEXT_COLOUR = "#1a1a1a"
AXIS_COLOUR = "#454545"
FONT = "IBM Plex Sans, DejaVu Sans, sans-serif"
# Average advance of a character in IBM Plex Sans, as a share of the font size (a little
# generous, so a wrapped line never runs past the edge).
CHAR_WIDTH = 0.56


@dataclass(frozen=True)
class Layout:
    """Sizes in SVG units; the wide chart is shown at up to 1:1, the narrow one at about
    1:1 on a 390 px phone."""

    name: str
    width: int
    label_size: int
    number_size: int
    number_room: int  # room beside the longest bar for its number
    number_above: bool  # narrow: the number on its own line above the bar


WIDE = Layout("wide", 720, 15, 14, 170, number_above=False)
NARROW = Layout("narrow", 340, 15, 14, 0, number_above=True)
BAR_HEIGHT = 16
GAP = 14  # between rows


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # the size; only its magnitude is drawn
    value_text: str  # the size as text, without a sign
    toward: bool  # True: drawn to the right (towards); False: to the left (against)


def wrap(text: str, size: int, width: float) -> list[str]:
    """Break ``text`` into lines that fit ``width`` at font ``size`` (by a character width
    estimate; words are never split)."""
    most = max(int(width / (size * CHAR_WIDTH)), 8)
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if len(candidate) <= most or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines or [""]


def _text(x: float, y: float, size: int, body: str, anchor: str = "start", weight: str = "") -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"'
        f' fill="{TEXT_COLOUR}" font-family="{FONT}"{bold}>{escape(body)}</text>'
    )


def _render(bars: Sequence[Bar], layout: Layout, chart_id: str, described_by: str) -> str:
    largest = max((abs(b.value) for b in bars), default=0.0) or 1.0
    axis_x = layout.width / 2
    reach = layout.width / 2 - layout.number_room - 4
    line = round(layout.label_size * 1.3)
    parts: list[str] = []
    y = 8.0
    for bar in bars:
        for text_line in wrap(bar.label, layout.label_size, layout.width - 8):
            y += line
            parts.append(_text(4, y, layout.label_size, text_line, weight="600"))
        length = max(abs(bar.value) / largest * reach, 1.5)
        if layout.number_above:
            y += round(layout.number_size * 1.3)
            if bar.toward:
                parts.append(_text(axis_x + 4, y, layout.number_size, bar.value_text))
            else:
                parts.append(_text(axis_x - 4, y, layout.number_size, bar.value_text, "end"))
        bar_y = y + 6
        colour = TOWARD_COLOUR if bar.toward else AGAINST_COLOUR
        # The axis is drawn beside each bar only, so it never runs through a label.
        parts.append(
            f'<line x1="{axis_x}" y1="{bar_y - 4:.1f}" x2="{axis_x}"'
            f' y2="{bar_y + BAR_HEIGHT + 4:.1f}" stroke="{AXIS_COLOUR}" stroke-width="1"/>'
        )
        x = axis_x if bar.toward else axis_x - length
        parts.append(
            f'<rect x="{x:.1f}" y="{bar_y:.1f}" width="{length:.1f}" height="{BAR_HEIGHT}"'
            f' fill="{colour}"/>'
        )
        if not layout.number_above:
            text_y = bar_y + BAR_HEIGHT - 3
            if bar.toward:
                parts.append(_text(axis_x + length + 6, text_y, layout.number_size, bar.value_text))
            else:
                parts.append(
                    _text(axis_x - length - 6, text_y, layout.number_size, bar.value_text, "end")
                )
        y = bar_y + BAR_HEIGHT + GAP
    height = round(y + 4)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="explanation-chart'
        f' explanation-chart--{layout.name}" id="{escape(chart_id)}-{layout.name}"'
        f' role="img" aria-labelledby="{escape(described_by)}" focusable="false"'
        f' viewBox="0 0 {layout.width} {height}" width="{layout.width}" height="{height}"'
        f' preserveAspectRatio="xMinYMin meet">'
    )
    return head + "".join(parts) + "</svg>"


def render_chart(
    bars: Sequence[Bar], *, chart_id: str, described_by: str, layouts: Sequence[Layout] = ()
) -> Markup:
    """The chart as inline SVG (one per layout, wide and narrow by default) with
    ``role="img"`` and ``aria-labelledby`` the text alternative (``described_by`` is the id
    of an element holding the summary)."""
    chosen = layouts or (WIDE, NARROW)
    svg = "".join(_render(bars, layout, chart_id, described_by) for layout in chosen)
    return Markup(svg)  # noqa: S704 - every interpolated text is escaped above
