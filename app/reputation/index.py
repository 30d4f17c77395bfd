"""Web-reputation index 0..100 for a clinic, branch, doctor or review source.

Per review ``i`` (definitions and justification in docs/reputation-index.md)::

    R_i = (clamp(rating, 1, 5) - 1) / 4              rating 0..5 -> 0..1
    S_i = (sentiment + 1) / 2                        sentiment -1..1 -> 0..1
    s_i = w_r R_i + w_s S_i   (w_r + w_s = 1; only the available one if
                               the review has no rating or no scored text)
    r_i = 0.5 ** (age_days / half_life)              recency weight

    W  = sum r_i                                     effective volume
    Q  = sum r_i s_i / W                             recency-weighted quality
    Q' = (W Q + k p) / (W + k)                       shrunk toward prior p
    index      = 100 Q'
    confidence = W / (W + k)

Defaults: ``w_r = 0.7``, ``w_s = 0.3``, half-life 180 days, neutral prior
``p = 0.5`` (a 3-star, neutral-text review) with weight ``k = 5`` reviews.
The shrinkage is the Bayesian average used for ranking by ratings: a
clinic with one fresh 5-star review scores 58, not 100, and only a steady
stream of recent good reviews moves the index close to 100.

Each review's contribution ``100 r_i (s_i - p) / (W + k)`` adds up exactly to
``index - 100 p``; ``reputation_drivers`` ranks reviews and aspects by it.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from app.metrics.compare import Change, compare

DEFAULT_HALF_LIFE_DAYS = 180.0
WEEK_DAYS = 7.0


@dataclass(frozen=True)
class ReputationSettings:
    """Tunable constants of the index (see docs/reputation-index.md)."""

    rating_weight: float = 0.7
    sentiment_weight: float = 0.3
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    prior: float = 0.5
    prior_weight: float = 5.0

    def __post_init__(self) -> None:
        if self.rating_weight < 0 or self.sentiment_weight < 0:
            raise ValueError("weights must be >= 0")
        if self.rating_weight + self.sentiment_weight <= 0:
            raise ValueError("at least one of rating_weight, sentiment_weight must be > 0")
        if not self.half_life_days > 0:
            raise ValueError("half_life_days must be > 0")
        if not 0.0 <= self.prior <= 1.0:
            raise ValueError("prior must be within 0..1")
        if self.prior_weight < 0:
            raise ValueError("prior_weight must be >= 0")


@dataclass(frozen=True)
class ReviewSignal:
    """What the index needs from one review.

    ``rating`` on 0..5 (values below 1 count as 1, the worst), ``sentiment``
    of the text on -1..1, ``age_days`` since publication, and optional
    per-aspect sentiments (-1..1) used only by ``reputation_drivers``.
    """

    rating: float | None = None
    sentiment: float | None = None
    age_days: float = 0.0
    review_id: object = None
    aspects: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReputationIndex:
    """The index (0..100) with its parts.

    ``quality`` is Q before shrinkage (0..1), ``confidence`` the share of the
    index that comes from the reviews rather than the prior (0..1),
    ``effective_reviews`` the recency-weighted volume W.
    """

    index: float
    quality: float
    confidence: float
    effective_reviews: float
    reviews_used: int


@dataclass(frozen=True)
class ReviewDriver:
    """A review's pull on the index, in index points (positive pulls up)."""

    review_id: object
    impact: float
    score: float
    weight: float


@dataclass(frozen=True)
class AspectDriver:
    """An aspect's pull: recency-weighted sum over the reviews mentioning it, in index points."""

    aspect: str
    impact: float
    mentions: int
    mean_sentiment: float


@dataclass(frozen=True)
class ReputationDrivers:
    """Strongest upward and downward drivers, strongest first."""

    reviews_up: tuple[ReviewDriver, ...]
    reviews_down: tuple[ReviewDriver, ...]
    aspects_up: tuple[AspectDriver, ...]
    aspects_down: tuple[AspectDriver, ...]
    total: float = 0.0  # every review's pull together: the index minus 100 p


