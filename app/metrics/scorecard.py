"""Per-doctor and per-branch scorecards with small-sample suppression.

A scorecard shows, for one doctor or one branch and one period:

* NPS (points, normal-approximation interval - see ``nps``);
* CSAT (top-2-box share, Wilson interval - see ``csat``);
* mean comment sentiment on -1..1, when comments were scored, with a
  normal interval ``mean +/- z * s / sqrt(n)`` (``s`` the sample standard
  deviation) computed from ``n``, ``sum`` and ``sum of squares``;
* repeat-visit rate (share of the subject's patients with >= 2 visits,
  Wilson interval).

Suppression rule: a figure based on fewer than ``min_responses`` answers
(patients, for the repeat-visit rate) is never shown - its value and
interval are ``None`` and ``suppressed`` is True. The default minimum is 30,
a per-clinic setting. This protects both the doctor (a couple of angry
answers are not a verdict) and the patients (small groups are easier to
re-identify). Each metric is suppressed on its own sample size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.metrics.csat import csat
from app.metrics.intervals import (
    DEFAULT_CONFIDENCE,
    Interval,
    check_counts,
    normal_interval,
    wilson_interval,
)
from app.metrics.nps import NpsCounts, nps_from_counts

DEFAULT_MIN_RESPONSES = 30

SUBJECT_DOCTOR = "doctor"
SUBJECT_BRANCH = "branch"


@dataclass(frozen=True)
class ScorecardSettings:
    """Per-clinic scorecard settings."""

    min_responses: int = DEFAULT_MIN_RESPONSES
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if isinstance(self.min_responses, bool) or not isinstance(self.min_responses, int):
            raise TypeError("min_responses must be an integer")
        if self.min_responses < 1:
            raise ValueError("min_responses must be >= 1")


@dataclass(frozen=True)
class SentimentSums:
    """Aggregated comment sentiment: ``COUNT``, ``SUM`` and ``SUM`` of squares (-1..1 scale)."""

    n: int
    total: float
    total_squares: float | None = None


@dataclass(frozen=True)
class ScorecardMetric:
    """One scorecard cell.

    ``value``/``interval`` are ``None`` when ``suppressed`` (fewer than the
    minimum responses, including none at all) or when the metric has no data.
    """

    value: float | None
    interval: Interval | None
    n: int
    suppressed: bool


@dataclass(frozen=True)
class Scorecard:
    """A doctor's or branch's scorecard for one period."""

    subject_kind: str
    subject_id: object
    nps: ScorecardMetric
    csat: ScorecardMetric
    sentiment: ScorecardMetric
    repeat_visit_rate: ScorecardMetric
    min_responses: int


def _suppressed(n: int) -> ScorecardMetric:
    return ScorecardMetric(value=None, interval=None, n=n, suppressed=True)


def mean_sentiment(
    sums: SentimentSums, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, Interval | None] | None:
    """Mean sentiment ``sum / n`` and its normal interval; ``None`` when ``n == 0``.

    Sample variance ``(sum_sq - sum^2 / n) / (n - 1)``; interval
    ``mean +/- z * sqrt(variance / n)`` clipped to -1..1. The interval is
    ``None`` without a sum of squares or with a single comment.
    """
    n = check_counts(n=sums.n)["n"]
    if n == 0:
        return None
    mean = sums.total / n
    if not -1.0 - 1e-9 <= mean <= 1.0 + 1e-9:
        raise ValueError("mean sentiment outside -1..1: check the sums")
    if sums.total_squares is None or n < 2:
        return mean, None
    variance = max(0.0, (sums.total_squares - sums.total**2 / n) / (n - 1))
    return mean, normal_interval(mean, math.sqrt(variance / n), confidence, -1.0, 1.0)


def scorecard(
    subject_kind: str,
    subject_id: object,
    *,
    nps_counts: NpsCounts | None = None,
    csat_distribution: Mapping[int, int] | Sequence[int] | None = None,
    sentiment: SentimentSums | None = None,
    patients_repeat: int = 0,
    patients_visited: int = 0,
    settings: ScorecardSettings | None = None,
) -> Scorecard:
    """Build a scorecard; every metric under ``settings.min_responses`` is suppressed.

    NPS (Reichheld 2003) from ``nps_counts``; CSAT top-2-box from a 1..5
    ``csat_distribution``; mean sentiment from ``sentiment`` sums; repeat-
    visit rate = ``patients_repeat / patients_visited``. Missing inputs
    count as zero answers and are therefore suppressed.
    """
    settings = settings or ScorecardSettings()
    if subject_kind not in (SUBJECT_DOCTOR, SUBJECT_BRANCH):
        raise ValueError(f"subject_kind must be 'doctor' or 'branch', got {subject_kind!r}")
    minimum = settings.min_responses
    confidence = settings.confidence

    nps_cell: ScorecardMetric
    nps_n = nps_counts.total if nps_counts is not None else 0
    if nps_n < minimum:
        nps_cell = _suppressed(nps_n)
    else:
        result = nps_from_counts(nps_counts, confidence)  # type: ignore[arg-type]
        assert result is not None
        nps_cell = ScorecardMetric(result.score, result.interval, nps_n, False)

    csat_result = None
    if csat_distribution is not None:
        csat_result = csat(csat_distribution, confidence=confidence)
    csat_n = csat_result.n if csat_result is not None else 0
    if csat_result is None or csat_n < minimum:
        csat_cell = _suppressed(csat_n)
    else:
        csat_cell = ScorecardMetric(csat_result.share, csat_result.interval, csat_n, False)

    sentiment_n = check_counts(n=sentiment.n)["n"] if sentiment is not None else 0
    if sentiment is None or sentiment_n < minimum:
        sentiment_cell = _suppressed(sentiment_n)
    else:
        mean = mean_sentiment(sentiment, confidence)
        assert mean is not None
        sentiment_cell = ScorecardMetric(mean[0], mean[1], sentiment_n, False)

    counts = check_counts(patients_repeat=patients_repeat, patients_visited=patients_visited)
    repeat, visited = counts["patients_repeat"], counts["patients_visited"]
    if repeat > visited:
        raise ValueError("patients_repeat exceeds patients_visited")
    if visited < minimum:
        repeat_cell = _suppressed(visited)
    else:
        repeat_cell = ScorecardMetric(
            repeat / visited, wilson_interval(repeat, visited, confidence), visited, False
        )

    return Scorecard(
        subject_kind=subject_kind,
        subject_id=subject_id,
        nps=nps_cell,
        csat=csat_cell,
        sentiment=sentiment_cell,
        repeat_visit_rate=repeat_cell,
        min_responses=minimum,
    )
