"""Web-reputation index: the worked example of docs/reputation-index.md, and edge cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.reputation.index import (
    GroupedIndex,
    ReputationSettings,
    ReviewSignal,
    age_in_days,
    recency_weight,
    reputation_drivers,
    reputation_index,
    reputation_index_from_sums,
    reputation_week_over_week,
    review_score,
    week_over_week,
)

# The four reviews of the worked example (docs/reputation-index.md).
EXAMPLE = [
    ReviewSignal(rating=5, sentiment=0.8, age_days=0, review_id="A",
                 aspects={"doctor": 0.9, "waiting": -0.5}),
    ReviewSignal(rating=4, sentiment=None, age_days=180, review_id="B"),
    ReviewSignal(rating=1, sentiment=-0.6, age_days=360, review_id="C",
                 aspects={"waiting": -0.8, "staff": -0.6}),
    ReviewSignal(rating=None, sentiment=-0.2, age_days=540, review_id="D",
                 aspects={"price": -0.2}),
]


def test_review_scores_of_the_worked_example():
    # A: 0.7 * (5-1)/4 + 0.3 * (0.8+1)/2 = 0.7 * 1 + 0.3 * 0.9 = 0.97
    assert review_score(5, 0.8) == pytest.approx(0.97)
    # B: rating only -> (4-1)/4 = 0.75
    assert review_score(4, None) == 0.75
    # C: 0.7 * 0 + 0.3 * (-0.6+1)/2 = 0.3 * 0.2 = 0.06
    assert review_score(1, -0.6) == pytest.approx(0.06)
    # D: sentiment only -> (-0.2+1)/2 = 0.4
    assert review_score(None, -0.2) == pytest.approx(0.4)
    assert review_score(None, None) is None


def test_recency_weights_of_the_worked_example():
    # half-life 180 days: 0.5^(0/180), 0.5^(180/180), 0.5^(360/180), 0.5^(540/180)
    assert [recency_weight(r.age_days) for r in EXAMPLE] == [1.0, 0.5, 0.25, 0.125]
    assert recency_weight(-3) == 1.0  # a review "from the future" counts as new


def test_worked_example_index():
    # W   = 1 + 0.5 + 0.25 + 0.125 = 1.875
    # sum = 1*0.97 + 0.5*0.75 + 0.25*0.06 + 0.125*0.4 = 0.97 + 0.375 + 0.015 + 0.05 = 1.41
    # Q   = 1.41 / 1.875 = 0.752
    # Q'  = (1.41 + 5*0.5) / (1.875 + 5) = 3.91 / 6.875 = 0.568727...
    # index = 56.87 ; confidence = 1.875 / 6.875 = 0.2727 (3/11)
    result = reputation_index(EXAMPLE)
    assert result.effective_reviews == pytest.approx(1.875)
    assert result.quality == pytest.approx(1.41 / 1.875) == 0.752
    assert result.index == pytest.approx(100 * 3.91 / 6.875, rel=1e-12)
    assert round(result.index, 2) == 56.87
    assert result.confidence == pytest.approx(3 / 11)
    assert result.reviews_used == 4
    # the same from sums aggregated elsewhere (e.g. SQL)
    assert reputation_index_from_sums(1.41, 1.875, 4).index == pytest.approx(result.index)


def test_worked_example_drivers():
    # review impact = 100 * r * (s - 0.5) / 6.875
    #   A: 100 * 1     * 0.47  / 6.875 = +6.84
    #   B: 100 * 0.5   * 0.25  / 6.875 = +1.82
    #   C: 100 * 0.25  * -0.44 / 6.875 = -1.60
    #   D: 100 * 0.125 * -0.1  / 6.875 = -0.18
    # sum = 6.87 = 56.87 - 50 (index minus the neutral 50)
    drivers = reputation_drivers(EXAMPLE)
    assert [d.review_id for d in drivers.reviews_up] == ["A", "B"]
    assert [d.review_id for d in drivers.reviews_down] == ["C", "D"]
    impacts = {d.review_id: d.impact for d in drivers.reviews_up + drivers.reviews_down}
    assert impacts["A"] == pytest.approx(100 * 1 * 0.47 / 6.875)
    assert impacts["B"] == pytest.approx(100 * 0.5 * 0.25 / 6.875)
    assert impacts["C"] == pytest.approx(100 * 0.25 * -0.44 / 6.875) == -1.6
    assert impacts["D"] == pytest.approx(100 * 0.125 * -0.1 / 6.875)
    assert sum(impacts.values()) == pytest.approx(reputation_index(EXAMPLE).index - 50)
    # aspect impact = 100 * sum over mentions of r * ((a+1)/2 - 0.5) / 6.875
    #   doctor:  1 * (0.95 - 0.5)                    = +0.45  -> +6.55
    #   waiting: 1 * (0.25 - 0.5) + 0.25 * (0.1 - 0.5) = -0.35 -> -5.09
    #   staff:   0.25 * (0.2 - 0.5)                  = -0.075 -> -1.09
    #   price:   0.125 * (0.4 - 0.5)                 = -0.0125 -> -0.18
    assert [a.aspect for a in drivers.aspects_up] == ["doctor"]
    assert [a.aspect for a in drivers.aspects_down] == ["waiting", "staff", "price"]
    waiting = drivers.aspects_down[0]
    assert waiting.impact == pytest.approx(100 * -0.35 / 6.875)
    assert waiting.mentions == 2
    assert waiting.mean_sentiment == pytest.approx((-0.5 - 0.8) / 2)
    assert drivers.aspects_up[0].impact == pytest.approx(100 * 0.45 / 6.875)


reviews_strategy = st.lists(
    st.builds(
        ReviewSignal,
        rating=st.none() | st.integers(1, 5),
        sentiment=st.none() | st.floats(-1, 1),
        age_days=st.floats(0, 2000),
        review_id=st.uuids(),
    ),
    max_size=30,
)


@given(reviews_strategy)
def test_index_bounds_and_exact_driver_decomposition(reviews):
    result = reputation_index(reviews)
    if result is None:
        assert all(r.rating is None and r.sentiment is None for r in reviews)
        return
    assert 0.0 <= result.index <= 100.0
    assert 0.0 <= result.confidence < 1.0
    drivers = reputation_drivers(reviews, top=len(reviews))
    total = sum(d.impact for d in drivers.reviews_up + drivers.reviews_down)
    assert total == pytest.approx(result.index - 50.0, abs=1e-9)


def test_drivers_top_limit_and_empty():
    assert len(reputation_drivers(EXAMPLE, top=1).reviews_up) == 1
    empty = reputation_drivers([])
    assert empty.reviews_up == () and empty.aspects_down == ()


def test_no_reviews_is_none_not_50():
    assert reputation_index([]) is None
    assert reputation_index([ReviewSignal(age_days=3)]) is None  # no rating, no text score
    assert reputation_index_from_sums(0.0, 0.0, 0) is None


def test_one_perfect_review_does_not_give_100():
    # Q' = (1 * 1 + 5 * 0.5) / (1 + 5) = 3.5 / 6 = 0.5833
    result = reputation_index([ReviewSignal(rating=5, age_days=0)])
    assert result.index == pytest.approx(100 * 3.5 / 6)
    assert result.quality == 1.0
    assert result.confidence == pytest.approx(1 / 6)


def test_many_fresh_perfect_reviews_approach_100():
    # 95 fresh 5-star reviews: (95 + 2.5) / (95 + 5) = 0.975
    result = reputation_index([ReviewSignal(rating=5)] * 95)
    assert result.index == pytest.approx(97.5)


def test_old_reviews_weigh_less():
    fresh_bad = [ReviewSignal(rating=1, age_days=0)] * 10
    old_good = [ReviewSignal(rating=5, age_days=720)] * 10  # weight 0.5^4 = 1/16
    # W = 10 + 10/16 = 10.625 ; sum r s = 0 + 0.625 ; Q' = (0.625 + 2.5) / 15.625 = 0.2
    result = reputation_index(fresh_bad + old_good)
    assert result.index == pytest.approx(100 * 3.125 / 15.625) == pytest.approx(20.0)


def test_ratings_below_one_count_as_worst():
    assert review_score(0, None) == 0.0
    with pytest.raises(ValueError):
        review_score(6, None)
    with pytest.raises(ValueError):
        review_score(None, 1.5)


def test_settings():
    # rating only (sentiment weight 0): C scores (1-1)/4 = 0, D has no usable signal
    rating_only = ReputationSettings(rating_weight=1.0, sentiment_weight=0.0)
    assert review_score(1, -0.6, rating_only) == 0.0
    assert review_score(None, -0.2, rating_only) is None
    # no shrinkage (k = 0): the index is the plain recency-weighted quality
    raw = reputation_index(EXAMPLE, ReputationSettings(prior_weight=0))
    assert raw.index == pytest.approx(75.2) and raw.confidence == 1.0
    # shorter half-life: age 90 with half-life 90 weighs 0.5
    assert recency_weight(90, 90) == 0.5
    with pytest.raises(ValueError):
        ReputationSettings(half_life_days=0)
    with pytest.raises(ValueError):
        ReputationSettings(prior=1.5)


def test_week_over_week():
    change = week_over_week(56.87, 52.0)
    assert change.delta == pytest.approx(4.87)
    assert change.relative == pytest.approx(4.87 / 52)
    assert week_over_week(56.87, None).delta is None


def test_week_over_week_from_reviews():
    # Today: a 5-star review posted today and a 3-star one 7 days ago.
    # A week ago only the 3-star review existed, then 0 days old:
    #   Q'(week ago) = (1 * 0.5 + 2.5) / (1 + 5) = 0.5          -> 50
    # Today: r = 1 and 0.5^(7/180)
    reviews = [ReviewSignal(rating=5, age_days=0), ReviewSignal(rating=3, age_days=7)]
    r = 0.5 ** (7 / 180)
    today = 100 * (1 * 1.0 + r * 0.5 + 2.5) / (1 + r + 5)
    change = reputation_week_over_week(reviews)
    assert change.previous == pytest.approx(50.0)
    assert change.current == pytest.approx(today)
    assert change.delta == pytest.approx(today - 50.0)
    # no reviews a week ago -> no change to report
    assert reputation_week_over_week([ReviewSignal(rating=5)]).delta is None


def test_age_in_days():
    published = datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert age_in_days(published, datetime(2025, 1, 31, 0, tzinfo=UTC)) == 29.5
    with pytest.raises(ValueError):
        age_in_days(datetime(2025, 1, 1), datetime(2025, 1, 2, tzinfo=UTC))


@given(reviews_strategy, st.lists(st.sets(st.sampled_from("abc")), max_size=30))
def test_grouped_index_gives_each_group_what_the_index_of_its_reviews_gives(reviews, memberships):
    """One pass over overlapping groups gives, to the last digit, the index of each group's own reviews,
    now and as it stood a week ago."""
    memberships = (memberships + [set()] * len(reviews))[:len(reviews)]
    grouped = GroupedIndex()
    grouped.add_group("empty")
    for review, groups in zip(reviews, memberships):
        grouped.add(["all", *sorted(groups)], review.rating, review.sentiment, review.age_days)
    for group in ("all", "a", "b", "c", "empty"):
        members = [r for r, groups in zip(reviews, memberships) if group == "all" or group in groups]
        assert grouped.reviews(group) == len(members)
        assert grouped.index(group) == reputation_index(members)
        week_ago = grouped.week_ago(group)
        change = week_over_week(grouped.index(group).index if grouped.index(group) else None,
                                week_ago.index if week_ago else None)
        assert change == reputation_week_over_week(members)
    assert "empty" in grouped.groups() and grouped.index("empty") is None
