"""Customer satisfaction (CSAT) per aspect, with a Wilson interval.

Definition (standard top-2-box CSAT): on a 1..5 satisfaction scale the
CSAT of an aspect (doctor's attention, waiting time, cleanliness, ...) is the
share of answers that are 4 or 5::

    CSAT = (count(4) + count(5)) / n          (share 0..1; x100 for percent)

Interval: Wilson (1927) score interval for a binomial proportion, which
stays inside 0..1 and behaves well for small n and for shares near 0 or 1
(Brown, Cai & DasGupta 2001).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.metrics.intervals import (
    DEFAULT_CONFIDENCE,
    Interval,
    check_counts,
    counts_on_scale,
    wilson_interval,
)

SCALE_MIN = 1
SCALE_MAX = 5
SATISFIED_MIN = 4  # top two boxes: 4 and 5


@dataclass(frozen=True)
class CsatResult:
    """CSAT of one aspect: ``share`` and ``interval`` are fractions 0..1."""

    share: float
    interval: Interval
    satisfied: int
    n: int
    aspect: str | None = None
    mean_score: float | None = None

    @property
    def percent(self) -> float:
        """CSAT in percent (0..100)."""
        return 100.0 * self.share


def csat_from_counts(
    satisfied: int,
    n: int,
    aspect: str | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> CsatResult | None:
    """CSAT from the number of 4-5 answers and all answers; ``None`` if ``n == 0``.

    Top-2-box share with a Wilson interval (Wilson 1927).
    """
    checked = check_counts(satisfied=satisfied, n=n)
    satisfied, n = checked["satisfied"], checked["n"]
    interval = wilson_interval(satisfied, n, confidence)
    if interval is None:
        return None
    return CsatResult(
        share=satisfied / n, interval=interval, satisfied=satisfied, n=n, aspect=aspect
    )


def csat(
    distribution: Mapping[int, int] | Sequence[int],
    aspect: str | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> CsatResult | None:
    """CSAT from a 1..5 distribution (``{score: count}`` or 5 counts).

    Top-2-box share (4 and 5) with a Wilson interval; the mean score is
    carried along for display. ``None`` when there are no answers.
    """
    counts = counts_on_scale(distribution, SCALE_MIN, SCALE_MAX)
    n = sum(counts)
    satisfied = sum(counts[SATISFIED_MIN - SCALE_MIN :])
    result = csat_from_counts(satisfied, n, aspect, confidence)
    if result is None:
        return None
    mean = sum((SCALE_MIN + i) * count for i, count in enumerate(counts)) / n
    return CsatResult(
        share=result.share,
        interval=result.interval,
        satisfied=satisfied,
        n=n,
        aspect=aspect,
        mean_score=mean,
    )


def csat_by_aspect(
    distributions: Mapping[str, Mapping[int, int] | Sequence[int]],
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, CsatResult | None]:
    """CSAT of every aspect in ``{aspect: distribution}``; ``None`` for empty aspects."""
    return {
        aspect: csat(distribution, aspect=aspect, confidence=confidence)
        for aspect, distribution in distributions.items()
    }