DEFAULT_SETTINGS = ReputationSettings()


def _settings(settings: ReputationSettings | None) -> ReputationSettings:
    return settings if settings is not None else DEFAULT_SETTINGS


def review_score(
    rating: float | None, sentiment: float | None, settings: ReputationSettings | None = None
) -> float | None:
    """Score of one review on 0..1: ``w_r (rating - 1) / 4 + w_s (sentiment + 1) / 2``.

    Uses whichever of rating and sentiment is present (the weights are
    renormalised over them); ``None`` when neither is.
    """
    settings = _settings(settings)
    rating_part = sentiment_part = None
    if rating is not None:
        if not 0.0 <= rating <= 5.0:
            raise ValueError(f"rating must be within 0..5, got {rating}")
        if settings.rating_weight > 0:
            rating_part = (max(rating, 1.0) - 1.0) / 4.0
    if sentiment is not None:
        if not -1.0 <= sentiment <= 1.0:
            raise ValueError(f"sentiment must be within -1..1, got {sentiment}")
        if settings.sentiment_weight > 0:
            sentiment_part = (sentiment + 1.0) / 2.0
    # No signal at all, or only a signal whose weight is set to 0: no score.
    if rating_part is None:
        return sentiment_part
    if sentiment_part is None:
        return rating_part
    return ((settings.rating_weight * rating_part + settings.sentiment_weight * sentiment_part)
            / (settings.rating_weight + settings.sentiment_weight))


