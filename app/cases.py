"""Cases: opening them, their lifecycle and deadlines, and the history of every change.

A case is opened automatically for every at-risk or critical response at
submission (so a critical alert always has a case to point at), or by a manager
for any response. Every change writes a ``CaseEvent`` with who and when.

Deadlines are *elapsed* hours from the moment the case opened (12 h for critical,
72 h for at-risk by default, per clinic settings): a clock change in the clinic's
time zone neither shortens nor stretches the time a patient waits. Deadlines are
stored in UTC and shown in the clinic's local time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Float, and_, cast, func, or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (CASE_STATUSES, OPEN_CASE_STATUSES, Case, CaseEvent, Membership, Response, User,
                        utcnow)
from tenants.settings import ClinicSettings

# Statuses a manager may set by hand; "resolved" goes through resolve_case (it needs a resolution).
MANUAL_STATUSES = ("new", "in_progress", "waiting")
CONTACT_OUTCOMES = ("reached", "no_answer", "left_message", "wrong_number", "email_sent", "other")
MAX_TEXT = 4000


class CaseError(ValueError):
    """A change a case does not accept (unknown status, a non-member as assignee, empty resolution)."""


def case_deadline(risk_level: str, opened_at: datetime, settings: ClinicSettings) -> datetime | None:
    """When a case opened at ``opened_at`` for a response of ``risk_level`` must be handled.

    Critical: ``critical_case_hours`` later; at risk: ``at_risk_case_hours``; an ok
    response made a case by hand gets the at-risk allowance. Elapsed hours, in UTC.
    """
    hours = settings.critical_case_hours if risk_level == "critical" else settings.at_risk_case_hours
    if hours <= 0:
        return None
    return opened_at + timedelta(hours=hours)


def local_time(moment: datetime | None, timezone_name: str) -> datetime | None:
    """``moment`` in the clinic's time zone (None stays None)."""
    return moment.astimezone(ZoneInfo(timezone_name)) if moment is not None else None


def is_overdue(case: Case | None, now: datetime | None = None) -> bool:
    """An open case past its deadline; no case is never overdue."""
    return case is not None and case.is_overdue(now or utcnow())


def _event(case: Case, actor_id: int | None, kind: str, old: str = "", new: str = "", text: str = "",
           now: datetime | None = None) -> CaseEvent:
    event = CaseEvent(kind=kind, user_id=actor_id, old_value=str(old)[:200], new_value=str(new)[:200],
                      text=text[:MAX_TEXT], at=now or utcnow())
    case.events.append(event)
    case.updated_at = event.at
    return event


def record_consent_withdrawn(case: Case, now: datetime | None = None) -> None:
    """The patient took back their consent through their own link: nobody may call them now."""
    _event(case, None, "withdrawn", now=now)


def open_case(response: Response, settings: ClinicSettings, *, actor_id: int | None = None,
              origin: str = "auto", now: datetime | None = None) -> Case:
    """The response's case, opened now if it has none (idempotent)."""
    if response.case is not None:
        return response.case
    now = now or utcnow()
    case = Case(response=response, status="new", origin=origin, created_at=now, updated_at=now,
                deadline_at=case_deadline(response.risk_level, now, settings),
                doctor_id=response.doctor_id, branch_id=response.branch_id)
    db.session.add(case)
    _event(case, actor_id, "created", new=response.risk_level, now=now)
    return case


def open_case_if_at_risk(response: Response, settings: ClinicSettings) -> Case | None:
    """At submission: at-risk and critical responses become cases at once."""
    if response.risk_level in ("at_risk", "critical"):
        return open_case(response, settings, origin="auto", now=response.submitted_at)
    return None


def set_status(case: Case, status: str, actor_id: int | None, now: datetime | None = None) -> None:
    """Move a case to new, in progress or waiting for the patient (reopening a resolved one)."""
    if status not in MANUAL_STATUSES:
        raise CaseError(_l("Unknown status.") if status not in CASE_STATUSES
                        else _l("Describe the resolution to resolve the case."))
    if status == case.status:
        return
    _event(case, actor_id, "status", case.status, status, now=now)
    case.status = status
    case.resolved_at = None


