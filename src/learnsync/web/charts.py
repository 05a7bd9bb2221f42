"""Bar charts as inline SVG, rendered on the server: no JavaScript library, no CDN.

Every label goes through :func:`html.escape`, so the markup is safe to mark as such.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 180
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 36, 22, 10


def bar_chart(points: list[tuple[str, int]], *, title: str, unit: str) -> Markup:
    """``points``: (label, value) left to right. Each bar carries a ``<title>`` tooltip."""
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    peak = max((v for _, v in points), default=0)
    top = max(peak, 1)
    step = plot_w / max(len(points), 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 4}" '
        f'y2="{PAD_TOP + plot_h}" stroke="#9aa1b2"/>',
        _axis_label(PAD_LEFT - 4, PAD_TOP + 8, str(peak)),
        _axis_label(PAD_LEFT - 4, PAD_TOP + plot_h, "0"),
    ]
    for n, (label, value) in enumerate(points):
        h = plot_h * value / top
        x = PAD_LEFT + n * step + step * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="#3451b2" data-value="{value}">'
            f"<title>{escape(label)}: {value} {escape(unit)}</title></rect>"
        )
        if n % max(1, len(points) // 6) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="10">{escape(label[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis_label(x: float, y: float, text: str) -> str:
    return f'<text x="{x}" y="{y}" text-anchor="end" font-size="10">{escape(text)}</text>'
