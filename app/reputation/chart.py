"""A tiny server-rendered trend chart: inline SVG, no JavaScript, scales to any width."""
from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape


def trend_svg(points: list[tuple[date, float | None]], *, title: str, width: int = 600, height: int = 170,
              empty_text: str = "") -> Markup:
    """An inline SVG line chart of index values (0..100) by day.

    The vertical range is the data's, padded and clamped to 0..100, so a small
    movement stays visible; missing values break the line. ``title`` is the
    accessible name. With fewer than one value, ``empty_text`` is shown instead.
    """
    values = [v for _, v in points if v is not None]
    if not values:
        return Markup('<p class="muted small">{}</p>').format(empty_text)
    left, right, top, bottom = 34, 8, 10, 22
    low, high = min(values), max(values)
    pad = max(2.0, (high - low) * 0.15)
    low, high = max(0.0, low - pad), min(100.0, high + pad)
    if high - low < 1e-9:
        high = low + 1
    first_day, last_day = points[0][0], points[-1][0]
    span = max(1, (last_day - first_day).days)

    def x(day: date) -> float:
        return left + (width - left - right) * ((day - first_day).days / span)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (1 - (value - low) / (high - low))

    segments, current = [], []
    for day, value in points:
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{x(day):.1f},{y(value):.1f}")
    if current:
        segments.append(current)
    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (low, (low + high) / 2, high):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#dfe3ea" stroke-width="1"/>')
        parts.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="13" '
                     f'fill="#5b6475">{tick:.0f}</text>')
    parts.append(f'<text x="{left}" y="{height - 4}" font-size="13" fill="#5b6475">{first_day.isoformat()}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 4}" font-size="13" fill="#5b6475" '
                 f'text-anchor="end">{last_day.isoformat()}</text>')
    for segment in segments:
        if len(segment) == 1:
            cx, cy = segment[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="#1f6feb"/>')
        else:
            parts.append(f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" vector-effect="non-scaling-stroke" '
                         f'points="{" ".join(segment)}"/>')
    last_value = values[-1]
    last_point = next(((d, v) for d, v in reversed(points) if v is not None))
    parts.append(f'<circle cx="{x(last_point[0]):.1f}" cy="{y(last_value):.1f}" r="3.5" fill="#1f6feb"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
