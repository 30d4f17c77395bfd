"""Shared interval maths for the loyalty metrics.

Every estimate shown to a clinic is a sample estimate (a survey reaches only
some patients), so it comes with a confidence interval. This module holds the
pieces the metric modules share:

* ``z_value`` - the two-sided normal quantile for a confidence level;
* ``wilson_interval`` - Wilson (1927) score interval for a proportion, used
  for CSAT and every other "share of patients" figure;
* ``normal_interval`` - the normal-approximation (Wald) interval
  ``estimate +/- z * standard_error``, used for NPS and mean sentiment;
* ``counts_on_scale`` - validation of a score distribution handed over by a
  SQL aggregate (``{score: count}`` or a list of counts).

Sources: E. B. Wilson, "Probable inference, the law of succession, and
statistical inference", JASA 22 (1927) 209-212; L. D. Brown, T. T. Cai,
A. DasGupta, "Interval Estimation for a Binomial Proportion", Statistical
Science 16 (2001) 101-133 (why Wilson rather than Wald for proportions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A closed confidence interval ``[low, high]`` in the metric's own units."""

    low: float
    high: float
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def width(self) -> float:
        """Distance between the bounds."""
        return self.high - self.low

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def z_value(confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Two-sided standard-normal quantile: ``z`` with ``P(|Z| <= z) = confidence``.

    For 0.95 this is 1.959963984540054 (the familiar 1.96).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_count(name: str, value: int) -> int:
    # Counts arrive from SQL; a negative or fractional count is a bug upstream
    # and must not silently turn into a plausible-looking percentage.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer count, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_counts(**counts: int) -> dict[str, int]:
    """Validate named non-negative integer counts and return them as ints.

    Integral floats (``12.0``, as some SQL drivers return for ``SUM``) are
    accepted; anything else non-integral raises ``TypeError``.
    """
    return {name: _check_count(name, value) for name, value in counts.items()}


def share(part: int, whole: int) -> float | None:
    """``part / whole`` for counts, or ``None`` when ``whole`` is 0 (no data).

    Raises ``ValueError`` when ``part > whole``: a share above 100 % always
    means the numerator and denominator were counted differently.
    """
    checked = check_counts(part=part, whole=whole)
    part, whole = checked["part"], checked["whole"]
    if part > whole:
        raise ValueError(f"part ({part}) exceeds whole ({whole})")
    if whole == 0:
        return None
    return part / whole


def wilson_interval(
    successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE
) -> Interval | None:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Definition (Wilson 1927), with ``p = successes / n`` and ``z = z_value``::

        centre    = (p + z^2 / (2n)) / (1 + z^2 / n)
        half      = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))
        interval  = [centre - half, centre + half]

    Unlike the Wald interval it never leaves ``[0, 1]`` and does not collapse
    to a single point when ``p`` is 0 or 1 (e.g. one satisfied answer gives
    roughly [0.21, 1.0], not [1.0, 1.0]). Returns ``None`` for ``n == 0``.
    """
    checked = check_counts(successes=successes, n=n)
    successes, n = checked["successes"], checked["n"]
    if successes > n:
        raise ValueError(f"successes ({successes}) exceeds n ({n})")
    if n == 0:
        return None
    z = z_value(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At p = 0 (p = 1) the lower (upper) bound is exactly 0 (1); set it so
    # rounding noise does not print as 0.0000000001.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high, confidence)


def normal_interval(
    estimate: float,
    standard_error: float,
    confidence: float = DEFAULT_CONFIDENCE,
    lower_limit: float | None = None,
    upper_limit: float | None = None,
) -> Interval:
    """Normal-approximation interval ``estimate +/- z * standard_error``.

    The bounds are clipped to ``[lower_limit, upper_limit]`` when given, so an
    NPS interval never claims a value outside -100..100.
    """
    if standard_error < 0:
        raise ValueError("standard_error must be >= 0")
    half = z_value(confidence) * standard_error
    low, high = estimate - half, estimate + half
    if lower_limit is not None:
        low = max(lower_limit, low)
    if upper_limit is not None:
        high = min(upper_limit, high)
    return Interval(low, high, confidence)


def counts_on_scale(
    distribution: Mapping[int, int] | Sequence[int], low: int, high: int
) -> tuple[int, ...]:
    """Normalise a score distribution to a tuple of counts for ``low..high``.

    ``distribution`` is either a mapping ``{score: count}`` (missing scores
    count as 0 - a ``GROUP BY score`` omits empty groups) or a sequence of
    exactly ``high - low + 1`` counts, index 0 being the count of ``low``.
    Scores outside the scale raise ``ValueError``.
    """
    size = high - low + 1
    if isinstance(distribution, Mapping):
        counts = [0] * size
        for score, count in distribution.items():
            if isinstance(score, bool) or not isinstance(score, int):
                raise TypeError(f"score must be an integer, got {score!r}")
            if not low <= score <= high:
                raise ValueError(f"score {score} outside the {low}..{high} scale")
            counts[score - low] += _check_count(f"count of {score}", count)
        return tuple(counts)
    values = list(distribution)
    if len(values) != size:
        raise ValueError(
            f"expected {size} counts for the {low}..{high} scale, got {len(values)}"
        )
    return tuple(
        _check_count(f"count of {low + i}", count) for i, count in enumerate(values)
    )
