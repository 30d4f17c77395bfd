"""Reading snapshots: counts from app.analytics.compute turned into metrics with app.metrics.

Dashboards, the report, the exports and ``flask metrics show`` read only snapshot
rows (and the clinic's small reference tables for names), never responses or visits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from app.analytics.compute import ALL, CLINIC
from app.cases import case_handling
from app.extensions import db
from app.metrics import (LoyaltyComponents, LoyaltyWeights, Period, ScorecardSettings, churn_vs_inflow, compare,
                         csat, csat_from_counts, loyalty_index, multi_service_share, nps_from_distribution,
                         repeat_visit_rate, retention_rate, revenue_per_patient, scorecard)
from app.metrics.ltv import annual_churn_from_retention, ltv
from app.metrics.nps import classify
from app.metrics.programme import evaluate_programme
from app.metrics.scorecard import SentimentSums
from app.models import Branch, CollectionPoint, Doctor, MetricSnapshot, Tenant
from tenants.settings import clinic_settings


@dataclass
class Overview:
    """A clinic's (or segment's) figures for one period: metric results and the counts behind them."""

    period: Period
    responses: int = 0
    nps: object = None
    nps_distribution: list = field(default_factory=lambda: [0] * 11)
    csat: dict = field(default_factory=dict)
    csat_overall: object = None
    would_return: float | None = None
    sentiment_mean: float | None = None
    at_risk: int = 0
    critical: int = 0
    patients: int = 0
    visits: int = 0
    revenue: float = 0.0
    revenue_per_patient: float | None = None
    repeat_visit_rate: float | None = None
    multi_service_share: float | None = None
    retention_rate: float | None = None
    churn: object = None
    loyalty: object = None
    bonuses_awarded: float = 0.0
    bonuses_redeemed: float = 0.0
    participant_retention: float | None = None
    counts: dict = field(default_factory=dict)

    @property
    def nps_score(self) -> float | None:
        return None if self.nps is None else self.nps.score

    @property
    def loyalty_index(self) -> float | None:
        return None if self.loyalty is None else self.loyalty.index

    @property
    def csat_share(self) -> float | None:
        return None if self.csat_overall is None else self.csat_overall.share


def loyalty_weights(tenant: Tenant) -> LoyaltyWeights:
    """The clinic's loyalty index weights; invalid stored weights fall back to the defaults."""
    stored = clinic_settings(tenant).loyalty_weights
    if not stored:
        return LoyaltyWeights()
    try:
        return LoyaltyWeights(**{k: float(v) for k, v in stored.items()})
    except (TypeError, ValueError):
        return LoyaltyWeights()


def snapshots(tenant: Tenant, labels: list[str], kind: str | None = None) -> dict[tuple[str, str, str], dict]:
    """Snapshot counts ``{(period, kind, key): counts}`` for some periods (and one segment kind)."""
    query = select(MetricSnapshot.period, MetricSnapshot.segment_kind, MetricSnapshot.segment_key,
                   MetricSnapshot.counts).where(MetricSnapshot.tenant_id == tenant.id,
                                                MetricSnapshot.period.in_(labels))
    if kind is not None:
        query = query.where(MetricSnapshot.segment_kind == kind)
    return {(row.period, row.segment_kind, row.segment_key): row.counts for row in db.session.execute(query)}


def build_overview(period: Period, counts: dict | None, weights: LoyaltyWeights | None = None) -> Overview:
    """Apply the formulas to one snapshot's counts (``None`` → an empty overview, every metric ``None``)."""
    result = Overview(period=period, counts=counts or {})
    survey = (counts or {}).get("survey") or {}
    visits = (counts or {}).get("visits") or {}
    result.responses = survey.get("responses", 0)
    distribution = survey.get("nps_distribution") or [0] * 11
    result.nps_distribution = distribution
    result.nps = nps_from_distribution(distribution)
    result.csat = {aspect: csat(dist, aspect=aspect) for aspect, dist in sorted((survey.get("csat") or {}).items())}
    satisfied = sum(dist[3] + dist[4] for dist in (survey.get("csat") or {}).values())
    rated = sum(sum(dist) for dist in (survey.get("csat") or {}).values())
    result.csat_overall = csat_from_counts(satisfied, rated)
    if survey.get("would_return_n"):
        result.would_return = survey["would_return_yes"] / survey["would_return_n"]
    if survey.get("sentiment_n"):
        result.sentiment_mean = survey["sentiment_sum"] / survey["sentiment_n"]
    result.at_risk, result.critical = survey.get("at_risk", 0), survey.get("critical", 0)
    result.patients, result.visits = visits.get("patients", 0), visits.get("visits", 0)
    result.revenue = visits.get("revenue_kopecks", 0) / 100
    result.revenue_per_patient = revenue_per_patient(result.revenue, result.patients)
    result.repeat_visit_rate = repeat_visit_rate(visits.get("patients_repeat", 0), result.patients)
    result.multi_service_share = multi_service_share(visits.get("patients_multi_service", 0), result.patients)
    result.retention_rate = retention_rate(visits.get("active_previous", 0), visits.get("returned", 0))
    if "register" in visits:
        result.churn = churn_vs_inflow(visits["lost"], visits["new_on_register"], visits["register"])
    result.bonuses_awarded = visits.get("bonuses_awarded_kopecks", 0) / 100
    result.bonuses_redeemed = visits.get("bonuses_redeemed_kopecks", 0) / 100
    if visits.get("participants_previous"):
        result.participant_retention = visits["participants_returned"] / visits["participants_previous"]
    result.loyalty = loyalty_index(LoyaltyComponents(
        nps=result.nps_score, csat=result.csat_share, would_return=result.would_return,
        repeat_visit_rate=result.repeat_visit_rate, retention_rate=result.retention_rate,
        multi_service_share=result.multi_service_share), weights)
    return result


