"""CSV exports: the period's responses, its metrics with comparisons, and the scorecards."""
from __future__ import annotations

from sqlalchemy import select

from app.analytics import read
from app.cases import case_handling
from app.extensions import db
from app.metrics import Period
from app.metrics.periods import local_date
from app.models import Branch, CollectionPoint, Doctor, Response, Tenant


def responses_rows(tenant: Tenant, period: Period) -> list[list]:
    """Every response of the period (no contact data), oldest first, with a header row."""
    start, end = period.bounds_utc(tenant.timezone)
    branches = dict(db.session.execute(select(Branch.id, Branch.name)).all())
    doctors = dict(db.session.execute(select(Doctor.id, Doctor.full_name)).all())
    points = dict(db.session.execute(select(CollectionPoint.id, CollectionPoint.name)).all())
    rows = [["reference", "submitted_local_date", "branch", "doctor", "collection_point", "nps", "would_return",
             "min_rating", "risk_level", "sentiment", "comment"]]
    query = select(Response).where(Response.submitted_at >= start, Response.submitted_at < end) \
        .order_by(Response.submitted_at, Response.id).execution_options(yield_per=1000)
    for r in db.session.scalars(query):
        rows.append([r.reference, local_date(r.submitted_at, tenant.timezone).isoformat(),
                     branches.get(r.branch_id, ""), doctors.get(r.doctor_id, ""),
                     points.get(r.collection_point_id, ""), r.nps,
                     "" if r.would_return is None else int(r.would_return), r.min_rating, r.risk_level,
                     r.sentiment_polarity, r.comment])
    return rows


METRICS = (("responses", "responses"), ("nps", "nps_score"), ("csat", "csat_share"),
           ("would_return", "would_return"), ("loyalty_index", "loyalty_index"), ("patients", "patients"),
           ("visits", "visits"), ("revenue", "revenue"), ("revenue_per_patient", "revenue_per_patient"),
           ("repeat_visit_rate", "repeat_visit_rate"), ("multi_service_share", "multi_service_share"),
           ("retention_rate", "retention_rate"), ("at_risk", "at_risk"), ("critical", "critical"))
CASE_FIGURES = (("cases_opened", "opened"), ("cases_resolved", "resolved"),
                ("cases_resolved_on_time", "on_time_share"), ("cases_hours_to_resolve", "median_hours_to_resolve"),
                ("cases_hours_to_first_contact", "median_hours_to_contact"))


def metrics_rows(tenant: Tenant, period: Period) -> list[list]:
    """The clinic's metrics of the period beside the previous period and the same period last year."""
    c = read.overview(tenant, period)

    def r(v):
        return None if v is None else round(v, 4)

    rows = [["metric", period.label, c.previous.period.label, c.last_year.period.label]]
    for name, attr in METRICS:
        rows.append([name, r(getattr(c.current, attr)), r(getattr(c.previous, attr)), r(getattr(c.last_year, attr))])
    for o_name in ("churn", "inflow"):
        rows.append([o_name] + [None if o.churn is None else r(getattr(o.churn, o_name))
                                for o in (c.current, c.previous, c.last_year)])
    for aspect, result in c.current.csat.items():
        prev = c.previous.csat.get(aspect)
        last = c.last_year.csat.get(aspect)
        rows.append([f"csat:{aspect}"] + [None if x is None else r(x.share) for x in (result, prev, last)])
    # How the cases opened in each period were handled (app.cases.case_handling).
    handled = [case_handling(*o.period.bounds_utc(tenant.timezone)) for o in (c.current, c.previous, c.last_year)]
    for name, attr in CASE_FIGURES:
        rows.append([name] + [r(getattr(h, attr)) for h in handled])
    return rows


def case_rows(tenant: Tenant, period: Period) -> list[list]:
    """Every case opened in the period, oldest first: where it came from, who had it, and how it went.

    Local times in the clinic's zone. No patient's words and no resolution text (staff sometimes write a
    patient's details into it): those stay in the workspace, where reading them is logged.
    """
    from zoneinfo import ZoneInfo

    from sqlalchemy import func

    from app.cases import clinic_members
    from app.models import Case, CaseEvent

    start, end = period.bounds_utc(tenant.timezone)
    zone = ZoneInfo(tenant.timezone)
    branches = dict(db.session.execute(select(Branch.id, Branch.name)).all())
    doctors = dict(db.session.execute(select(Doctor.id, Doctor.full_name)).all())
    members = dict(clinic_members())
    opened_then = (Case.created_at >= start, Case.created_at < end)
    first_contact = dict(db.session.execute(
        select(CaseEvent.case_id, func.min(CaseEvent.at)).join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.kind == "contact", *opened_then).group_by(CaseEvent.case_id)).all())

    def local(moment):
        return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    def hours(later, earlier):
        return "" if later is None else round(max((later - earlier).total_seconds(), 0) / 3600, 1)

    rows = [["reference", "opened", "origin", "risk_level", "branch", "doctor", "status", "assignee", "deadline",
             "resolved", "resolved_on_time", "hours_to_resolve", "hours_to_first_contact"]]
    query = select(Case, Response.reference, Response.risk_level, Response.branch_id, Response.doctor_id) \
        .join(Response, Response.id == Case.response_id).where(*opened_then).order_by(Case.created_at, Case.id)
    for case, reference, risk_level, branch_id, doctor_id in db.session.execute(query):
        resolved_at = case.resolved_at if case.status == "resolved" else None
        on_time = "" if resolved_at is None else int(case.deadline_at is None or resolved_at <= case.deadline_at)
        rows.append([reference, local(case.created_at), case.origin, risk_level, branches.get(branch_id, ""),
                     doctors.get(doctor_id, ""), case.status, members.get(case.assignee_user_id, ""),
                     local(case.deadline_at), local(resolved_at), on_time, hours(resolved_at, case.created_at),
                     hours(first_contact.get(case.id), case.created_at)])
    return rows


def scorecard_rows(tenant: Tenant, period: Period, web: dict | None = None, handled: dict | None = None) -> list[list]:
    """Doctor and branch scorecards: one row per subject and metric; suppressed cells stay empty.

    ``web``: the web reputation index by (kind, key) as the period ended (the scorecards page's);
    each subject with one gets a ``web_reputation_index`` row, ``n`` being its reviews.
    ``handled``: ``app.cases.case_handling_by_subject`` by (kind, key); each subject with cases opened in
    the period gets ``cases_opened`` and ``cases_resolved_on_time`` rows (``n``: the cases resolved).
    """
    rows = [["kind", "name", "metric", "n", "value", "low", "high", "suppressed"]]
    for kind in ("doctor", "branch"):
        for row in read.scorecards(tenant, period, kind):
            card = row.scorecard
            for metric in ("nps", "csat", "sentiment", "repeat_visit_rate"):
                cell = getattr(card, metric)
                rows.append([kind, row.name, metric, cell.n, None if cell.value is None else round(cell.value, 4),
                             None if cell.interval is None else round(cell.interval.low, 4),
                             None if cell.interval is None else round(cell.interval.high, 4),
                             int(cell.suppressed)])
            index = (web or {}).get((kind, row.key))
            if index is not None and index.index is not None:
                rows.append([kind, row.name, "web_reputation_index", index.reviews, index.index, None, None, 0])
            cases = (handled or {}).get((kind, row.key))
            if cases is not None:
                rows.append([kind, row.name, "cases_opened", cases.opened, cases.opened, None, None, 0])
                rows.append([kind, row.name, "cases_resolved_on_time", cases.resolved, cases.resolved_on_time,
                             None, None, 0])
    return rows
