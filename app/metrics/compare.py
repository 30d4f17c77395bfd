"""Period-over-period comparison of a metric value.

Definition::

    delta    = current - previous                 (in the metric's units:
                                                   NPS points, share, roubles)
    relative = (current - previous) / |previous|  (fraction; x100 for percent)

The denominator is ``|previous|`` so that the sign of ``relative`` always
says "better" (+) or "worse" (-) even for metrics that can be negative, such
as NPS going from -10 to -5 (delta +5, relative +0.5). Both are ``None``
when either value is missing; ``relative`` is also ``None`` when the
previous value is 0 (a relative change from zero is undefined).
For shares and NPS the ``delta`` in points is usually the figure to show;
relative change of a share is easy to misread.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    """Comparison of ``current`` against ``previous``; fields are ``None`` when undefined."""

    current: float | None
    previous: float | None
    delta: float | None
    relative: float | None

    @property
    def direction(self) -> int | None:
        """+1 up, -1 down, 0 unchanged, ``None`` when not comparable."""
        if self.delta is None:
            return None
        return (self.delta > 0) - (self.delta < 0)


def compare(current: float | None, previous: float | None) -> Change:
    """Delta and relative change of ``current`` vs ``previous``, ``None``-safe.

    ``delta = current - previous``; ``relative = delta / |previous|``
    (``None`` if ``previous`` is 0 or either value is ``None``).
    """
    if current is None or previous is None:
        return Change(current, previous, None, None)
    delta = current - previous
    relative = None if previous == 0 else delta / abs(previous)
    return Change(current, previous, delta, relative)
