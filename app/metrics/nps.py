"""Net Promoter Score (NPS) with a confidence interval.

Definition (Reichheld 2003): patients answer "How likely are you to
recommend the clinic to a friend or relative?" on 0..10. Answers 9-10 are
promoters, 7-8 passives, 0-6 detractors::

    NPS = 100 * (promoters - detractors) / n          (points, -100..100)

Interval: each answer is a trinomial variable taking +1 (promoter),
0 (passive) or -1 (detractor). With shares ``p_pro`` and ``p_det`` its
variance is ``p_pro + p_det - (p_pro - p_det)^2``, so the standard error of
the NPS is ``100 * sqrt((p_pro + p_det - (p_pro - p_det)^2) / n)`` and the
95 % interval is ``NPS +/- 1.96 * SE`` (normal approximation, the "Wald"
interval analysed by Rocks 2016), clipped to -100..100.

Sources: F. F. Reichheld, "The One Number You Need to Grow", Harvard
Business Review 81(12), 2003; B. Rocks, "Interval Estimation for the 'Net
Promoter Score'", The American Statistician 70(4), 2016.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.metrics.intervals import (
    DEFAULT_CONFIDENCE,
    Interval,
    check_counts,
    counts_on_scale,
    normal_interval,
)

SCALE_MIN = 0
SCALE_MAX = 10
PROMOTER_MIN = 9  # 9 and 10
DETRACTOR_MAX = 6  # 0 to 6


@dataclass(frozen=True)
class NpsCounts:
    """Numbers of promoters (9-10), passives (7-8) and detractors (0-6)."""

    promoters: int
    passives: int
    detractors: int

    @property
    def total(self) -> int:
        """All answers."""
        return self.promoters + self.passives + self.detractors


@dataclass(frozen=True)
class NpsResult:
    """An NPS estimate.

    ``score`` and ``interval`` are in points (-100..100); the shares are
    fractions (0..1); ``standard_error`` is in points.
    """

    score: float
    interval: Interval
    standard_error: float
    n: int
    promoters: int
    passives: int
    detractors: int

    @property
    def promoter_share(self) -> float:
        """Promoters / n."""
        return self.promoters / self.n

    @property
    def passive_share(self) -> float:
        """Passives / n."""
        return self.passives / self.n

    @property
    def detractor_share(self) -> float:
        """Detractors / n."""
        return self.detractors / self.n


@dataclass(frozen=True)
class AnswerDistribution:
    """Counts and shares of each answer 0..10 (index = answer)."""

    counts: tuple[int, ...]
    n: int

    @property
    def shares(self) -> tuple[float, ...] | None:
        """Share of each answer 0..10, or ``None`` without answers."""
        if self.n == 0:
            return None
        return tuple(count / self.n for count in self.counts)

    @property
    def mean(self) -> float | None:
        """Mean answer on 0..10, or ``None`` without answers."""
        if self.n == 0:
            return None
        return sum(score * count for score, count in enumerate(self.counts)) / self.n


def answer_distribution(
    distribution: Mapping[int, int] | Sequence[int],
) -> AnswerDistribution:
    """Counts of each answer 0..10 from ``{answer: count}`` or 11 counts.

    Used for the answer histogram next to the NPS; missing answers count 0.
    """
    counts = counts_on_scale(distribution, SCALE_MIN, SCALE_MAX)
    return AnswerDistribution(counts=counts, n=sum(counts))


def classify(distribution: Mapping[int, int] | Sequence[int]) -> NpsCounts:
    """Group a 0..10 answer distribution into promoters/passives/detractors.

    9-10 promoters, 7-8 passives, 0-6 detractors (Reichheld 2003).
    """
    counts = counts_on_scale(distribution, SCALE_MIN, SCALE_MAX)
    return NpsCounts(
        promoters=sum(counts[PROMOTER_MIN:]),
        passives=sum(counts[DETRACTOR_MAX + 1 : PROMOTER_MIN]),
        detractors=sum(counts[: DETRACTOR_MAX + 1]),
    )


def nps(
    promoters: int,
    passives: int,
    detractors: int,
    confidence: float = DEFAULT_CONFIDENCE,
) -> NpsResult | None:
    """NPS in points with a normal-approximation interval; ``None`` if no answers.

    ``NPS = 100 (p_pro - p_det)``; ``SE = 100 sqrt((p_pro + p_det -
    (p_pro - p_det)^2) / n)``; interval ``NPS +/- z SE`` clipped to
    -100..100 (Reichheld 2003; trinomial variance as in Rocks 2016).

    When every answer is in one group (e.g. all promoters) the sample
    variance is 0 and the interval collapses to the point: the normal
    approximation cannot express uncertainty there, which is one reason
    scorecards suppress small samples.
    """
    checked = check_counts(promoters=promoters, passives=passives, detractors=detractors)
    promoters, passives, detractors = (
        checked["promoters"],
        checked["passives"],
        checked["detractors"],
    )
    n = promoters + passives + detractors
    if n == 0:
        return None
    p_pro = promoters / n
    p_det = detractors / n
    net = p_pro - p_det
    # Variance of one answer scored +1/0/-1: E[X^2] - E[X]^2.
    variance = max(0.0, p_pro + p_det - net * net)
    standard_error = 100.0 * math.sqrt(variance / n)
    # From the counts, so 120/50/30 gives exactly 45.0 rather than 44.999...
    score = 100.0 * (promoters - detractors) / n
    return NpsResult(
        score=score,
        interval=normal_interval(score, standard_error, confidence, -100.0, 100.0),
        standard_error=standard_error,
        n=n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
    )


def nps_from_counts(counts: NpsCounts, confidence: float = DEFAULT_CONFIDENCE) -> NpsResult | None:
    """``nps`` for an ``NpsCounts`` value."""
    return nps(counts.promoters, counts.passives, counts.detractors, confidence)


def nps_from_distribution(
    distribution: Mapping[int, int] | Sequence[int],
    confidence: float = DEFAULT_CONFIDENCE,
) -> NpsResult | None:
    """NPS from a 0..10 answer distribution (``{answer: count}`` or 11 counts)."""
    return nps_from_counts(classify(distribution), confidence)
