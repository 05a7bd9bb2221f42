"""Bar charts rendered on the server: an inline SVG of the bars, its labels in HTML around it and
the same values as a table — no JavaScript library, no CDN.

The SVG stretches to the width it is given and holds no text: the axis labels are HTML beside
and under it, so they keep the page's font size at every width (text inside a scaled SVG shrank
to ~5 px at 390 px). Each bar carries a ``<title>`` (a tooltip), and every value is in the table
under the chart (a ``<details>``), reachable without a pointer. Every label goes through
:func:`html.escape`, so the markup is safe to mark as such.
"""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup

from learnsync.web.present import plural

WIDTH, HEIGHT = 600, 200  # the viewBox; drawn at the box's width × the CSS height (12rem)


def day_label(day: date, *, weekday: bool = True) -> str:
    """``Fri 4 Dec`` (``4 Dec`` without the weekday)."""
    text = f"{day.day} {day:%b}"
    return f"{day:%a} {text}" if weekday else text


def nice_top(peak: int) -> int:
    """The axis' top: the smallest of 1, 2, 4, 5, 10, 20, 40, 50, 100… that holds ``peak``,
    so the middle line falls on a whole number whenever the top is above 1."""
    top = 1
    while True:
        for step in (1, 2, 4, 5):
            if top * step >= peak:
                return top * step
        top *= 10


def bar_chart(
    points: list[tuple[str, int]],
    *,
    title: str,
    unit: str,
    first: str = "",
    last: str = "",
    column: str = "Day",
    heading: str = "",
) -> Markup:
    """``points``: (label, value) left to right; ``unit``: the singular noun of a value
    ("completion"). ``first`` / ``last``: the words under the first and last bars (default:
    their labels); ``column`` / ``heading``: the table's two column headings (default: "Day" and
    the unit's plural). The chart's figure content: the plot, then its table in a ``<details>``."""
    peak = max((v for _, v in points), default=0)
    top = nice_top(peak)
    middle = top // 2 if top > 1 else None
    step = WIDTH / max(len(points), 1)
    summary = (
        f"{title}: {len(points)} bars, highest {plural(peak, unit)}; every value is in the table"
        " below the chart"
    )
    parts = [
        '<div class="chart-plot">',
        '<div class="chart-y" aria-hidden="true">',
        f"<span>{top:,}</span>",
        f"<span>{middle:,}</span>" if middle is not None else "<span></span>",
        "<span>0</span>",
        "</div>",
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none"'
        f' xmlns="http://www.w3.org/2000/svg" aria-label="{escape(summary)}">',
        f"<title>{escape(summary)}</title>",
    ]
    for y in (0, HEIGHT / 2) if middle is not None else (0,):
        parts.append(
            f'<line class="grid" x1="0" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}"'
            ' vector-effect="non-scaling-stroke"/>'
        )
    for n, (label, value) in enumerate(points):
        h = HEIGHT * value / top
        x = n * step + step * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - h:.1f}" width="{step * 0.7:.1f}"'
            f' height="{h:.1f}" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {escape(plural(value, unit))}</title></rect>"
        )
    parts.append(
        f'<line class="axis" x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}"'
        ' vector-effect="non-scaling-stroke"/>'
    )
    parts.append("</svg></div>")
    if points:
        parts.append(
            '<div class="chart-x" aria-hidden="true">'
            f"<span>{escape(first or points[0][0])}</span>"
            f"<span>{escape(last or points[-1][0])}</span></div>"
        )
    heading = heading or unit[:1].upper() + unit[1:] + "s"
    parts.append(_table(points, title=title, column=column, heading=heading))
    return Markup("".join(parts))


def _table(points: list[tuple[str, int]], *, title: str, column: str, heading: str) -> str:
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td class="num">{value:,}</td></tr>'
        for label, value in points
    )
    return (
        '<details class="chart-table"><summary>'
        f"{escape(title)}: show the values as a table</summary>"
        f'<div class="table-wrap" tabindex="0" role="region" aria-label="{escape(title)}: values">'
        f'<table><caption class="visually-hidden">{escape(title)}'
        f'</caption><thead><tr><th scope="col">{escape(column)}</th>'
        f'<th scope="col" class="num">{escape(heading)}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
    )
