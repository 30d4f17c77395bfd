"""Small server-rendered SVG charts: line charts for trends (by period or by day), a bar chart for distributions.

The SVG scales to its container (``viewBox``, width 100 %), so one drawing reads on
a laptop and on a phone. Each chart is an image with an accessible name and a
text description of its values; missing values are gaps, never zeros.
"""
from __future__ import annotations

import math
from datetime import date

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
    """A line chart of ``(label, value)`` points, evenly spaced; ``None`` values break the line."""
    n = len(points)
    every = max(1, (n + 3) // 4)
    positions = [i / (n - 1) if n > 1 else 0.5 for i in range(n)]
    ticks = [(positions[i], label) for i, (label, _) in enumerate(points) if i % every == 0 or i == n - 1]
    values = [value for _, value in points]
    names = [label for label, _ in points]
    return _line_svg(positions, values, names, ticks, title, low=low, high=high, unit=unit, chart_id=chart_id)


def time_chart(points: list[tuple[date, float | None]], title: str, *, floor: float = 0.0, ceiling: float = 100.0,
               unit: str = "", chart_id: str = "trend", empty_text: str = "") -> Markup:
    """A line chart of ``(day, value)`` points placed by date, for a daily series with gaps.

    The vertical range follows the data, padded and kept within floor..ceiling, so
    a small movement stays visible. With no value at all, ``empty_text`` is shown.
    """
    known = [value for _, value in points if value is not None]
    if not known:
        return Markup('<p class="muted small">{}</p>').format(empty_text)
    low, high = min(known), max(known)
    pad = max(2.0, (high - low) * 0.15)
    low, high = _round_range(max(floor, low - pad), min(ceiling, high + pad), floor, ceiling)
    first, last = points[0][0], points[-1][0]
    span = max(1, (last - first).days)
    positions = [(day - first).days / span for day, _ in points]
    names = [day.isoformat() for day, _ in points]
    ticks = [(0.0, first.isoformat()), (1.0, last.isoformat())] if last != first else [(0.0, first.isoformat())]
    return _line_svg(positions, [value for _, value in points], names, ticks, title,
                     low=low, high=high, unit=unit, chart_id=chart_id)


# Gridline spacings a reader takes in at a glance.
_ROUND_STEPS = (0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)


def _round_range(low: float, high: float, floor: float, ceiling: float) -> tuple[float, float]:
    """Widen low..high so its three gridlines (bottom, middle, top) fall on round numbers
    (60, 65, 70 rather than 60.7, 64.9, 69.1), staying within floor..ceiling where that is possible."""
    for step in _ROUND_STEPS:
        bottom = math.floor(low / step) * step
        if bottom + 2 * step < high:
            continue
        if bottom + 2 * step > ceiling:
            bottom = ceiling - 2 * step
        if bottom >= floor:
            return bottom, bottom + 2 * step
    return low, high


def _line_svg(positions: list[float], values: list[float | None], names: list[str], ticks: list[tuple[float, str]],
              title: str, *, low: float | None, high: float | None, unit: str, chart_id: str) -> Markup:
    """Draw points at horizontal positions 0..1 with gridlines, axis labels and a text description."""
    known = [v for v in values if v is not None]
    desc = "; ".join(f"{name}: {'—' if v is None else _fmt(v) + unit}" for name, v in zip(names, values))
    if low is None:
        low = min(known + [0.0]) if known else 0.0
    if high is None:
        high = max(known + [low + 1.0]) if known else 1.0
    y = _y_scale(low, high)

    def x(position: float) -> float:
        return PAD_LEFT + (WIDTH - PAD_LEFT - PAD_RIGHT) * position

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t '
             f'{chart_id}-d" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>']
    for tick in (low, (low + high) / 2, high):
        ty = y(tick)
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>'
                     f'<text x="{PAD_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" class="tick">'
                     f'{escape(_fmt(tick))}</text>')
    for position, label in ticks:
        anchor = "start" if position == 0.0 and len(ticks) == 2 else "end" if position == 1.0 and len(ticks) == 2 \
            else "middle"
        parts.append(f'<text x="{x(position):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" class="tick">'
                     f'{escape(label)}</text>')
    segments: list[list[str]] = [[]]
    for position, value in zip(positions, values):
        if value is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(position):.1f},{y(value):.1f}")
    for segment in segments:
        if len(segment) > 1:
            parts.append(f'<polyline points="{" ".join(segment)}" class="line"/>')
    for position, name, value in zip(positions, names, values):
        if value is not None:
            parts.append(f'<circle cx="{x(position):.1f}" cy="{y(value):.1f}" r="2.5" class="dot">'
                         f'<title>{escape(name)}: {escape(_fmt(value) + unit)}</title></circle>')
    if not known:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(bars: list[tuple[str, float]], title: str, *, classes: list[str] | None = None,
              chart_id: str = "bars", unit: str = "", ticks: list[str] | None = None) -> Markup:
    """A vertical bar chart of ``(label, value)``; ``classes`` colour bars (e.g. detractor/passive/promoter).

    ``ticks`` are shorter texts under the bars where the labels would not fit ("01" for "2026-01");
    the labels stay in each bar's tooltip and the chart's description.
    """
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
                     f'{escape(ticks[i] if ticks else label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