@dataclass
class Comparison:
    """A period's overview with the previous period's and the same period's last year."""

    current: Overview
    previous: Overview
    last_year: Overview

    def change(self, attr: str):
        """``(vs previous, vs last year)`` as app.metrics.compare.Change values."""
        value = getattr(self.current, attr)
        return (compare(value, getattr(self.previous, attr)), compare(value, getattr(self.last_year, attr)))


def overview(tenant: Tenant, period: Period, kind: str = CLINIC, key: str = ALL) -> Comparison:
    """The clinic's (or a segment's) overview of ``period`` with both comparisons."""
    periods = [period, period.previous(), period.same_period_last_year()]
    rows = snapshots(tenant, [p.label for p in periods], kind)
    weights = loyalty_weights(tenant)
    built = [build_overview(p, rows.get((p.label, kind, key)), weights) for p in periods]
    return Comparison(*built)


def trend(tenant: Tenant, period: Period, months: int = 12) -> list[Overview]:
    """The clinic's overview for each of the ``months`` months ending with the period's last month."""
    last = Period.containing(period.last_day, "month")
    series = [last]
    while len(series) < months:
        series.insert(0, series[0].previous())
    rows = snapshots(tenant, [p.label for p in series], CLINIC)
    weights = loyalty_weights(tenant)
    return [build_overview(p, rows.get((p.label, CLINIC, ALL)), weights) for p in series]


def _names(kind: str) -> dict[str, str]:
    if kind == "branch":
        return {str(i): n for i, n in db.session.execute(select(Branch.id, Branch.name))}
    if kind == "doctor":
        return {str(i): n for i, n in db.session.execute(select(Doctor.id, Doctor.full_name))}
    if kind == "point":
        return {str(i): n for i, n in db.session.execute(select(CollectionPoint.id, CollectionPoint.name))}
    return {}


@dataclass
class SegmentRow:
    """One segment's overview in a segment table or a scorecard."""

    kind: str
    key: str
    name: str
    overview: Overview
    scorecard: object = None


def segment_rows(tenant: Tenant, period: Period, kind: str) -> list[SegmentRow]:
    """Every segment of ``kind`` with data in the period, named, with its overview; by name."""
    rows = snapshots(tenant, [period.label], kind)
    names = _names(kind)
    weights = loyalty_weights(tenant)
    result = [SegmentRow(kind, key, names.get(key, key), build_overview(period, counts, weights))
              for (_, _, key), counts in rows.items()]
    return sorted(result, key=lambda r: (r.key == "", r.name.lower()))


def scorecards(tenant: Tenant, period: Period, kind: str) -> list[SegmentRow]:
    """Doctor or branch scorecards of the period, suppressed below the clinic's minimum sample."""
    settings = ScorecardSettings(min_responses=max(1, clinic_settings(tenant).min_sample))
    rows = [row for row in segment_rows(tenant, period, kind) if row.key]
    for row in rows:
        survey = row.overview.counts.get("survey") or {}
        visits = row.overview.counts.get("visits") or {}
        csat_total = [0] * 5
        for dist in (survey.get("csat") or {}).values():
            csat_total = [a + b for a, b in zip(csat_total, dist)]
        row.scorecard = scorecard(
            kind, row.key, nps_counts=classify(survey.get("nps_distribution") or [0] * 11),
            csat_distribution=csat_total,
            sentiment=SentimentSums(survey.get("sentiment_n", 0), survey.get("sentiment_sum", 0.0),
                                    survey.get("sentiment_squares", 0.0)),
            patients_repeat=visits.get("patients_repeat", 0), patients_visited=visits.get("patients", 0),
            settings=settings)
    return rows


