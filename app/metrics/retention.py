"""Behavioural loyalty: retention, repeat visits, multi-service use, churn.

All functions take counts of patients that SQL has already aggregated for
one clinic/period/segment. Definitions (standard customer-base metrics,
e.g. Reichheld & Sasser, "Zero Defections", HBR 1990, for retention)::

    retention rate      = patients active in the previous period who visited
                          again in this period / patients active in the
                          previous period
    repeat-visit rate   = patients with >= 2 visits in the period /
                          patients with >= 1 visit in the period
    multi-service share = patients who used > 1 service in the period /
                          patients with >= 1 visit in the period
    lost patients       = patients whose last visit is at least N full
                          months ago (N = 12 by default, a clinic setting)
    churn coefficient   = lost patients / all patients on the register
    inflow coefficient  = new patients / all patients on the register

A warning is raised when churn exceeds inflow: the patient base shrinks.
Every rate is a fraction 0..1 and ``None`` when its denominator is 0.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from app.metrics.intervals import check_counts, share

DEFAULT_LOST_AFTER_MONTHS = 12


def retention_rate(active_previous: int, returned: int) -> float | None:
    """Share of the previous period's active patients who visited again this period.

    ``returned / active_previous``; ``None`` when nobody was active before.
    ``returned`` must count only patients who were also active in the
    previous period (new patients do not raise retention).
    """
    return share(returned, active_previous)


def repeat_visit_rate(patients_repeat: int, patients_visited: int) -> float | None:
    """Share of patients with two or more visits among those with at least one.

    ``patients_repeat / patients_visited`` within one period; ``None`` when
    nobody visited.
    """
    return share(patients_repeat, patients_visited)


def multi_service_share(patients_multi_service: int, patients_visited: int) -> float | None:
    """Share of patients who used more than one distinct service in the period.

    ``patients_multi_service / patients_visited``; ``None`` when nobody visited.
    """
    return share(patients_multi_service, patients_visited)


def lost_cutoff(as_of: date, lost_after_months: int = DEFAULT_LOST_AFTER_MONTHS) -> date:
    """Latest last-visit date at which a patient counts as lost on ``as_of``.

    A patient is lost when ``last_visit <= lost_cutoff(as_of, N)``, i.e. at
    least N full calendar months have passed without a visit. The day is
    clamped to the month's length (31 March - 1 month = 28/29 February).
    SQL uses this date in ``WHERE last_visit <= :cutoff``.
    """
    if lost_after_months < 1:
        raise ValueError("lost_after_months must be >= 1")
    month_index = as_of.year * 12 + (as_of.month - 1) - lost_after_months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(as_of.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def full_months_between(earlier: date, later: date) -> int:
    """Number of full calendar months from ``earlier`` to ``later`` (>= 0).

    Consistent with ``lost_cutoff``: ``full_months_between(d, as_of) >= N``
    exactly when ``d <= lost_cutoff(as_of, N)``.
    """
    if later < earlier:
        return 0
    months = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    # A month is complete once the same day-of-month is reached again; a
    # visit on 31 January completes its first month on 1 March, matching
    # the clamped cutoff above.
    if later.day < earlier.day:
        months -= 1
    return max(0, months)


def lost_patients(
    months_since_last_visit: Mapping[int, int],
    lost_after_months: int = DEFAULT_LOST_AFTER_MONTHS,
) -> int:
    """Number of lost patients from a histogram ``{full months since last visit: patients}``.

    Sums the patients whose last visit is at least ``lost_after_months``
    full months ago, so the threshold is a clinic setting applied in Python
    while SQL only groups by the month count.
    """
    if lost_after_months < 1:
        raise ValueError("lost_after_months must be >= 1")
    total = 0
    for months, patients in months_since_last_visit.items():
        count = check_counts(patients=patients)["patients"]
        if months >= lost_after_months:
            total += count
    return total


@dataclass(frozen=True)
class ChurnInflow:
    """Churn against inflow over the same patient base.

    ``churn`` and ``inflow`` are fractions 0..1 (``None`` without patients);
    ``churn_exceeds_inflow`` is the warning flag.
    """

    churn: float | None
    inflow: float | None
    lost: int
    new: int
    total_patients: int

    @property
    def churn_exceeds_inflow(self) -> bool:
        """True when more patients were lost than gained (the base shrinks)."""
        return self.lost > self.new

    @property
    def net(self) -> float | None:
        """``inflow - churn``: the relative growth of the patient base."""
        if self.churn is None or self.inflow is None:
            return None
        return self.inflow - self.churn


def churn_vs_inflow(lost: int, new: int, total_patients: int) -> ChurnInflow:
    """Churn coefficient (lost / all) against inflow coefficient (new / all).

    Both use the same denominator - all patients on the clinic's register
    for the period - so the warning ``churn_exceeds_inflow`` is simply
    ``lost > new``. Coefficients are ``None`` when there are no patients.
    """
    checked = check_counts(lost=lost, new=new, total_patients=total_patients)
    lost, new, total = checked["lost"], checked["new"], checked["total_patients"]
    return ChurnInflow(
        churn=share(lost, total),
        inflow=share(new, total),
        lost=lost,
        new=new,
        total_patients=total,
    )