def resolve_case(case: Case, resolution: str, actor_id: int | None, now: datetime | None = None) -> None:
    """Close a case with what was done about it."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise CaseError(_l("Describe the resolution."))
    now = now or utcnow()
    if case.resolution != resolution:
        _event(case, actor_id, "resolution", text=resolution, now=now)
        case.resolution = resolution[:MAX_TEXT]
    if case.status != "resolved":
        _event(case, actor_id, "status", case.status, "resolved", now=now)
        case.status = "resolved"
        case.resolved_at = now


def clinic_members() -> list[tuple[int, str]]:
    """(user id, display name) of the current clinic's active members, for the assignee choice."""
    rows = db.session.execute(
        select(User.id, User.full_name, User.email).join(Membership, Membership.user_id == User.id)
        .where(User.is_active.is_(True)).order_by(User.full_name, User.email)).all()
    return [(r.id, r.full_name or r.email) for r in rows]


def assign(case: Case, user_id: int | None, actor_id: int | None, now: datetime | None = None) -> None:
    """Give a case to a member of the clinic (None: nobody)."""
    if user_id is not None:
        member = db.session.scalar(select(Membership.id).join(User, User.id == Membership.user_id)
                                   .where(Membership.user_id == user_id, User.is_active.is_(True)))
        if member is None:  # not of this clinic, or an account switched off: nobody would do the work
            raise CaseError(_l("The assignee must be a member of the clinic."))
    if user_id == case.assignee_user_id:
        return
    _event(case, actor_id, "assigned", case.assignee_user_id or "", user_id or "", now=now)
    case.assignee_user_id = user_id


def add_note(case: Case, text: str, actor_id: int | None, now: datetime | None = None) -> CaseEvent:
    """An internal note (never shown to the patient)."""
    text = (text or "").strip()
    if not text:
        raise CaseError(_l("The note is empty."))
    return _event(case, actor_id, "note", text=text, now=now)


def log_contact(case: Case, outcome: str, text: str, actor_id: int | None, now: datetime | None = None) -> CaseEvent:
    """A contact attempt with the patient ("called, no answer")."""
    if outcome not in CONTACT_OUTCOMES:
        raise CaseError(_l("Unknown contact outcome."))
    return _event(case, actor_id, "contact", new=outcome, text=(text or "").strip(), now=now)


def mark_seen(response: Response, actor_id: int | None, now: datetime | None = None) -> bool:
    """First view of a response in the workspace: the patient's status page then says "seen"."""
    if response.seen_at is not None:
        return False
    response.seen_at = now or utcnow()
    if response.case is not None:
        _event(response.case, actor_id, "seen", now=response.seen_at)
    return True


@dataclass(frozen=True)
class CaseCounts:
    open: int
    overdue: int
    mine: int
    unassigned: int


CASE_VIEWS = ("open", "overdue", "mine", "unassigned", "resolved", "all")


def case_list_query(view: str, user_id: int | None, now: datetime | None = None):
    """Cases of the current clinic for a list view: open (by deadline), overdue, mine, unassigned, resolved, all."""
    now = now or utcnow()
    # A list shows each case's answer, its QR code, branch and doctor, and the assignee: load them in a few queries.
    query = select(Case).join(Response, Response.id == Case.response_id).options(
        selectinload(Case.response).selectinload(Response.collection_point),
        selectinload(Case.response).selectinload(Response.branch),
        selectinload(Case.response).selectinload(Response.doctor), selectinload(Case.assignee))
    if view in ("open", "overdue", "mine", "unassigned"):
        query = query.where(Case.status.in_(OPEN_CASE_STATUSES))
    if view == "overdue":
        query = query.where(Case.deadline_at < now)
    elif view == "mine":
        query = query.where(Case.assignee_user_id == user_id)
    elif view == "unassigned":
        query = query.where(Case.assignee_user_id.is_(None))
    elif view == "resolved":
        query = query.where(Case.status == "resolved")
    if view == "resolved":
        return query.order_by(Case.resolved_at.desc(), Case.id.desc())
    if view == "all":
        return query.order_by(Case.created_at.desc(), Case.id.desc())
    return query.order_by(Case.deadline_at.is_(None), Case.deadline_at, Case.id)


@dataclass(frozen=True)
class CaseHandling:
    """How the current clinic handled the cases opened in a stretch of time."""

    opened: int
    resolved: int
    resolved_on_time: int  # resolved (last) by their deadline
    median_hours_to_resolve: float | None
    contacted: int  # with at least one logged attempt to reach the patient
    median_hours_to_contact: float | None  # to the first such attempt

    @property
    def on_time_share(self) -> float | None:
        """Share of the resolved cases that were resolved by their deadline."""
        return self.resolved_on_time / self.resolved if self.resolved else None


