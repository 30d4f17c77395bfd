"""Hand-worked examples for the loyalty metric formulas (docs/metrics.md).

Each expected value is written out as the arithmetic a person would do on
paper, so a reader can check the formula and the code against each other.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.metrics.compare import compare
from app.metrics.csat import csat, csat_by_aspect, csat_from_counts
from app.metrics.intervals import Interval, counts_on_scale, share, wilson_interval, z_value
from app.metrics.loyalty_index import LoyaltyComponents, LoyaltyWeights, loyalty_index
from app.metrics.ltv import (
    annual_churn_from_retention,
    expected_lifetime_years,
    ltv,
    observed_cohort_ltv,
    revenue_per_patient,
)
from app.metrics.nps import NpsCounts, answer_distribution, classify, nps, nps_from_distribution
from app.metrics.programme import ProgrammeType, evaluate_programme, redemption_rate, roi
from app.metrics.retention import (
    churn_vs_inflow,
    full_months_between,
    lost_cutoff,
    lost_patients,
    multi_service_share,
    repeat_visit_rate,
    retention_rate,
)
from app.metrics.scorecard import (
    ScorecardSettings,
    SentimentSums,
    mean_sentiment,
    scorecard,
)

# Two-sided 95 % normal quantile, written out (the familiar "1.96").
Z = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson (1927) interval, spelled out independently of the module under test."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# --- shared interval maths -----------------------------------------------


def test_z_value_for_95_percent():
    assert z_value(0.95) == pytest.approx(Z, abs=1e-12)
    assert z_value(0.90) == pytest.approx(1.6448536269514722, abs=1e-12)
    with pytest.raises(ValueError):
        z_value(1.0)


def test_wilson_interval_worked_example():
    # 80 satisfied out of 100, z = 1.96 (rounded, to follow on paper):
    # centre = (0.8 + 1.96^2/200) / (1 + 1.96^2/100) = 0.819208 / 1.038416 = 0.788901
    # half   = 1.96 / 1.038416 * sqrt(0.8*0.2/100 + 1.96^2/40000)
    #        = 1.887491 * sqrt(0.0016 + 0.00009604) = 1.887491 * 0.041183 = 0.077733
    interval = wilson_interval(80, 100)
    assert interval.low == pytest.approx(0.788901 - 0.077733, abs=2e-4)
    assert interval.high == pytest.approx(0.788901 + 0.077733, abs=2e-4)
    low, high = wilson(80, 100)
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) is None
    # One success of one: p = 1 but the interval does not collapse.
    # centre = (1 + z^2/2) / (1 + z^2) ; half = z/(1+z^2) * sqrt(z^2/4) = z^2 / (2 (1 + z^2))
    one = wilson_interval(1, 1)
    z2 = Z * Z
    assert one.high == pytest.approx(1.0)
    assert one.low == pytest.approx((1 + z2 / 2) / (1 + z2) - z2 / (2 * (1 + z2)))
    assert one.low == pytest.approx(1 / (1 + z2))  # = 0.2065...
    assert wilson_interval(0, 5).low == 0.0
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


@given(st.integers(0, 500), st.integers(0, 500))
def test_wilson_interval_always_contains_the_share(successes, failures):
    n = successes + failures
    interval = wilson_interval(successes, n)
    if n == 0:
        assert interval is None
    else:
        assert 0.0 <= interval.low <= successes / n <= interval.high <= 1.0


@given(st.integers(0, 300), st.integers(0, 300), st.integers(0, 300))
def test_nps_is_within_its_interval_and_scale(promoters, passives, detractors):
    result = nps(promoters, passives, detractors)
    if promoters + passives + detractors == 0:
        assert result is None
    else:
        assert -100.0 <= result.interval.low <= result.score <= result.interval.high <= 100.0


def test_share_and_count_validation():
    assert share(1, 4) == 0.25
    assert share(0, 0) is None
    assert share(3, 3.0) == 1.0  # SQL SUM may come back as a float
    with pytest.raises(ValueError):
        share(5, 4)
    with pytest.raises(ValueError):
        share(-1, 4)
    with pytest.raises(TypeError):
        share(1.5, 4)


def test_counts_on_scale_accepts_mapping_or_list():
    assert counts_on_scale({1: 2, 5: 3}, 1, 5) == (2, 0, 0, 0, 3)
    assert counts_on_scale([2, 0, 0, 0, 3], 1, 5) == (2, 0, 0, 0, 3)
    with pytest.raises(ValueError):
        counts_on_scale({6: 1}, 1, 5)
    with pytest.raises(ValueError):
        counts_on_scale([1, 2, 3], 1, 5)


# --- NPS ------------------------------------------------------------------


def test_nps_worked_example():
    # 200 answers: 120 promoters, 50 passives, 30 detractors.
    # p_pro = 120/200 = 0.60, p_det = 30/200 = 0.15
    # NPS = 100 * (0.60 - 0.15) = 45
    # var of one answer = 0.60 + 0.15 - 0.45^2 = 0.75 - 0.2025 = 0.5475
    # SE = 100 * sqrt(0.5475 / 200) = 100 * sqrt(0.0027375) = 5.2321
    # 95 %: 45 +/- 1.96 * 5.2321 = 45 +/- 10.255 -> [34.75, 55.25]
    result = nps(promoters=120, passives=50, detractors=30)
    assert result.score == 45.0
    assert result.standard_error == pytest.approx(100 * math.sqrt(0.5475 / 200))
    assert result.standard_error == pytest.approx(5.2321, abs=1e-4)
    assert result.interval.low == pytest.approx(45 - Z * 5.232112, abs=1e-4)
    assert result.interval.high == pytest.approx(45 + Z * 5.232112, abs=1e-4)
    assert round(result.interval.low, 2) == 34.75
    assert round(result.interval.high, 2) == 55.25
    assert result.n == 200
    assert result.promoter_share == 0.6
    assert result.detractor_share == 0.15
    assert result.passive_share == 0.25


def test_nps_no_answers_is_none_not_zero():
    assert nps(0, 0, 0) is None
    assert nps_from_distribution({}) is None


def test_nps_one_response():
    # A single promoter: NPS = 100 * (1 - 0) = 100; variance = 1 + 0 - 1^2 = 0.
    result = nps(1, 0, 0)
    assert result.score == 100.0
    assert result.standard_error == 0.0
    assert result.interval == Interval(100.0, 100.0)
    # A single passive: NPS 0, variance 0 + 0 - 0 = 0.
    assert nps(0, 1, 0).score == 0.0


def test_nps_all_promoters_and_all_detractors():
    assert nps(57, 0, 0).score == 100.0
    assert nps(57, 0, 0).interval.high == 100.0
    assert nps(0, 0, 57).score == -100.0


def test_nps_interval_is_clipped_to_scale():
    # 9 promoters, 1 detractor: NPS = 100 * (0.9 - 0.1) = 80
    # var = 0.9 + 0.1 - 0.8^2 = 0.36; SE = 100 * sqrt(0.36/10) = 18.97
    # 80 + 1.96 * 18.97 = 117.2 -> clipped to 100
    result = nps(9, 0, 1)
    assert result.score == pytest.approx(80.0)
    assert result.standard_error == pytest.approx(100 * math.sqrt(0.036))
    assert result.interval.high == 100.0
    assert result.interval.low == pytest.approx(80 - Z * 100 * math.sqrt(0.036))


def test_nps_from_distribution_classifies_0_to_10():
    # answers:      0  1  2  3  4  5  6  7  8   9  10
    distribution = [1, 0, 0, 2, 0, 3, 4, 5, 10, 20, 15]
    # detractors 0..6 = 1+2+3+4 = 10, passives 7..8 = 5+10 = 15, promoters = 20+15 = 35
    assert classify(distribution) == NpsCounts(promoters=35, passives=15, detractors=10)
    # NPS = 100 * (35 - 10) / 60 = 41.67
    assert nps_from_distribution(distribution).score == pytest.approx(100 * 25 / 60)
    # the mapping form (GROUP BY answer) gives the same result
    as_mapping = {score: count for score, count in enumerate(distribution) if count}
    assert nps_from_distribution(as_mapping) == nps_from_distribution(distribution)


def test_answer_distribution_shares_and_mean():
    dist = answer_distribution({10: 3, 0: 1})
    assert dist.counts == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3)
    assert dist.n == 4
    assert dist.shares[10] == 0.75
    assert dist.mean == (0 * 1 + 10 * 3) / 4
    empty = answer_distribution([0] * 11)
    assert empty.shares is None and empty.mean is None
    with pytest.raises(ValueError):
        answer_distribution({11: 1})


# --- CSAT -----------------------------------------------------------------


def test_csat_worked_example():
    # scores 1..5 counts: 5, 5, 10, 30, 50 (n = 100)
    # CSAT = (30 + 50) / 100 = 0.80 ; mean = (5 + 10 + 30 + 120 + 250) / 100 = 4.15
    result = csat([5, 5, 10, 30, 50], aspect="waiting_time")
    assert result.share == 0.8
    assert result.percent == pytest.approx(80.0)
    assert result.satisfied == 80 and result.n == 100
    assert result.mean_score == pytest.approx(4.15)
    assert result.aspect == "waiting_time"
    # Wilson, see test_wilson_interval_worked_example: [0.7112, 0.8666]
    assert round(result.interval.low, 4) == 0.7112
    assert round(result.interval.high, 4) == 0.8666


def test_csat_edges():
    assert csat({}) is None
    assert csat_from_counts(0, 0) is None
    one = csat({5: 1})
    assert one.share == 1.0 and one.interval.high == pytest.approx(1.0)
    assert one.interval.low == pytest.approx(1 / (1 + Z * Z))
    all_unhappy = csat({1: 40})
    assert all_unhappy.share == 0.0 and all_unhappy.interval.low == 0.0


def test_csat_by_aspect():
    results = csat_by_aspect({"doctor": {5: 9, 2: 1}, "cleanliness": {}})
    assert results["doctor"].share == 0.9  # 9 of 10 answered 4-5
    assert results["cleanliness"] is None


# --- loyalty index ----------------------------------------------------------


def test_default_weights_sum_to_one():
    w = LoyaltyWeights()
    total = w.nps + w.csat + w.would_return + w.repeat_visit_rate + w.retention_rate
    total += w.multi_service_share
    assert total == pytest.approx(1.0)
    with pytest.raises(ValueError):
        LoyaltyWeights(nps=0.5)  # sums to 1.3
    with pytest.raises(ValueError):
        LoyaltyWeights(nps=-0.1, csat=0.45)


def test_loyalty_index_worked_example():
    # components rescaled to 0..100:
    #   NPS 45 -> (45 + 100)/2 = 72.5; CSAT 0.80 -> 80; would return 0.90 -> 90
    #   repeat 0.40 -> 40; retention 0.55 -> 55; multi-service 0.25 -> 25
    # index = 0.20*72.5 + 0.15*80 + 0.15*90 + 0.20*40 + 0.20*55 + 0.10*25
    #       = 14.5 + 12 + 13.5 + 8 + 11 + 2.5 = 61.5
    # emotional   = (14.5 + 12 + 13.5) / 0.5 = 80
    # behavioural = (8 + 11 + 2.5) / 0.5 = 43
    components = LoyaltyComponents(
        nps=45,
        csat=0.80,
        would_return=0.90,
        repeat_visit_rate=0.40,
        retention_rate=0.55,
        multi_service_share=0.25,
    )
    result = loyalty_index(components)
    assert result.index == pytest.approx(61.5)
    assert result.emotional == pytest.approx(80.0)
    assert result.behavioural == pytest.approx(43.0)


def test_loyalty_index_renormalises_over_available_components():
    # No "would return" question and no multi-service data:
    # available weights 0.20 + 0.15 + 0.20 + 0.20 = 0.75
    # index = (14.5 + 12 + 8 + 11) / 0.75 = 45.5 / 0.75 = 60.667
    components = LoyaltyComponents(nps=45, csat=0.8, repeat_visit_rate=0.4, retention_rate=0.55)
    result = loyalty_index(components)
    assert result.index == pytest.approx(45.5 / 0.75)
    assert result.emotional == pytest.approx((14.5 + 12) / 0.35)
    assert sum(result.weights_used.values()) == pytest.approx(1.0)
    assert set(result.weights_used) == {"nps", "csat", "repeat_visit_rate", "retention_rate"}


def test_loyalty_index_clinic_weights_and_missing_groups():
    # A clinic that only weighs NPS and retention, 50/50: (72.5 + 55) / 2 = 63.75
    weights = LoyaltyWeights(
        nps=0.5, csat=0, would_return=0, repeat_visit_rate=0, retention_rate=0.5,
        multi_service_share=0,
    )
    components = LoyaltyComponents(nps=45, csat=0.8, retention_rate=0.55)
    assert loyalty_index(components, weights).index == pytest.approx(63.75)
    # Only survey data: behavioural sub-index is None, index = emotional.
    survey_only = loyalty_index(LoyaltyComponents(nps=-100, csat=0.0))
    assert survey_only.index == 0.0 and survey_only.behavioural is None


def test_loyalty_index_no_data_is_none():
    assert loyalty_index(LoyaltyComponents()) is None
    # data present only for components the clinic weighs 0
    weights = LoyaltyWeights(
        nps=1.0, csat=0, would_return=0, repeat_visit_rate=0, retention_rate=0,
        multi_service_share=0,
    )
    assert loyalty_index(LoyaltyComponents(csat=0.9), weights) is None
    with pytest.raises(ValueError):
        LoyaltyComponents(csat=80)  # shares are fractions, not percent


# --- retention, repeat visits, churn ---------------------------------------


def test_behavioural_rates_worked_example():
    # 400 patients visited last quarter; 180 of them came back this quarter
    assert retention_rate(active_previous=400, returned=180) == 180 / 400 == 0.45
    # 250 patients visited this quarter, 90 of them twice or more
    assert repeat_visit_rate(patients_repeat=90, patients_visited=250) == 0.36
    # 60 of the 250 used more than one service
    assert multi_service_share(patients_multi_service=60, patients_visited=250) == 0.24


def test_behavioural_rates_without_data_are_none():
    assert retention_rate(0, 0) is None
    assert repeat_visit_rate(0, 0) is None
    assert multi_service_share(0, 0) is None
    with pytest.raises(ValueError):
        retention_rate(10, 11)


def test_lost_patients_from_month_histogram():
    # months since last visit -> patients
    histogram = {0: 300, 3: 120, 11: 40, 12: 25, 18: 10, 30: 5}
    # default threshold 12 months: 25 + 10 + 5 = 40
    assert lost_patients(histogram) == 40
    # a clinic with a 6-month threshold: 40 + 25 + 10 + 5 = 80
    assert lost_patients(histogram, lost_after_months=6) == 80
    assert lost_patients({}) == 0


def test_lost_cutoff_and_full_months_agree():
    assert lost_cutoff(date(2025, 6, 30)) == date(2024, 6, 30)
    assert lost_cutoff(date(2025, 3, 31), 1) == date(2025, 2, 28)  # clamped
    assert lost_cutoff(date(2024, 3, 31), 1) == date(2024, 2, 29)  # leap year
    assert full_months_between(date(2024, 6, 30), date(2025, 6, 30)) == 12
    assert full_months_between(date(2024, 7, 1), date(2025, 6, 30)) == 11
    assert full_months_between(date(2025, 1, 31), date(2025, 2, 28)) == 0
    assert full_months_between(date(2025, 1, 31), date(2025, 3, 1)) == 1
    # The SQL cutoff and the Python histogram classify every date alike.
    as_of = date(2025, 3, 31)
    for months in (1, 12):
        cutoff = lost_cutoff(as_of, months)
        for offset in range(0, 800):
            visit = as_of - timedelta(days=offset)
            assert (visit <= cutoff) == (full_months_between(visit, as_of) >= months)


def test_churn_against_inflow_worked_example():
    # 2000 patients on the register; 180 lost, 150 new
    # churn = 180 / 2000 = 0.09 ; inflow = 150 / 2000 = 0.075 -> base shrinking
    result = churn_vs_inflow(lost=180, new=150, total_patients=2000)
    assert result.churn == 0.09
    assert result.inflow == 0.075
    assert result.net == pytest.approx(0.075 - 0.09)
    assert result.churn_exceeds_inflow is True
    growing = churn_vs_inflow(lost=100, new=150, total_patients=2000)
    assert growing.churn_exceeds_inflow is False
    empty = churn_vs_inflow(0, 0, 0)
    assert empty.churn is None and empty.inflow is None and empty.net is None
    assert empty.churn_exceeds_inflow is False


# --- revenue per patient and LTV ------------------------------------------


def test_ltv_worked_example():
    # 12 000 000 revenue in the year from 1 500 patients -> 8 000 per patient
    arpp = revenue_per_patient(12_000_000, 1_500)
    assert arpp == 8_000
    # retention 0.75 year over year -> churn 0.25 -> lifetime 1 / 0.25 = 4 years
    churn = annual_churn_from_retention(0.75)
    assert churn == 0.25
    estimate = ltv(arpp, churn)
    assert estimate.lifetime_years == 4.0
    assert estimate.ltv == 8_000 * 4.0 == 32_000
    assert estimate.lifetime_capped is False
    # with a 40 % gross margin: 8 000 * 0.4 * 4 = 12 800
    assert ltv(arpp, churn, margin=0.4).ltv == pytest.approx(12_800)
    # discounted at 10 %: lifetime = (1 + 0.1) / (0.25 + 0.1) = 3.142857
    assert ltv(arpp, churn, discount_rate=0.1).lifetime_years == pytest.approx(1.1 / 0.35)


def test_ltv_lifetime_is_capped():
    # churn 0.05 -> 1/0.05 = 20 years, capped at 10
    assert expected_lifetime_years(0.05) == (10.0, True)
    # nobody lost: the cap, not infinity
    assert expected_lifetime_years(0.0) == (10.0, True)
    assert ltv(5_000, 0.0, max_lifetime_years=6).ltv == 30_000
    # churn 1: everyone leaves within the year -> one year
    assert expected_lifetime_years(1.0) == (1.0, False)


def test_ltv_without_data_is_none():
    assert revenue_per_patient(0, 0) is None
    assert ltv(None, 0.2) is None
    assert ltv(8_000, None) is None
    assert annual_churn_from_retention(None) is None
    assert observed_cohort_ltv(0, 0) is None
    # cohort of 200 patients first seen in 2023 brought 3 100 000 so far
    assert observed_cohort_ltv(3_100_000, 200) == 15_500


# --- loyalty programme ----------------------------------------------------


def test_programme_worked_example():
    # points programme: running cost 100 000, forgone revenue 50 000 -> cost 150 000
    # bonuses awarded 80 000, redeemed 50 000 -> redemption 0.625
    # profit 1 000 000 before, 1 200 000 after -> incremental 200 000
    # ROI = (200 000 - 150 000) / 150 000 = 0.3333
    result = evaluate_programme(
        ProgrammeType.POINTS,
        running_cost=100_000,
        forgone_revenue=50_000,
        bonuses_awarded=80_000,
        bonuses_redeemed=50_000,
        retention_before=0.40,
        retention_after=0.46,
        profit_before=1_000_000,
        profit_after=1_200_000,
        participant_retention=0.52,
    )
    assert result.programme_cost == 150_000
    assert result.redemption_rate == 0.625
    assert result.incremental_profit == 200_000
    assert result.roi == pytest.approx(50_000 / 150_000)
    assert result.retention.delta == pytest.approx(0.06)
    assert result.retention.relative == pytest.approx(0.06 / 0.40)
    assert result.warnings == ()
    assert result.low_participant_retention is False


def test_programme_net_profit_is_not_charged_twice():
    # The clinic reports its actual profit after launch, already net of the
    # 150 000 programme cost: 1 050 000. Gross = 1 200 000, same ROI as above.
    result = evaluate_programme(
        "cashback",
        running_cost=100_000,
        forgone_revenue=50_000,
        profit_before=1_000_000,
        profit_after=1_050_000,
        profit_after_is_net=True,
    )
    assert result.programme_type is ProgrammeType.CASHBACK
    assert result.incremental_profit == 200_000
    assert result.roi == pytest.approx(1 / 3)


def test_programme_warning_below_20_percent_participant_retention():
    result = evaluate_programme(
        ProgrammeType.MEMBERSHIP, running_cost=10_000, forgone_revenue=0,
        participant_retention=0.15,
    )
    assert result.low_participant_retention is True
    assert result.warnings == ("low_participant_retention",)
    # exactly 20 % is not below 20 %
    at_threshold = evaluate_programme(
        ProgrammeType.DISCOUNT_TIERS, running_cost=1, forgone_revenue=0,
        participant_retention=0.20,
    )
    assert at_threshold.warnings == ()


def test_programme_undefined_figures_are_none():
    result = evaluate_programme(ProgrammeType.POINTS, running_cost=0, forgone_revenue=0)
    assert result.redemption_rate is None  # nothing awarded
    assert result.roi is None  # no cost, no profit comparison
    assert result.incremental_profit is None
    assert result.retention.delta is None
    assert redemption_rate(0, 0) is None
    assert roi(100, 0) is None
    # a programme that brought nothing back: ROI = (0 - 150 000) / 150 000 = -1
    assert roi(0, 150_000) == -1.0
    with pytest.raises(ValueError):
        evaluate_programme("lottery", running_cost=0, forgone_revenue=0)


# --- scorecards -----------------------------------------------------------


def test_scorecard_worked_example():
    # Doctor with 40 NPS answers: 28 promoters, 8 passives, 4 detractors
    # NPS = 100 * (28 - 4) / 40 = 60
    # var = 0.7 + 0.1 - 0.6^2 = 0.44 ; SE = 100 * sqrt(0.44 / 40) = 10.488
    # CSAT: 35 answers, 30 of them 4-5 -> 30/35 = 0.857
    # sentiment: 32 comments, sum 12.8, sum of squares 9.6
    #   mean = 12.8 / 32 = 0.4 ; s^2 = (9.6 - 12.8^2/32) / 31 = (9.6 - 5.12) / 31 = 0.144516
    #   SE = sqrt(0.144516 / 32) = 0.067202 ; 0.4 +/- 1.96 * 0.067202
    # repeat visits: 18 of 45 patients -> 0.4
    card = scorecard(
        "doctor",
        17,
        nps_counts=NpsCounts(promoters=28, passives=8, detractors=4),
        csat_distribution={5: 20, 4: 10, 3: 3, 1: 2},
        sentiment=SentimentSums(n=32, total=12.8, total_squares=9.6),
        patients_repeat=18,
        patients_visited=45,
    )
    assert card.nps.value == pytest.approx(60.0)
    assert card.nps.interval.low == pytest.approx(60 - Z * 100 * math.sqrt(0.44 / 40))
    assert card.nps.suppressed is False and card.nps.n == 40
    assert card.csat.value == pytest.approx(30 / 35)
    assert (card.csat.interval.low, card.csat.interval.high) == tuple(
        pytest.approx(x) for x in wilson(30, 35)
    )
    assert card.sentiment.value == pytest.approx(0.4)
    se = math.sqrt((9.6 - 5.12) / 31 / 32)
    assert se == pytest.approx(0.067202, abs=1e-6)
    assert card.sentiment.interval.low == pytest.approx(0.4 - Z * se)
    assert card.sentiment.interval.high == pytest.approx(0.4 + Z * se)
    assert card.repeat_visit_rate.value == 0.4
    assert card.min_responses == 30


def test_scorecard_suppresses_below_minimum():
    # 29 answers < 30: no number, no interval, only the flag and the count.
    card = scorecard(
        "branch",
        "north",
        nps_counts=NpsCounts(29, 0, 0),
        csat_distribution={5: 29},
        sentiment=SentimentSums(n=29, total=29.0, total_squares=29.0),
        patients_repeat=10,
        patients_visited=29,
    )
    for cell in (card.nps, card.csat, card.sentiment, card.repeat_visit_rate):
        assert cell.suppressed is True
        assert cell.value is None and cell.interval is None
        assert cell.n == 29
    # exactly the minimum is shown
    shown = scorecard("branch", "north", nps_counts=NpsCounts(30, 0, 0))
    assert shown.nps.suppressed is False and shown.nps.value == 100.0


def test_scorecard_no_data_and_clinic_minimum():
    empty = scorecard("doctor", 1)
    assert empty.nps.suppressed and empty.nps.n == 0 and empty.nps.value is None
    assert empty.sentiment.suppressed and empty.sentiment.value is None
    # a clinic that set the minimum to 10
    card = scorecard(
        "doctor", 1, nps_counts=NpsCounts(6, 2, 2),
        settings=ScorecardSettings(min_responses=10),
    )
    assert card.nps.value == pytest.approx(40.0)  # 100 * (6 - 2) / 10
    with pytest.raises(ValueError):
        ScorecardSettings(min_responses=0)
    with pytest.raises(ValueError):
        scorecard("nurse", 1)


def test_mean_sentiment_edges():
    assert mean_sentiment(SentimentSums(0, 0.0, 0.0)) is None
    assert mean_sentiment(SentimentSums(1, 0.5, 0.25)) == (0.5, None)  # no spread from one
    assert mean_sentiment(SentimentSums(3, 0.9)) == (pytest.approx(0.3), None)


# --- period-over-period comparison ------------------------------------------


def test_compare_worked_examples():
    # NPS 45 this quarter vs 40 last quarter: +5 points, +12.5 %
    change = compare(45, 40)
    assert change.delta == 5 and change.relative == 0.125 and change.direction == 1
    # negative NPS improving from -10 to -5: delta +5, relative +0.5 (by |previous|)
    assert compare(-5, -10).relative == 0.5
    assert compare(30, 40).direction == -1
    assert compare(40, 40).direction == 0


def test_compare_is_none_safe():
    assert compare(None, 40).delta is None
    assert compare(45, None).relative is None
    assert compare(None, None).direction is None
    zero = compare(5, 0)
    assert zero.delta == 5 and zero.relative is None
