"""Loyalty index 0..100: emotional and behavioural loyalty in one number.

Loyalty has an attitudinal side (how patients feel about the clinic) and a
behavioural side (whether they actually come back); a loyal patient shows
both (Dick & Basu, "Customer loyalty: toward an integrated conceptual
framework", Journal of the Academy of Marketing Science 22(2), 1994).

Components, each rescaled to 0..100 first::

    emotional    NPS           (NPS + 100) / 2
                 CSAT          100 * top-2-box share
                 would return  100 * share answering "yes, I will come back"
    behavioural  repeat visits 100 * repeat-visit rate
                 retention     100 * retention rate
                 multi-service 100 * multi-service share

    index = sum(w_i * x_i for available i) / sum(w_i for available i)

The weights are a per-clinic setting (``LoyaltyWeights``); the defaults sum
to 1 and split it evenly, 0.5 emotional / 0.5 behavioural. A component that
is missing (``None``: no survey answers, no previous period ...) or whose
weight is 0 is left out and the remaining weights are renormalised, so the
index stays on 0..100. With no available component the index is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

EMOTIONAL = ("nps", "csat", "would_return")
BEHAVIOURAL = ("repeat_visit_rate", "retention_rate", "multi_service_share")


@dataclass(frozen=True)
class LoyaltyWeights:
    """Per-clinic weights of the loyalty index components (non-negative, sum 1)."""

    nps: float = 0.20
    csat: float = 0.15
    would_return: float = 0.15
    repeat_visit_rate: float = 0.20
    retention_rate: float = 0.20
    multi_service_share: float = 0.10

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if any(v < 0 or math.isnan(v) for v in values):
            raise ValueError("loyalty weights must be >= 0")
        if not math.isclose(sum(values), 1.0, abs_tol=1e-9):
            raise ValueError(f"loyalty weights must sum to 1, got {sum(values)}")


@dataclass(frozen=True)
class LoyaltyComponents:
    """Inputs of the index: NPS in points (-100..100), the rest as fractions 0..1."""

    nps: float | None = None
    csat: float | None = None
    would_return: float | None = None
    repeat_visit_rate: float | None = None
    retention_rate: float | None = None
    multi_service_share: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            low, high = (-100.0, 100.0) if f.name == "nps" else (0.0, 1.0)
            if not low <= value <= high:
                raise ValueError(f"{f.name} must be within {low}..{high}, got {value}")


@dataclass(frozen=True)
class LoyaltyIndex:
    """The index with its two sub-indices (each 0..100, ``None`` when empty).

    ``weights_used`` holds the renormalised weight of every component that
    entered the index.
    """

    index: float
    emotional: float | None
    behavioural: float | None
    weights_used: Mapping[str, float]


def component_scores(components: LoyaltyComponents) -> dict[str, float | None]:
    """Each component rescaled to 0..100: NPS as (NPS + 100) / 2, shares x 100."""
    scores: dict[str, float | None] = {}
    for f in fields(components):
        value = getattr(components, f.name)
        if value is None:
            scores[f.name] = None
        elif f.name == "nps":
            scores[f.name] = (value + 100.0) / 2.0
        else:
            scores[f.name] = 100.0 * value
    return scores


def _weighted(
    scores: dict[str, float | None], weights: LoyaltyWeights, names: tuple[str, ...]
) -> tuple[float | None, dict[str, float]]:
    available = {
        name: getattr(weights, name)
        for name in names
        if scores[name] is not None and getattr(weights, name) > 0
    }
    total = sum(available.values())
    if total == 0:
        return None, {}
    used = {name: w / total for name, w in available.items()}
    return sum(used[name] * scores[name] for name in used), used  # type: ignore[operator]


def loyalty_index(
    components: LoyaltyComponents, weights: LoyaltyWeights | None = None
) -> LoyaltyIndex | None:
    """Weighted mean of the available components on 0..100; ``None`` if none is available.

    ``index = sum(w_i x_i) / sum(w_i)`` over available components, with
    NPS rescaled to ``(NPS + 100) / 2`` and shares to percent. The emotional
    and behavioural sub-indices use the same rule within their group.
    """
    weights = weights or LoyaltyWeights()
    scores = component_scores(components)
    index, used = _weighted(scores, weights, EMOTIONAL + BEHAVIOURAL)
    if index is None:
        return None
    emotional, _ = _weighted(scores, weights, EMOTIONAL)
    behavioural, _ = _weighted(scores, weights, BEHAVIOURAL)
    return LoyaltyIndex(
        index=index,
        emotional=emotional,
        behavioural=behavioural,
        weights_used=MappingProxyType(used),
    )