def case_handling(start: datetime, end: datetime) -> CaseHandling:
    """The cases opened in [start, end): how many were resolved, how many by their deadline, and the median
    hours from opening to the resolution and to the first attempt to reach the patient.

    Counted and ranked in the database: a year of a large clinic's cases is tens of thousands of rows,
    and only the middle ones of each median are read.
    """
    opened_then = (Case.created_at >= start, Case.created_at < end)
    resolved = and_(Case.status == "resolved", Case.resolved_at.is_not(None))
    by_deadline = or_(Case.deadline_at.is_(None), Case.resolved_at <= Case.deadline_at)
    opened, resolved_count, on_time = db.session.execute(select(
        func.count(Case.id), func.count(Case.id).filter(resolved), func.count(Case.id).filter(resolved, by_deadline),
    ).where(*opened_then)).one()
    _, to_resolve = _median(select(_hours(Case.resolved_at, Case.created_at).label("hours"))
                            .where(*opened_then, resolved))
    contacted, to_contact = _median(
        select(_hours(func.min(CaseEvent.at), Case.created_at).label("hours"))
        .join(CaseEvent, CaseEvent.case_id == Case.id).where(*opened_then, CaseEvent.kind == "contact")
        .group_by(Case.id, Case.created_at))
    return CaseHandling(opened=opened or 0, resolved=resolved_count or 0, resolved_on_time=on_time or 0,
                        median_hours_to_resolve=to_resolve, contacted=contacted, median_hours_to_contact=to_contact)


@dataclass(frozen=True)
class GroupHandling:
    """How one doctor's or branch's cases opened in a stretch of time were handled (no medians:
    a scorecard row says how many and how many by the deadline)."""

    opened: int
    resolved: int
    resolved_on_time: int


def case_handling_by_subject(start: datetime, end: datetime) -> dict[tuple[str, str], GroupHandling]:
    """``case_handling``'s counts per doctor and per branch the case is about (its answer's), keyed
    ``("doctor", "7")`` / ``("branch", "2")`` as the scorecards' rows are.

    One query over the period's cases alone (they keep their doctor and branch), grouped by the
    (doctor, branch) pair and added up here per doctor and per branch.
    """
    resolved = and_(Case.status == "resolved", Case.resolved_at.is_not(None))
    by_deadline = or_(Case.deadline_at.is_(None), Case.resolved_at <= Case.deadline_at)
    rows = db.session.execute(
        select(Case.doctor_id, Case.branch_id, func.count(Case.id), func.count(Case.id).filter(resolved),
               func.count(Case.id).filter(resolved, by_deadline))
        .where(Case.created_at >= start, Case.created_at < end,
               or_(Case.doctor_id.is_not(None), Case.branch_id.is_not(None)))
        .group_by(Case.doctor_id, Case.branch_id))
    totals: dict[tuple[str, str], list[int]] = {}
    for doctor_id, branch_id, *counts in rows:
        for key in (("doctor", doctor_id), ("branch", branch_id)):
            if key[1] is not None:
                total = totals.setdefault((key[0], str(key[1])), [0, 0, 0])
                for i, count in enumerate(counts):
                    total[i] += count
    return {key: GroupHandling(*counts) for key, counts in totals.items()}


def _hours(later, earlier):
    """Hours from one moment to another, in the database's own arithmetic."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _median(hours_query) -> tuple[int, float | None]:
    """How many rows a one-column query of hours gives, and their median (None without rows; never negative)."""
    rows = hours_query.subquery()
    if db.session.get_bind().dialect.name == "postgresql":
        # One pass: PostgreSQL interpolates the median itself (the mean of the middle two for an even count).
        count, middle = db.session.execute(select(func.count(), func.percentile_cont(0.5).within_group(rows.c.hours))
                                           .select_from(rows)).one()
        return (count, max(float(middle), 0.0)) if count else (0, None)
    count = db.session.scalar(select(func.count()).select_from(rows)) or 0
    if not count:
        return 0, None
    middle = db.session.scalars(select(rows.c.hours).order_by(rows.c.hours)
                                .offset((count - 1) // 2).limit(2 - count % 2)).all()
    return count, max(sum(middle) / len(middle), 0.0)


def case_counts(user_id: int | None, now: datetime | None = None) -> CaseCounts:
    """Open, overdue, my and unassigned open cases in the current clinic (one query)."""
    now = now or utcnow()
    total, overdue, mine, unassigned = db.session.execute(select(
        func.count(Case.id), func.count(Case.id).filter(Case.deadline_at < now),
        func.count(Case.id).filter(Case.assignee_user_id == user_id),
        func.count(Case.id).filter(Case.assignee_user_id.is_(None)),
    ).where(Case.status.in_(OPEN_CASE_STATUSES))).one()
    return CaseCounts(total or 0, overdue or 0, mine or 0, unassigned or 0)
