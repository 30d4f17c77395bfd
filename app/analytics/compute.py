"""SQL aggregation of responses and visits into metric snapshots.

SQL does the counting (this module), Python does the formula (app.metrics, applied
when snapshots are read in app.analytics.read). One snapshot row holds the counts
of one clinic, period and segment. Response instants are filtered with the
period's UTC bounds in the clinic's time zone; visits carry the clinic's local
date already. Every query names the clinic explicitly (besides the ORM scope and
row-level security) so the (tenant, date) indexes are used.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import String, and_, case, cast, delete, distinct, func, literal, select

from app.extensions import db
from app.metrics.periods import Period, PeriodKind, local_date
from app.metrics.retention import lost_cutoff
from app.models import (Doctor, MetricSnapshot, Patient, Response, ResponseRating, Tenant, Visit, utcnow)
from tenants.settings import clinic_settings

CLINIC = "clinic"
ALL = "all"
# Segments of survey answers and of visits; "clinic" is the whole clinic.
RESPONSE_SEGMENTS = (CLINIC, "branch", "doctor", "specialty", "point")
VISIT_SEGMENTS = (CLINIC, "branch", "doctor", "specialty", "gender", "age_band", "district")
SEGMENT_KINDS = (CLINIC, "branch", "doctor", "specialty", "point", "gender", "age_band", "district")
AGE_BANDS = ((0, 17, "0-17"), (18, 29, "18-29"), (30, 44, "30-44"), (45, 59, "45-59"), (60, 200, "60+"))
PERIOD_KINDS = (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR)
# Never walk further back than this when looking for a clinic's first data.
MAX_HISTORY_YEARS = 15


def _key(column):
    # One text key per segment; NULL becomes "" so joins on the key match "no branch" too.
    return func.coalesce(cast(column, String), literal(""))


def _response_key(kind: str):
    if kind == CLINIC:
        return literal(ALL), []
    if kind == "branch":
        return _key(Response.branch_id), []
    if kind == "doctor":
        return _key(Response.doctor_id), []
    if kind == "point":
        return _key(Response.collection_point_id), []
    if kind == "specialty":
        return func.coalesce(Doctor.specialty, literal("")), [Doctor]
    raise ValueError(kind)


def _visit_key(kind: str, period: Period):
    if kind == CLINIC:
        return literal(ALL)
    if kind == "branch":
        return _key(Visit.branch_id)
    if kind == "doctor":
        return _key(Visit.doctor_id)
    if kind == "specialty":
        return func.coalesce(Doctor.specialty, literal(""))
    if kind == "gender":
        return func.coalesce(Patient.gender, literal(""))
    if kind == "district":
        return func.coalesce(Patient.district, literal(""))
    if kind == "age_band":
        # Age in the period's first year, from the birth year (all the CRM gives).
        age = literal(period.start.year) - Patient.birth_year
        return case(*[(and_(age >= low, age <= high), literal(label)) for low, high, label in AGE_BANDS],
                    else_=literal(""))
    raise ValueError(kind)


def _visit_from(kind: str, tenant_id: int, query):
    query = query.select_from(Visit).join(Patient, Patient.id == Visit.patient_id)
    if kind == "specialty":
        query = query.outerjoin(Doctor, Doctor.id == Visit.doctor_id)
    return query.where(Visit.tenant_id == tenant_id)


def _grouping(kind: str, key, *others) -> list:
    # PostgreSQL refuses GROUP BY a constant: the whole clinic is grouped by nothing (or the others).
    return list(others) if kind == CLINIC else [key, *others]


def count_if(condition):
    """How many rows of the group meet ``condition`` (portable: SUM of a CASE)."""
    return func.sum(case((condition, 1), else_=0))


def response_counts(tenant: Tenant, period: Period) -> dict[tuple[str, str], dict]:
    """Survey counts per segment: NPS distribution, would-return, sentiment sums, risk, CSAT by aspect."""
    start, end = period.bounds_utc(tenant.timezone)
    in_period = and_(Response.tenant_id == tenant.id, Response.submitted_at >= start, Response.submitted_at < end)
    out: dict[tuple[str, str], dict] = {}
    for kind in RESPONSE_SEGMENTS:
        key, joins = _response_key(kind)
        columns = [key.label("k"), func.count().label("responses"), func.count(Response.nps).label("nps_n"),
                   *[count_if(Response.nps == score).label(f"nps{score}") for score in range(11)],
                   count_if(Response.would_return.is_(True)).label("return_yes"),
                   func.count(Response.would_return).label("return_n"),
                   func.count(Response.sentiment_polarity).label("sent_n"),
                   func.sum(Response.sentiment_polarity).label("sent_sum"),
                   func.sum(Response.sentiment_polarity * Response.sentiment_polarity).label("sent_sq"),
                   count_if(Response.risk_level == "at_risk").label("at_risk"),
                   count_if(Response.risk_level == "critical").label("critical")]
        query = select(*columns).select_from(Response)
        if joins:
            query = query.outerjoin(Doctor, Doctor.id == Response.doctor_id)
        for row in db.session.execute(query.where(in_period).group_by(*_grouping(kind, key))):
            out[(kind, row.k)] = {
                "responses": row.responses,
                "nps_distribution": [getattr(row, f"nps{score}") or 0 for score in range(11)],
                "would_return_yes": row.return_yes or 0, "would_return_n": row.return_n,
                "sentiment_n": row.sent_n, "sentiment_sum": round(float(row.sent_sum or 0), 6),
                "sentiment_squares": round(float(row.sent_sq or 0), 6),
                "at_risk": row.at_risk or 0, "critical": row.critical or 0, "csat": {},
            }
        rating_query = select(key.label("k"), ResponseRating.aspect, ResponseRating.score, func.count().label("n")) \
            .select_from(ResponseRating).join(Response, Response.id == ResponseRating.response_id)
        if joins:
            rating_query = rating_query.outerjoin(Doctor, Doctor.id == Response.doctor_id)
        rating_query = rating_query.where(in_period, ResponseRating.tenant_id == tenant.id) \
            .group_by(*_grouping(kind, key, ResponseRating.aspect, ResponseRating.score))
        for row in db.session.execute(rating_query):
            counts = out.setdefault((kind, row.k), _empty_response_counts())
            distribution = counts["csat"].setdefault(row.aspect, [0, 0, 0, 0, 0])
            if 1 <= row.score <= 5:
                distribution[row.score - 1] += row.n
    return out


def _empty_response_counts() -> dict:
    return {"responses": 0, "nps_distribution": [0] * 11, "would_return_yes": 0, "would_return_n": 0,
            "sentiment_n": 0, "sentiment_sum": 0.0, "sentiment_squares": 0.0, "at_risk": 0, "critical": 0,
            "csat": {}}


def visit_counts(tenant: Tenant, period: Period, lost_after_months: int) -> dict[tuple[str, str], dict]:
    """Visit counts per segment: patients, repeat and multi-service patients, revenue, bonuses, new,
    retention against the previous period; for the whole clinic also churn against inflow."""
    tid = tenant.id
    previous = period.previous()
    out: dict[tuple[str, str], dict] = {}
    for kind in VISIT_SEGMENTS:
        key = _visit_key(kind, period)
        per_patient = _visit_from(kind, tid, select(
            Visit.patient_id.label("patient_id"), key.label("k"), func.count().label("visits"),
            func.count(distinct(Visit.service)).label("services"),
            func.sum(Visit.amount_kopecks).label("revenue"),
            func.sum(Visit.bonuses_awarded_kopecks).label("awarded"),
            func.sum(Visit.bonuses_redeemed_kopecks).label("redeemed"),
            func.min(Patient.first_visit_on).label("first_visit_on"),
        )).where(Visit.visited_on >= period.start, Visit.visited_on < period.end) \
            .group_by(*_grouping(kind, key, Visit.patient_id)).subquery()
        query = select(
            per_patient.c.k, func.count().label("patients"), count_if(per_patient.c.visits >= 2).label("repeat"),
            count_if(per_patient.c.services > 1).label("multi"), func.sum(per_patient.c.visits).label("visits"),
            func.sum(per_patient.c.revenue).label("revenue"), func.sum(per_patient.c.awarded).label("awarded"),
            func.sum(per_patient.c.redeemed).label("redeemed"),
            count_if(and_(per_patient.c.first_visit_on >= period.start,
                           per_patient.c.first_visit_on < period.end)).label("new"),
        ).group_by(per_patient.c.k)
        for row in db.session.execute(query):
            out[(kind, row.k)] = {
                "patients": row.patients, "patients_repeat": row.repeat or 0, "patients_multi_service": row.multi or 0,
                "visits": int(row.visits or 0), "revenue_kopecks": int(row.revenue or 0),
                "bonuses_awarded_kopecks": int(row.awarded or 0), "bonuses_redeemed_kopecks": int(row.redeemed or 0),
                "new_patients": row.new or 0, "active_previous": 0, "returned": 0,
            }
        # Retention: the previous period's patients of this segment who came back to it in this one.
        for row in db.session.execute(_retention_query(kind, tid, key, previous, period)):
            counts = out.setdefault((kind, row.k), _empty_visit_counts())
            counts["active_previous"], counts["returned"] = int(row.active), int(row.returned or 0)
    clinic = out.setdefault((CLINIC, ALL), _empty_visit_counts())
    clinic.update(_churn_counts(tid, period, lost_after_months))
    clinic.update(_participant_retention(tid, period))
    return out


def _retention_query(kind: str, tenant_id: int, key, previous: Period, period: Period):
    """Per segment: patients with a visit in ``previous`` and how many of them came back in ``period``.

    One pass over both periods' visits, grouped by patient, rather than a join of the two
    periods' patient sets: right after a bulk import the planner has no statistics yet and
    would loop over one set for every row of the other.
    """
    before = and_(Visit.visited_on >= previous.start, Visit.visited_on < previous.end)
    during = and_(Visit.visited_on >= period.start, Visit.visited_on < period.end)
    per_patient = _visit_from(kind, tenant_id, select(
        key.label("k"), func.max(case((before, 1), else_=0)).label("was"),
        func.max(case((during, 1), else_=0)).label("is_back"),
    )).where(Visit.visited_on >= min(previous.start, period.start), Visit.visited_on < max(previous.end, period.end)) \
        .group_by(*_grouping(kind, key, Visit.patient_id)).subquery()
    return select(per_patient.c.k, func.sum(per_patient.c.was).label("active"),
                  count_if(and_(per_patient.c.was == 1, per_patient.c.is_back == 1)).label("returned")) \
        .group_by(per_patient.c.k).having(func.sum(per_patient.c.was) > 0)


def _empty_visit_counts() -> dict:
    return {"patients": 0, "patients_repeat": 0, "patients_multi_service": 0, "visits": 0, "revenue_kopecks": 0,
            "bonuses_awarded_kopecks": 0, "bonuses_redeemed_kopecks": 0, "new_patients": 0,
            "active_previous": 0, "returned": 0}


def _churn_counts(tenant_id: int, period: Period, lost_after_months: int) -> dict:
    """Patients on the register, lost during the period and new in it (whole clinic).

    Register: patients with a visit before the period's end who were not already lost
    on the eve of the period. Lost during the period: of those, patients whose last
    visit is at least N full months before the period's last day.
    """
    cut_start = lost_cutoff(period.start - timedelta(days=1), lost_after_months)
    cut_end = lost_cutoff(period.last_day, lost_after_months)
    last = select(Visit.patient_id, func.max(Visit.visited_on).label("last")) \
        .where(Visit.tenant_id == tenant_id, Visit.visited_on < period.end) \
        .group_by(Visit.patient_id).subquery()
    row = db.session.execute(
        select(func.count().label("register"), count_if(last.c.last <= cut_end).label("lost"))
        .where(last.c.last > cut_start)).one()
    new = db.session.scalar(select(func.count()).select_from(Patient).where(
        Patient.tenant_id == tenant_id, Patient.first_visit_on >= period.start, Patient.first_visit_on < period.end))
    return {"register": row.register or 0, "lost": row.lost or 0, "new_on_register": new or 0,
            "lost_after_months": lost_after_months}


def _participant_retention(tenant_id: int, period: Period) -> dict:
    """Loyalty-programme participants of the previous period (bonuses awarded or redeemed) who came back.

    One pass grouped by patient, for the same reason as ``_retention_query``.
    """
    previous = period.previous()
    took_part = and_(Visit.visited_on >= previous.start, Visit.visited_on < previous.end,
                     (Visit.bonuses_awarded_kopecks + Visit.bonuses_redeemed_kopecks) > 0)
    during = and_(Visit.visited_on >= period.start, Visit.visited_on < period.end)
    per_patient = select(func.max(case((took_part, 1), else_=0)).label("took_part"),
                         func.max(case((during, 1), else_=0)).label("is_back")) \
        .where(Visit.tenant_id == tenant_id, Visit.visited_on >= min(previous.start, period.start),
               Visit.visited_on < max(previous.end, period.end)) \
        .group_by(Visit.patient_id).subquery()
    row = db.session.execute(select(func.sum(per_patient.c.took_part).label("participants"),
                                    count_if(and_(per_patient.c.took_part == 1, per_patient.c.is_back == 1))
                                    .label("returned"))).one()
    return {"participants_previous": int(row.participants or 0), "participants_returned": int(row.returned or 0)}


def sum_survey_counts(parts: list[dict[tuple[str, str], dict]]) -> dict[tuple[str, str], dict]:
    """Add up survey counts of consecutive periods (months into a quarter or a year).

    Survey counts are additive because a longer period's UTC bounds are exactly the
    union of its months' bounds; visit counts (distinct patients) are not, and are
    always queried for the period itself.
    """
    total: dict[tuple[str, str], dict] = {}
    for part in parts:
        for key, counts in part.items():
            into = total.setdefault(key, _empty_response_counts())
            for name in ("responses", "would_return_yes", "would_return_n", "sentiment_n", "at_risk", "critical"):
                into[name] += counts[name]
            for name in ("sentiment_sum", "sentiment_squares"):
                into[name] = round(into[name] + counts[name], 6)
            into["nps_distribution"] = [a + b for a, b in zip(into["nps_distribution"], counts["nps_distribution"])]
            for aspect, distribution in counts["csat"].items():
                mine = into["csat"].setdefault(aspect, [0, 0, 0, 0, 0])
                into["csat"][aspect] = [a + b for a, b in zip(mine, distribution)]
    return total


def period_counts(tenant: Tenant, period: Period,
                  survey: dict[tuple[str, str], dict] | None = None) -> dict[tuple[str, str], dict]:
    """All snapshot counts of one period: ``{(segment kind, key): counts}``.

    ``survey`` passes survey counts already known (summed from the period's months).
    """
    settings = clinic_settings(tenant)
    merged: dict[tuple[str, str], dict] = defaultdict(dict)
    for key, counts in (response_counts(tenant, period) if survey is None else survey).items():
        merged[key]["survey"] = counts
    for key, counts in visit_counts(tenant, period, settings.lost_after_months).items():
        merged[key]["visits"] = counts
    merged[(CLINIC, ALL)].setdefault("survey", _empty_response_counts())
    merged[(CLINIC, ALL)].setdefault("visits", _empty_visit_counts())
    return dict(merged)


def store_period(tenant: Tenant, period: Period, survey: dict[tuple[str, str], dict] | None = None
                 ) -> dict[tuple[str, str], dict]:
    """Recompute one period's snapshot rows (replacing the old ones); returns its counts.

    The caller commits; readers see the old or the new rows, never a mix.
    """
    counts = period_counts(tenant, period, survey)
    db.session.execute(delete(MetricSnapshot).where(MetricSnapshot.tenant_id == tenant.id,
                                                    MetricSnapshot.period == period.label))
    now = utcnow()
    db.session.add_all([
        MetricSnapshot(tenant_id=tenant.id, period=period.label, segment_kind=kind, segment_key=key[:120],
                       counts=data, computed_at=now)
        for (kind, key), data in counts.items()
    ])
    return counts


def data_span(tenant: Tenant) -> tuple[date, date] | None:
    """First and last local dates with a response or a visit, or None for a clinic without data."""
    first_visit, last_visit = db.session.execute(
        select(func.min(Visit.visited_on), func.max(Visit.visited_on)).where(Visit.tenant_id == tenant.id)).one()
    first_response, last_response = db.session.execute(
        select(func.min(Response.submitted_at), func.max(Response.submitted_at))
        .where(Response.tenant_id == tenant.id)).one()
    days = [d for d in (first_visit, last_visit) if d is not None]
    days += [local_date(t, tenant.timezone) for t in (first_response, last_response) if t is not None]
    if not days:
        return None
    return min(days), max(days)


def periods_to_compute(tenant: Tenant, today: date) -> list[Period]:
    """Every month, quarter and year from the clinic's first data to today (or its last data)."""
    span = data_span(tenant)
    if span is None:
        return []
    first = max(span[0], date(today.year - MAX_HISTORY_YEARS, 1, 1))
    last = max(span[1], today)
    periods: list[Period] = []
    for kind in PERIOD_KINDS:
        period = Period.containing(first, kind)
        # Retention of the first period needs nothing before it; the one after the last
        # data matters for churn, so periods run up to today.
        while period.start <= last:
            periods.append(period)
            period = period.next()
    return periods


def periods_containing(day: date) -> list[Period]:
    """The month, quarter and year that contain a local date."""
    return [Period.containing(day, kind) for kind in PERIOD_KINDS]


def _months_of(period: Period) -> list[Period]:
    months = [Period.containing(period.start, PeriodKind.MONTH)]
    while months[-1].end < period.end:
        months.append(months[-1].next())
    return months


def survey_from_stored_months(tenant: Tenant, period: Period) -> dict[tuple[str, str], dict] | None:
    """A quarter's or year's survey counts summed from its months' stored snapshots.

    Survey counts add up across months (unlike visit figures, which count distinct
    patients), so a refresh need not scan a year of responses again. Returns None
    when a month inside the clinic's data span has no snapshot yet: then the caller
    counts from the responses themselves.
    """
    months = _months_of(period)
    rows = db.session.execute(
        select(MetricSnapshot.period, MetricSnapshot.segment_kind, MetricSnapshot.segment_key, MetricSnapshot.counts)
        .where(MetricSnapshot.tenant_id == tenant.id, MetricSnapshot.period.in_([m.label for m in months]))
    ).all()
    by_month: dict[str, dict] = {}
    for label, kind, key, counts in rows:
        survey = by_month.setdefault(label, {})
        if "survey" in counts:
            survey[(kind, key)] = counts["survey"]
    missing = [m for m in months if m.label not in by_month]
    if missing:
        span = data_span(tenant)
        if span is not None and any(m.start <= span[1] and m.end > span[0] for m in missing):
            return None
    return sum_survey_counts(list(by_month.values()))


def recompute_all(tenant: Tenant, today: date, commit_each: bool = True) -> int:
    """Full recompute of a clinic's snapshots; returns the number of periods computed."""
    periods = periods_to_compute(tenant, today)
    labels = {p.label for p in periods}
    stale = db.session.scalars(select(MetricSnapshot.period).where(MetricSnapshot.tenant_id == tenant.id)
                               .distinct()).all()
    for label in set(stale) - labels:
        db.session.execute(delete(MetricSnapshot).where(MetricSnapshot.tenant_id == tenant.id,
                                                        MetricSnapshot.period == label))
    # Months first; a quarter's or year's survey counts are then the sum of its months'.
    month_survey: dict[str, dict] = {}
    for period in periods:
        survey = None
        if period.kind is not PeriodKind.MONTH and month_survey:
            # Months outside the computed span (before the first data, after today) hold no answers.
            first, last = min(month_survey), max(month_survey)
            months = _months_of(period)
            if all(m.label in month_survey or not first <= m.label <= last for m in months):
                survey = sum_survey_counts([month_survey.get(m.label, {}) for m in months])
        counts = store_period(tenant, period, survey)
        if period.kind is PeriodKind.MONTH:
            month_survey[period.label] = {key: c["survey"] for key, c in counts.items() if "survey" in c}
        if commit_each:
            db.session.commit()
    db.session.commit()
    return len(periods)