def programme_evaluation(tenant: Tenant, period: Period):
    """The loyalty programme's evaluation for ``period`` against the same period a year earlier.

    ``None`` when the clinic has not described a programme in its settings.
    Revenue stands for profit before programme costs (the CRM export carries no costs).
    """
    settings = clinic_settings(tenant)
    if not settings.programme_type:
        return None
    comparison = overview(tenant, period)
    current, before = comparison.current, comparison.last_year
    return evaluate_programme(
        settings.programme_type, running_cost=settings.programme_running_cost,
        forgone_revenue=settings.programme_forgone_revenue,
        bonuses_awarded=current.bonuses_awarded, bonuses_redeemed=current.bonuses_redeemed,
        retention_before=before.retention_rate, retention_after=current.retention_rate,
        profit_before=before.revenue if before.patients else None,
        profit_after=current.revenue if current.patients else None,
        participant_retention=current.participant_retention)


def annual_ltv(tenant: Tenant, period: Period, today: date | None = None):
    """LTV from the last calendar year that had ended by the period's end (and by yesterday):
    revenue per patient and year-over-year retention.

    A year still running would not do: in mid-January its revenue per patient covers two weeks
    and its retention the few patients back so far, so the LTV would rise from a tenth of its
    value in January to the whole of it in December.
    """
    from datetime import timedelta

    from tenants.resolve import clinic_local_now

    today = today or clinic_local_now(tenant).date()
    known_by = min(period.last_day, today - timedelta(days=1))
    year = Period.containing(known_by, "year")
    if known_by != year.last_day:  # that year was not over yet: the one before is the last whole one
        year = year.previous()
    row = snapshots(tenant, [year.label], CLINIC).get((year.label, CLINIC, ALL))
    current = build_overview(year, row)
    try:
        churn = annual_churn_from_retention(current.retention_rate)
    except ValueError:
        churn = None
    return ltv(current.revenue_per_patient, churn)


def latest_period(tenant: Tenant, today: date) -> Period:
    """The current month in the clinic's calendar (the dashboard's default)."""
    return Period.containing(today, "month")


def overview_json(tenant: Tenant, period: Period) -> dict:
    """The overview as plain JSON (for ``flask metrics show --json`` and the API)."""
    comparison = overview(tenant, period)
    o = comparison.current

    def r(value, digits=4):
        return None if value is None else round(value, digits)

    def interval(result):
        return None if result is None else [r(result.interval.low), r(result.interval.high)]

    churn = o.churn
    lifetime = annual_ltv(tenant, period)
    handled = case_handling(*period.bounds_utc(tenant.timezone))
    return {
        "clinic": tenant.slug, "period": period.label,
        "period_start": period.start.isoformat(), "period_end": period.last_day.isoformat(),
        "responses": o.responses,
        "nps": r(o.nps_score, 2), "nps_interval": interval(o.nps),
        "nps_counts": None if o.nps is None else {"promoters": o.nps.promoters, "passives": o.nps.passives,
                                                    "detractors": o.nps.detractors},
        "nps_distribution": list(o.nps_distribution),
        "csat": {aspect: None if res is None else {"share": r(res.share), "n": res.n, "interval": interval(res)}
                 for aspect, res in o.csat.items()},
        "csat_overall": r(o.csat_share),
        "would_return": r(o.would_return), "sentiment_mean": r(o.sentiment_mean),
        "at_risk": o.at_risk, "critical": o.critical,
        "patients": o.patients, "visits": o.visits, "revenue": round(o.revenue, 2),
        "revenue_per_patient": r(o.revenue_per_patient, 2),
        "repeat_visit_rate": r(o.repeat_visit_rate), "multi_service_share": r(o.multi_service_share),
        "retention_rate": r(o.retention_rate),
        "churn": None if churn is None else r(churn.churn), "inflow": None if churn is None else r(churn.inflow),
        "lost_patients": None if churn is None else churn.lost, "new_patients": None if churn is None else churn.new,
        "churn_exceeds_inflow": None if churn is None else churn.churn_exceeds_inflow,
        "loyalty_index": r(o.loyalty_index, 2),
        "ltv": None if lifetime is None else round(lifetime.ltv, 2),
        "cases": {"opened": handled.opened, "resolved": handled.resolved,
                  "resolved_on_time": r(handled.on_time_share),
                  "hours_to_resolve": r(handled.median_hours_to_resolve, 2),
                  "hours_to_first_contact": r(handled.median_hours_to_contact, 2)},
        "previous": {"period": comparison.previous.period.label, "nps": r(comparison.previous.nps_score, 2),
                     "loyalty_index": r(comparison.previous.loyalty_index, 2),
                     "retention_rate": r(comparison.previous.retention_rate)},
        "last_year": {"period": comparison.last_year.period.label, "nps": r(comparison.last_year.nps_score, 2),
                      "loyalty_index": r(comparison.last_year.loyalty_index, 2),
                      "retention_rate": r(comparison.last_year.retention_rate)},
    }
