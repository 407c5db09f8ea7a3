"""Server-rendered SVG charts of the dashboards: no JavaScript, no external files.

Each chart is drawn next to a table of the same numbers (the page's job), and names
that table as its text alternative (``aria-labelledby``). Colours and sizes are SVG
presentation attributes, never ``style`` (the CSP forbids inline styles); the charts
scale with their ``viewBox`` (the class ``explanation-chart`` makes them as wide as the
page, as the citizen's chart is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from portal.cases.chart import AXIS_COLOUR, FONT, TEXT_COLOUR, wrap

BAR_COLOUR = "#1f5f99"  # blue, 6.6:1 against white
FLAG_COLOUR = "#b35806"  # orange, 4.9:1: a value past its threshold
LINE_COLOUR = "#1f5f99"
WIDTH = 720
LABEL_SIZE = 14


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # 0..scale
    text: str  # the value as shown in the table
    warn: bool = False  # drawn hatched-light: too few decisions to judge


@dataclass(frozen=True)
class Point:
    label: str  # e.g. an ISO week
    value: float


def _text(x: float, y: float, body: str, anchor: str = "start", size: int = LABEL_SIZE) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"'
        f' fill="{TEXT_COLOUR}" font-family="{FONT}">{escape(body)}</text>'
    )


def _svg(chart_id: str, labelled_by: str, height: float, parts: Sequence[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="explanation-chart"'
        f' id="{escape(chart_id)}" role="img" aria-labelledby="{escape(labelled_by)}"'
        f' focusable="false" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}"'
        f' height="{height:.0f}" preserveAspectRatio="xMinYMin meet">'
    )
    return Markup(head + "".join(parts) + "</svg>")  # noqa: S704 - texts escaped above


def bar_chart(
    bars: Sequence[Bar], *, chart_id: str, labelled_by: str, scale: float = 1.0
) -> Markup:
    """Horizontal bars from 0 to ``scale`` (e.g. outcome rate by group), one row each:
    the label above its bar, the value beside it."""
    label_room = WIDTH - 8
    reach = WIDTH - 90
    parts: list[str] = []
    y = 6.0
    for bar in bars:
        for line in wrap(bar.label, LABEL_SIZE, label_room):
            y += 18
            parts.append(_text(4, y, line))
        top = y + 6
        length = max(min(bar.value / scale, 1.0) * reach, 1.5) if scale else 1.5
        colour = "#8fb3d6" if bar.warn else BAR_COLOUR
        parts.append(
            f'<line x1="4" y1="{top - 3:.1f}" x2="4" y2="{top + 19:.1f}"'
            f' stroke="{AXIS_COLOUR}" stroke-width="1"/>'
        )
        parts.append(
            f'<rect x="4" y="{top:.1f}" width="{length:.1f}" height="16" fill="{colour}"/>'
        )
        parts.append(_text(10 + length, top + 13, bar.text))
        y = top + 16 + 10
    return _svg(chart_id, labelled_by, y + 6, parts)


def line_chart(
    points: Sequence[Point],
    *,
    chart_id: str,
    labelled_by: str,
    scale: float,
    threshold: float | None = None,
    threshold_text: str = "",
) -> Markup:
    """A line over time (e.g. drift or the override rate per week) from 0 to ``scale``,
    with a dashed threshold line if given; the first and last labels under the axis."""
    height = 240.0
    left, right, top, bottom = 50.0, WIDTH - 16.0, 14.0, height - 34.0
    scale = max(scale, threshold or 0.0, max((p.value for p in points), default=0.0)) or 1.0

    def x_of(i: int) -> float:
        if len(points) <= 1:
            return (left + right) / 2
        return left + (right - left) * i / (len(points) - 1)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * min(value / scale, 1.0)

    parts = [
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS_COLOUR}"'
        ' stroke-width="1"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="{AXIS_COLOUR}"'
        ' stroke-width="1"/>',
        _text(left - 6, bottom + 4, "0", "end", 12),
        _text(left - 6, top + 4, f"{scale:.2g}", "end", 12),
    ]
    if threshold is not None:
        ty = y_of(threshold)
        parts.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{right}" y2="{ty:.1f}"'
            f' stroke="{FLAG_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        if threshold_text:
            parts.append(_text(right, ty - 5, threshold_text, "end", 12))
    coords = " ".join(f"{x_of(i):.1f},{y_of(p.value):.1f}" for i, p in enumerate(points))
    if len(points) > 1:
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2"/>'
        )
    for i, p in enumerate(points):
        over = threshold is not None and p.value > threshold
        parts.append(
            f'<circle cx="{x_of(i):.1f}" cy="{y_of(p.value):.1f}" r="4"'
            f' fill="{FLAG_COLOUR if over else LINE_COLOUR}"/>'
        )
    if points:
        parts.append(_text(left, height - 10, points[0].label, "start", 12))
        if len(points) > 1:
            parts.append(_text(right, height - 10, points[-1].label, "end", 12))
    return _svg(chart_id, labelled_by, height, parts)
