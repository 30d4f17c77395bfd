"""Server-rendered SVG charts: gaps stay gaps, days are placed by date, every value is described in text."""
from __future__ import annotations

import re
from datetime import date

from app.charts import HEIGHT, PAD_LEFT, PAD_RIGHT, WIDTH, bar_chart, line_chart, time_chart


def _dots(svg: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)]


def test_line_chart_breaks_the_line_at_missing_values_and_describes_them():
    svg = str(line_chart([("Jan", 10.0), ("Feb", None), ("Mar", 30.0), ("Apr", 20.0)], "NPS", unit=""))
    assert svg.count("<polyline") == 1  # Jan stands alone; Mar–Apr is the only line
    assert len(_dots(svg)) == 3
    assert "Feb: —" in svg and "Mar: 30" in svg
    xs = [x for x, _ in _dots(svg)]
    assert xs[0] == PAD_LEFT and xs[-1] == WIDTH - PAD_RIGHT


def test_time_chart_places_points_by_date_not_by_position():
    points = [(date(2026, 1, 1), 50.0), (date(2026, 1, 2), 52.0), (date(2026, 1, 11), 60.0)]
    svg = str(time_chart(points, "Index", chart_id="rep"))
    (x1, y1), (x2, _), (x3, y3) = _dots(svg)
    plot = WIDTH - PAD_LEFT - PAD_RIGHT
    assert x1 == PAD_LEFT and x3 == WIDTH - PAD_RIGHT
    assert abs((x2 - x1) - plot / 10) < 0.2  # one day of ten
    assert y3 < y1 < HEIGHT  # higher value, higher on the chart
    assert "2026-01-01" in svg and "2026-01-11" in svg and 'aria-labelledby="rep-t rep-d"' in svg


def test_time_chart_range_hugs_the_data_within_its_bounds():
    svg = str(time_chart([(date(2026, 3, 1), 99.0), (date(2026, 3, 2), 100.0)], "Index"))
    ticks = [float(t) for t in re.findall(r'class="tick">([\d.]+)</text>', svg)]
    assert max(ticks) == 100 and min(ticks) >= 90


def test_time_chart_gridlines_fall_on_round_numbers():
    def ticks(values):
        svg = str(time_chart([(date(2026, 3, d + 1), v) for d, v in enumerate(values)], "Index"))
        return [float(t) for t in re.findall(r'class="tick">([\d.]+)</text>', svg)]

    assert ticks([62.7, 64.1, 67.9]) == [60, 65, 70]  # data 62.7..67.9, padded by 2
    assert ticks([50.0, 50.4]) == [47.5, 50, 52.5]
    assert ticks([1.0, 3.0]) == [0, 2.5, 5]  # never below the floor
    assert ticks([97.0, 99.5]) == [95, 97.5, 100]  # nor above the ceiling
    assert ticks([10.0, 90.0]) == [0, 50, 100]


def test_time_chart_without_values_shows_the_empty_text():
    html = str(time_chart([(date(2026, 3, 1), None)], "Index", empty_text="No <data> yet"))
    assert "<svg" not in html and "No &lt;data&gt; yet" in html


def test_bar_chart_escapes_labels():
    svg = str(bar_chart([("<b>", 3.0), ("ok", 0.0)], "Scores"))
    assert "&lt;b&gt;" in svg and "<b>" not in svg
