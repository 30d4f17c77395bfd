"""Small server-rendered SVG charts: a line chart for trends, a bar chart for distributions.

The SVG scales to its container (``viewBox``, width 100 %), so one drawing reads on
a laptop and on a phone. Each chart is an image with an accessible name and a
text description of its values; missing values are gaps, never zeros.
"""
from __future__ import annotations

from markupsafe import Markup, escape

# Drawn at roughly phone width so its text stays legible when the chart is shown small.
WIDTH = 360
HEIGHT = 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 34, 18, 12, 26


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 or abs(value) >= 100 else f"{value:.1f}"


def _y_scale(low: float, high: float):
    span = (high - low) or 1.0

    def y(value: float) -> float:
        return PAD_TOP + (HEIGHT - PAD_TOP - PAD_BOTTOM) * (1 - (value - low) / span)

    return y


def line_chart(points: list[tuple[str, float | None]], title: str, *, low: float | None = None,
               high: float | None = None, unit: str = "", chart_id: str = "chart") -> Markup:
    """A line chart of ``(label, value)`` points; ``None`` values break the line."""
    values = [v for _, v in points if v is not None]
    desc = "; ".join(f"{label}: {'—' if v is None else _fmt(v) + unit}" for label, v in points)
    if low is None:
        low = min(values + [0.0]) if values else 0.0
    if high is None:
        high = max(values + [low + 1.0]) if values else 1.0
    y = _y_scale(low, high)
    n = max(len(points), 1)
    step = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(n - 1, 1)

    def x(i: int) -> float:
        return PAD_LEFT + step * i if n > 1 else (WIDTH + PAD_LEFT - PAD_RIGHT) / 2

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t '
             f'{chart_id}-d" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>']
    for tick in (low, (low + high) / 2, high):
        ty = y(tick)
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>'
                     f'<text x="{PAD_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" class="tick">'
                     f'{escape(_fmt(tick))}</text>')
    every = max(1, (n + 3) // 4)
    for i, (label, _) in enumerate(points):
        if i % every == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="tick">'
                         f'{escape(label)}</text>')
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, value) in enumerate(points):
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(value):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(f'<polyline points="{" ".join(seg)}" class="line"/>')
    for i, (label, value) in enumerate(points):
        if value is not None:
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="2.5" class="dot">'
                         f'<title>{escape(label)}: {escape(_fmt(value) + unit)}</title></circle>')
    if not values:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(bars: list[tuple[str, float]], title: str, *, classes: list[str] | None = None,
              chart_id: str = "bars", unit: str = "") -> Markup:
    """A vertical bar chart of ``(label, value)``; ``classes`` colour bars (e.g. detractor/passive/promoter)."""
    desc = "; ".join(f"{label}: {_fmt(v)}{unit}" for label, v in bars)
    high = max([v for _, v in bars] + [1.0])
    y = _y_scale(0.0, high)
    n = max(len(bars), 1)
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / n
    width = slot * 0.7
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t '
             f'{chart_id}-d" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>',
             f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" class="axis"/>']
    for i, (label, value) in enumerate(bars):
        left = PAD_LEFT + slot * i + (slot - width) / 2
        top = y(value)
        css = f"bar {classes[i]}" if classes and i < len(classes) else "bar"
        parts.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{y(0) - top:.1f}" '
                     f'class="{escape(css)}"><title>{escape(label)}: {escape(_fmt(value) + unit)}</title></rect>')
        if value:
            parts.append(f'<text x="{left + width / 2:.1f}" y="{top - 3:.1f}" text-anchor="middle" class="val">'
                         f'{escape(_fmt(value))}</text>')
        parts.append(f'<text x="{left + width / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="tick">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
