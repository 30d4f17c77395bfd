"""The workspace's first page: what needs a manager now, and how the week is going.

It is the daily digest's reading of the clinic, live and without contact details: the cases
waiting for someone (overdue first), the last day's answers and risks, NPS and CSAT of the
last seven days against the seven before, and the web reputation when the clinic has it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from app import cases as case_rules
from app.digest import MetricChange, metric_changes
from app.extensions import db
from app.models import Case, Response, utcnow

CASES_SHOWN = 6
REVIEWS_SHOWN = 3


@dataclass
class DayCounts:
    """Answers of the last 24 hours."""

    answers: int
    at_risk: int
    critical: int
    callbacks: int  # red-button answers: the patient asked for a call


@dataclass
class Overview:
    now: datetime
    day: DayCounts
    cases: case_rules.CaseCounts
    waiting_cases: list[Case]
    nps_week: MetricChange
    csat_week: MetricChange
    reputation: dict | None
    negative_reviews: list[dict]


def day_counts(since: datetime, until: datetime) -> DayCounts:
    answers, at_risk, critical, callbacks = db.session.execute(select(
        func.count(Response.id),
        func.sum(sql_case((Response.risk_level.in_(("at_risk", "critical")), 1), else_=0)),
        func.sum(sql_case((Response.risk_level == "critical", 1), else_=0)),
        func.sum(sql_case((Response.urgent.is_(True), 1), else_=0)),
    ).where(Response.submitted_at >= since, Response.submitted_at < until)).one()
    return DayCounts(int(answers or 0), int(at_risk or 0), int(critical or 0), int(callbacks or 0))


def clinic_overview(user_id: int | None, now: datetime | None = None) -> Overview:
    """The current clinic's overview for the member ``user_id`` (call in the clinic's scope)."""
    now = now or utcnow()
    # Open cases, the overdue ones first (they come first by deadline), then the rest by deadline.
    waiting = db.session.scalars(case_rules.case_list_query("open", user_id, now).limit(CASES_SHOWN)).all()
    _, nps_week, _, csat_week = metric_changes(now)
    reputation, reviews = _reputation(now)
    return Overview(now=now, day=day_counts(now - timedelta(days=1), now),
                    cases=case_rules.case_counts(user_id, now), waiting_cases=list(waiting),
                    nps_week=nps_week, csat_week=csat_week, reputation=reputation, negative_reviews=reviews)


def _reputation(now: datetime) -> tuple[dict | None, list[dict]]:
    from app.reputation import service

    card = service.dashboard_card()
    if card is None:  # the clinic's licence has no reputation module
        return None, []
    return card, service.new_negative_reviews(now - timedelta(days=7), limit=REVIEWS_SHOWN)