def recency_weight(age_days: float, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> float:
    """Exponential decay ``0.5 ** (age_days / half_life_days)``: 1 today, 0.5 after one half-life.

    Negative ages (clock skew between sources) count as 0.
    """
    if not half_life_days > 0:
        raise ValueError("half_life_days must be > 0")
    return 0.5 ** (max(0.0, age_days) / half_life_days)


def age_in_days(published_at: datetime, as_of: datetime) -> float:
    """Age of a review in (fractional) days; both datetimes must be timezone-aware."""
    if published_at.utcoffset() is None or as_of.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return (as_of - published_at).total_seconds() / 86400.0


def reputation_index_from_sums(
    weighted_score_sum: float,
    weight_sum: float,
    reviews_used: int,
    settings: ReputationSettings | None = None,
) -> ReputationIndex | None:
    """Index from ``sum r_i s_i`` and ``sum r_i`` (e.g. aggregated in SQL); ``None`` if no reviews.

    ``Q' = (sum r_i s_i + k p) / (sum r_i + k)``, ``index = 100 Q'``.
    """
    settings = _settings(settings)
    if reviews_used == 0 or weight_sum <= 0:
        return None
    if weighted_score_sum < -1e-12 or weighted_score_sum > weight_sum * (1 + 1e-12):
        raise ValueError("weighted_score_sum must lie within 0..weight_sum")
    k, prior = settings.prior_weight, settings.prior
    shrunk = (weighted_score_sum + k * prior) / (weight_sum + k)
    return ReputationIndex(
        index=100.0 * shrunk,
        quality=weighted_score_sum / weight_sum,
        confidence=weight_sum / (weight_sum + k),
        effective_reviews=weight_sum,
        reviews_used=reviews_used,
    )


def _scored(
    reviews: Iterable[ReviewSignal], settings: ReputationSettings
) -> list[tuple[ReviewSignal, float, float]]:
    scored = []
    for review in reviews:
        score = review_score(review.rating, review.sentiment, settings)
        if score is not None:
            scored.append((review, score, recency_weight(review.age_days, settings.half_life_days)))
    return scored


def reputation_index(
    reviews: Iterable[ReviewSignal], settings: ReputationSettings | None = None
) -> ReputationIndex | None:
    """Reputation index 0..100 of a set of reviews; ``None`` if none has a rating or sentiment.

    Recency-weighted mean review score shrunk toward a neutral prior (see
    the module docstring and docs/reputation-index.md).
    """
    settings = _settings(settings)
    scored = _scored(reviews, settings)
    return reputation_index_from_sums(
        math.fsum(weight * score for _, score, weight in scored),
        math.fsum(weight for _, _, weight in scored),
        len(scored),
        settings,
    )


class GroupedIndex:
    """The index of many overlapping groups of reviews (a clinic, its branches, doctors, sources), in one pass.

    Each review is scored and weighted once, then counted in every group it belongs to, so a
    clinic of 20,000 reviews costs one pass instead of one per group. The figures are those of
    ``reputation_index`` over each group's reviews (the sums are taken with ``math.fsum``, so
    not even the last digit differs), and ``week_ago`` is the index as it stood seven days
    earlier, as ``reputation_week_over_week`` computes it.
    """

    def __init__(self, settings: ReputationSettings | None = None):
        self.settings = _settings(settings)
        # Per group: how many reviews, and the terms of sum r_i s_i and sum r_i, now and a week ago.
        self._reviews: dict = {}
        self._now: dict = {}
        self._week_ago: dict = {}
        self._weights: dict[float, tuple[float, float | None]] = {}  # by age: (r_i now, r_i a week ago)

    def add_group(self, group) -> None:
        """Make ``group`` known even without reviews (its index is then None)."""
        self._reviews.setdefault(group, 0)

    def add(self, groups: list, rating: float | None, sentiment: float | None, age_days: float) -> None:
        """Count one review in each of ``groups``."""
        reviews = self._reviews
        for group in groups:
            reviews[group] = reviews.get(group, 0) + 1
        score = review_score(rating, sentiment, self.settings)
        if score is None:
            return
        # Reviews are dated by the day, so a clinic's thousands of reviews share a few hundred ages.
        weights = self._weights.get(age_days)
        if weights is None:
            half_life = self.settings.half_life_days
            weights = self._weights[age_days] = (
                recency_weight(age_days, half_life),
                recency_weight(age_days - WEEK_DAYS, half_life) if age_days >= WEEK_DAYS else None)
        now, then = weights
        for group in groups:
            terms = self._now.get(group)
            if terms is None:
                terms = self._now[group] = ([], [])
            terms[0].append(now * score)
            terms[1].append(now)
            if then is not None:
                terms = self._week_ago.get(group)
                if terms is None:
                    terms = self._week_ago[group] = ([], [])
                terms[0].append(then * score)
                terms[1].append(then)

    def groups(self) -> list:
        """Every group with a review (or added with ``add_group``), in the order first seen."""
        return list(self._reviews)

    def reviews(self, group) -> int:
        """How many reviews the group has, with or without a rating or text."""
        return self._reviews.get(group, 0)

    def index(self, group) -> ReputationIndex | None:
        """The group's index now; None when none of its reviews has a rating or sentiment."""
        return self._from(self._now.get(group))

    def week_ago(self, group) -> ReputationIndex | None:
        """The group's index as it stood seven days earlier, from the reviews it had then."""
        return self._from(self._week_ago.get(group))

    def _from(self, terms) -> ReputationIndex | None:
        if not terms:
            return None
        scores, weights = terms
        return reputation_index_from_sums(math.fsum(scores), math.fsum(weights), len(weights), self.settings)


def reputation_drivers(
    reviews: Iterable[ReviewSignal],
    settings: ReputationSettings | None = None,
    top: int = 5,
) -> ReputationDrivers:
    """Reviews and aspects that pull the index up or down most.

    Review impact ``100 r_i (s_i - p) / (W + k)`` - these add up exactly to
    ``index - 100 p``. Aspect impact applies the same formula to the
    aspect's own sentiment ``(a + 1) / 2`` summed over the reviews that
    mention it: a ranking aid, since aspects do not enter the index itself.
    Zero impacts are left out; at most ``top`` of each list.
    """
    settings = _settings(settings)
    prior, half_life = settings.prior, settings.half_life_days
    # One pass: each review's score and weight (reviews are dated by the day, so a clinic's
    # thousands of reviews share a few hundred weights), its pull before the common
    # denominator, and each aspect's.
    weights_by_age: dict[float, float] = {}
    pulls: list[tuple[float, float, float, object]] = []  # (pull, score, weight, review id)
    weights: list[float] = []
    aspect_pulls: dict[str, float] = {}
    mentions: dict[str, int] = {}
    sentiment_sums: dict[str, float] = {}
    for review in reviews:
        score = review_score(review.rating, review.sentiment, settings)
        if score is None:
            continue
        weight = weights_by_age.get(review.age_days)
        if weight is None:
            weight = weights_by_age[review.age_days] = recency_weight(review.age_days, half_life)
        weights.append(weight)
        pulls.append((weight * (score - prior), score, weight, review.review_id))
        for aspect, sentiment in review.aspects.items():
            if not -1.0 <= sentiment <= 1.0:
                raise ValueError(f"aspect sentiment must be within -1..1, got {sentiment}")
            aspect_pulls[aspect] = aspect_pulls.get(aspect, 0.0) + weight * ((sentiment + 1.0) / 2.0 - prior)
            mentions[aspect] = mentions.get(aspect, 0) + 1
            sentiment_sums[aspect] = sentiment_sums.get(aspect, 0.0) + sentiment
    denominator = math.fsum(weights) + settings.prior_weight
    if not pulls or denominator <= 0:
        return ReputationDrivers((), (), (), ())
    scale = 100.0 / denominator

    def review_driver(item) -> ReviewDriver:
        pull, score, weight, review_id = item
        return ReviewDriver(review_id=review_id, impact=scale * pull, score=score, weight=weight)

    aspect_drivers = [
        AspectDriver(aspect=aspect, impact=scale * pull, mentions=mentions[aspect],
                     mean_sentiment=sentiment_sums[aspect] / mentions[aspect])
        for aspect, pull in aspect_pulls.items()
    ]
    first = operator.itemgetter(0)
    return ReputationDrivers(
        reviews_up=tuple(review_driver(item) for item in heapq.nlargest(top, (p for p in pulls if p[0] > 0), key=first)),
        reviews_down=tuple(review_driver(item)
                           for item in heapq.nsmallest(top, (p for p in pulls if p[0] < 0), key=first)),
        aspects_up=tuple(sorted((d for d in aspect_drivers if d.impact > 0), key=lambda d: -d.impact)[:top]),
        aspects_down=tuple(sorted((d for d in aspect_drivers if d.impact < 0), key=lambda d: d.impact)[:top]),
        total=scale * math.fsum(pull for pull, *_ in pulls),
    )


def week_over_week(current: float | None, previous: float | None) -> Change:
    """Change of the index against the value a week earlier (points and relative), ``None``-safe."""
    return compare(current, previous)


def reputation_week_over_week(
    reviews: Iterable[ReviewSignal], settings: ReputationSettings | None = None
) -> Change:
    """Index today vs the index as it stood 7 days ago, from the same reviews.

    The week-ago index uses only reviews at least 7 days old, each aged 7
    days less, i.e. exactly what the formula gave then.
    """
    settings = _settings(settings)
    reviews = list(reviews)
    current = reputation_index(reviews, settings)
    week_ago = reputation_index(
        (
            ReviewSignal(r.rating, r.sentiment, r.age_days - WEEK_DAYS, r.review_id, r.aspects)
            for r in reviews
            if r.age_days >= WEEK_DAYS
        ),
        settings,
    )
    return week_over_week(
        current.index if current is not None else None,
        week_ago.index if week_ago is not None else None,
    )
