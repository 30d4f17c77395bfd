"""Revenue per patient and patient lifetime value (LTV).

Definitions::

    revenue per patient  = revenue in the period / patients with >= 1 visit
    lifetime (years)     = min(1 / annual churn, cap)           (cap 10 y)
    LTV                  = annual revenue per patient * margin * lifetime

The lifetime is the mean of a geometric survival model with constant annual
churn ``c``: a patient present this year is still a patient after ``t``
years with probability ``(1 - c)^t``, so the expected number of years
including the current one is ``sum_{t>=0} (1 - c)^t = 1 / c``. This is the
standard "margin multiple" customer-lifetime-value model (Gupta & Lehmann,
"Customers as assets", Journal of Interactive Marketing 17(1), 2003). With an
optional annual discount rate ``d`` the discounted lifetime is
``sum_{t>=0} ((1 - c) / (1 + d))^t = (1 + d) / (c + d)``.

The cap keeps a clinic that lost (almost) nobody this year from showing an
absurd or infinite LTV; churn of 0 gives exactly the cap.

``margin`` defaults to 1.0, i.e. a revenue LTV; pass the clinic's gross
margin (e.g. 0.35) for a profit LTV.

``observed_cohort_ltv`` is the complementary, assumption-free figure: the
revenue a cohort of patients actually brought so far divided by the
cohort's size - a lower bound on the true LTV.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.metrics.intervals import check_counts

DEFAULT_MAX_LIFETIME_YEARS = 10.0


def revenue_per_patient(revenue: float, patients: int) -> float | None:
    """Revenue in a period divided by the patients who visited in it; ``None`` if none did.

    Use annual revenue and the year's patients to get the annual figure
    that ``ltv`` expects.
    """
    patients = check_counts(patients=patients)["patients"]
    if revenue < 0:
        raise ValueError("revenue must be >= 0")
    if patients == 0:
        return None
    return revenue / patients


@dataclass(frozen=True)
class LtvEstimate:
    """An LTV estimate and the figures it was built from (money in the clinic's currency)."""

    ltv: float
    annual_revenue_per_patient: float
    annual_churn: float
    margin: float
    discount_rate: float
    lifetime_years: float
    lifetime_capped: bool


def expected_lifetime_years(
    annual_churn: float,
    discount_rate: float = 0.0,
    max_lifetime_years: float = DEFAULT_MAX_LIFETIME_YEARS,
) -> tuple[float, bool]:
    """Expected (discounted) patient lifetime in years and whether the cap applied.

    ``(1 + d) / (c + d)`` - i.e. ``1 / c`` without discounting - capped at
    ``max_lifetime_years`` (geometric survival with constant churn).
    """
    if not 0.0 <= annual_churn <= 1.0:
        raise ValueError("annual_churn must be within 0..1")
    if discount_rate < 0:
        raise ValueError("discount_rate must be >= 0")
    if max_lifetime_years < 1:
        raise ValueError("max_lifetime_years must be >= 1")
    denominator = annual_churn + discount_rate
    if denominator == 0:
        return max_lifetime_years, True
    lifetime = (1.0 + discount_rate) / denominator
    if lifetime > max_lifetime_years:
        return max_lifetime_years, True
    return lifetime, False


def ltv(
    annual_revenue_per_patient: float | None,
    annual_churn: float | None,
    margin: float = 1.0,
    discount_rate: float = 0.0,
    max_lifetime_years: float = DEFAULT_MAX_LIFETIME_YEARS,
) -> LtvEstimate | None:
    """LTV = annual revenue per patient x margin x min(1 / annual churn, cap).

    Geometric-survival lifetime (Gupta & Lehmann 2003); see the module
    docstring. ``None`` when either input is missing (no patients, or no
    churn figure because the clinic has no previous year of data).
    """
    if annual_revenue_per_patient is None or annual_churn is None:
        return None
    if annual_revenue_per_patient < 0:
        raise ValueError("annual_revenue_per_patient must be >= 0")
    if not 0.0 <= margin <= 1.0:
        raise ValueError("margin must be within 0..1")
    lifetime, capped = expected_lifetime_years(annual_churn, discount_rate, max_lifetime_years)
    return LtvEstimate(
        ltv=annual_revenue_per_patient * margin * lifetime,
        annual_revenue_per_patient=annual_revenue_per_patient,
        annual_churn=annual_churn,
        margin=margin,
        discount_rate=discount_rate,
        lifetime_years=lifetime,
        lifetime_capped=capped,
    )


def annual_churn_from_retention(annual_retention: float | None) -> float | None:
    """Annual churn as ``1 - annual retention`` (``None`` passes through).

    Use the year-over-year ``retention_rate`` so the lifetime reflects the
    clinic's own patients.
    """
    if annual_retention is None:
        return None
    if not 0.0 <= annual_retention <= 1.0:
        raise ValueError("annual_retention must be within 0..1")
    return 1.0 - annual_retention


def observed_cohort_ltv(cohort_revenue: float, cohort_size: int) -> float | None:
    """Revenue a cohort brought so far / cohort size: an observed lower bound on LTV.

    A cohort is the patients whose first visit fell in one period; SQL sums
    all their revenue up to today. ``None`` for an empty cohort.
    """
    return revenue_per_patient(cohort_revenue, cohort_size)
