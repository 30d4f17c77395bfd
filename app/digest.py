"""The daily risk digest: what it says, for whom, in which language.

``collect_digest`` gathers one clinic's facts for a period (runs in that clinic's
scope: nothing of another clinic can be read). ``render_digest`` turns them into
a subject, a plain-text and an HTML part for one recipient, in their language,
with patients' contact data only when the recipient's role may see it.
``build_digest_run`` queues one outbox message per subscribed member.
``preview_next_digest`` shows a manager what the next digest would say if it went now.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.auth.principals import ROLE_PERMISSIONS
from app.cases import case_counts
from app.digest_schedule import digest_hour, due_local_date, scheduled_instant
from app.extensions import db
from app.metrics.csat import csat_from_counts
from app.metrics.nps import nps
from app.models import (OPEN_CASE_STATUSES, Case, DigestRun, Membership, Response, ResponseRating, Tenant, User,
                        utcnow)
from app.notifications import clinic_sends_notifications, queue_mail
from app.reputation import service

log = logging.getLogger(__name__)

MAX_ENTRIES = 50
MAX_CASES = 20
COMMENT_LINES = 3
COMMENT_CHARS = 300
LANGUAGES = ("ru", "en")
SEVERITY = {"critical": 0, "at_risk": 1}

LABELS = {
    "ru": {"critical": "критично", "at_risk": "в зоне риска", "new": "новое", "in_progress": "в работе",
           "waiting": "ждёт пациента", "resolved": "решено", "urgent": "красная кнопка"},
    "en": {"critical": "critical", "at_risk": "at risk", "new": "new", "in_progress": "in progress",
           "waiting": "waiting for the patient", "resolved": "resolved", "urgent": "red button"},
}


@dataclass
class DigestEntry:
    """One risky response in the digest."""

    response_id: int
    reference: str
    risk_level: str
    urgent: bool
    nps: int | None
    min_rating: int | None
    submitted_at: datetime
    point: str | None
    doctor: str | None
    branch: str | None
    comment_lines: list[str]
    journal_url: str
    contact: dict | None = None


@dataclass
class CaseLine:
    """An open case in the digest (overdue ones first)."""

    case_id: int
    response_id: int
    reference: str
    status: str
    risk_level: str
    deadline_at: datetime | None
    overdue: bool
    assignee: str | None
    journal_url: str


@dataclass
class MetricChange:
    """A metric now and in the window before (day over day, week over week)."""

    current: float | None
    previous: float | None
    n_current: int
    n_previous: int

    @property
    def delta(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous


@dataclass
class DigestContent:
    """Everything one clinic's digest says, before it is shaped for a recipient."""

    tenant_id: int
    clinic: str
    slug: str
    timezone: str
    local_date: str
    period_start: datetime
    period_end: datetime
    late: bool
    entries: list[DigestEntry]
    total_at_risk: int
    critical_count: int
    open_cases: int
    overdue_cases: int
    case_lines: list[CaseLine]
    nps_day: MetricChange
    nps_week: MetricChange
    csat_day: MetricChange
    csat_week: MetricChange
    # Both None when the clinic's licence has no web reputation module: the section is left out.
    # ``reputation``: the index now (0..100 or None), its change over the week, the number of
    # reviews, the reputation page's address and up to two (topic, points) pulling it down most.
    reputation: dict | None = None
    negative_reviews: list[dict] | None = None
    unassigned_cases: int = 0  # open cases nobody has taken
    journal_url: str = ""
    cases_url: str = ""
    settings_url: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def quiet(self) -> bool:
        """Nothing needs doing: no risky response, no overdue case, no new negative review."""
        return not self.entries and not self.overdue_cases and not self.negative_reviews


def _comment_lines(comment: str) -> list[str]:
    lines = [line.strip() for line in (comment or "").splitlines() if line.strip()][:COMMENT_LINES]
    out, used = [], 0
    for line in lines:
        if used + len(line) > COMMENT_CHARS:
            out.append(line[:max(COMMENT_CHARS - used, 20)].rstrip() + "…")
            break
        out.append(line)
        used += len(line)
    return out


def _severity_key(response: Response):
    # Red button and critical first; then the lowest scores; newest first among equals.
    return (SEVERITY.get(response.risk_level, 2), not response.urgent,
            response.nps if response.nps is not None else 11,
            response.min_rating if response.min_rating is not None else 6,
            -response.submitted_at.timestamp())


def _windows(end: datetime) -> dict[str, tuple[datetime, datetime]]:
    day, week = timedelta(days=1), timedelta(days=7)
    return {"day": (end - day, end), "day_before": (end - 2 * day, end - day),
            "week": (end - week, end), "week_before": (end - 2 * week, end - week)}


def _in(column, window):
    return (column >= window[0]) & (column < window[1])


def metric_changes(end: datetime) -> tuple[MetricChange, MetricChange, MetricChange, MetricChange]:
    """NPS and CSAT for the last day and week and the ones before, from two SQL count queries."""
    windows = _windows(end)
    at = Response.submitted_at
    nps_columns = []
    for window in windows.values():
        nps_columns += [func.sum(sql_case((_in(at, window) & (Response.nps >= 9), 1), else_=0)),
                        func.sum(sql_case((_in(at, window) & Response.nps.between(7, 8), 1), else_=0)),
                        func.sum(sql_case((_in(at, window) & (Response.nps <= 6), 1), else_=0))]
    nps_row = db.session.execute(select(*nps_columns).where(
        Response.nps.is_not(None), at >= windows["week_before"][0], at < end)).one()
    csat_columns = []
    for window in windows.values():
        csat_columns += [func.sum(sql_case((_in(at, window) & (ResponseRating.score >= 4), 1), else_=0)),
                         func.sum(sql_case((_in(at, window), 1), else_=0))]
    # Ratings carry no time: bounding them by the fortnight's answer ids lets the database read just
    # those (answers are stored as they arrive, so ids follow time) instead of all the clinic's ratings.
    # "+ 0" keeps PostgreSQL from finding min and max by walking the primary key from either end,
    # past every older answer, rather than reading the fortnight by its (clinic, time) index.
    lowest, highest = db.session.execute(select(func.min(Response.id + 0), func.max(Response.id + 0)).where(
        at >= windows["week_before"][0], at < end)).one()
    csat_row = db.session.execute(select(*csat_columns).select_from(ResponseRating)
                                  .join(Response, Response.id == ResponseRating.response_id)
                                  .where(at >= windows["week_before"][0], at < end,
                                         ResponseRating.response_id.between(lowest, highest))).one() \
        if lowest is not None else (0,) * len(csat_columns)
    nps_values, csat_values = {}, {}
    for i, name in enumerate(windows):
        promoters, passives, detractors = (int(v or 0) for v in nps_row[3 * i:3 * i + 3])
        result = nps(promoters, passives, detractors)
        nps_values[name] = (result.score if result else None, promoters + passives + detractors)
        satisfied, n = (int(v or 0) for v in csat_row[2 * i:2 * i + 2])
        share = csat_from_counts(satisfied, n)
        csat_values[name] = (share.percent if share else None, n)

    def change(values, current, previous):
        return MetricChange(values[current][0], values[previous][0], values[current][1], values[previous][1])

    return (change(nps_values, "day", "day_before"), change(nps_values, "week", "week_before"),
            change(csat_values, "day", "day_before"), change(csat_values, "week", "week_before"))


def _reputation(since: datetime, until: datetime, timezone_name: str, base: str) -> tuple[dict | None, list | None]:
    """The web reputation index as the digest's day ends, and the negative reviews first seen since
    ``since``; (None, None) when the clinic's licence has no reputation module."""

    if not service.reputation_licensed():
        return None, None
    day = until.astimezone(ZoneInfo(timezone_name)).date()
    clinic = service.index_overview(day, clinic_only=True)[0]
    # The topics that pull the index down most: where the web's complaints come from.
    drivers = service.index_drivers(today=day, top=2)
    reputation = {"index": clinic.index, "week_delta": clinic.week_delta, "reviews": clinic.reviews,
                  "url": f"{base}/reputation",
                  "pulling_down": [(a.aspect, a.impact) for a in drivers.aspects_down] if drivers else []}
    reviews = [{"site": review["site"], "rating": review["rating"], "author": review.get("author") or "",
                "excerpt": _comment_lines(review["excerpt"] or "")[:2], "url": review["url"] or "",
                "published_at": review["date"]}
               for review in service.new_negative_reviews(since, limit=MAX_CASES)]
    return reputation, reviews


def collect_digest(tenant: Tenant, period_start: datetime, period_end: datetime, *, local_date: str = "",
                   late: bool = False, now: datetime | None = None) -> DigestContent:
    """The facts of one clinic's digest for ``[period_start, period_end)`` (call in the clinic's scope).

    Risky responses ranked by severity, open and overdue cases, day-over-day and
    week-over-week NPS and CSAT, the web reputation index with its week's change and the new
    negative external reviews (with the reputation module).
    Contact data is collected here and removed per recipient in ``render_digest``.
    """
    now = now or period_end
    base = f"{current_app.config['BASE_URL']}/c/{tenant.slug}"
    risky_filter = (Response.risk_level.in_(tuple(SEVERITY)), Response.submitted_at >= period_start,
                    Response.submitted_at < period_end)
    total, critical = db.session.execute(select(
        func.count(Response.id), func.sum(sql_case((Response.risk_level == "critical", 1), else_=0)))
        .where(*risky_filter)).one()
    total, critical = int(total or 0), int(critical or 0)
    responses = db.session.scalars(
        select(Response).where(*risky_filter)
        .options(selectinload(Response.collection_point), selectinload(Response.doctor),
                 selectinload(Response.branch))
        .order_by(Response.risk_level.desc(), Response.submitted_at.desc()).limit(MAX_ENTRIES * 4)).all()
    responses = sorted(responses, key=_severity_key)[:MAX_ENTRIES]
    entries = [DigestEntry(
        response_id=r.id, reference=r.reference, risk_level=r.risk_level, urgent=r.urgent, nps=r.nps,
        min_rating=r.min_rating, submitted_at=r.submitted_at,
        point=r.collection_point.name if r.collection_point else None,
        doctor=r.doctor.full_name if r.doctor else None, branch=r.branch.name if r.branch else None,
        comment_lines=_comment_lines(r.comment), journal_url=f"{base}/journal/{r.id}",
        contact=({"name": r.contact_name, "phone": r.contact_phone, "email": r.contact_email}
                 if r.has_contact else None)) for r in responses]

    open_filter = Case.status.in_(OPEN_CASE_STATUSES)
    counts = case_counts(None, now)  # the cases page's counts; "mine" means nothing to a digest
    cases = db.session.execute(
        select(Case, Response.reference, Response.risk_level, User.full_name, User.email)
        .join(Response, Response.id == Case.response_id)
        .outerjoin(User, User.id == Case.assignee_user_id)
        .where(open_filter)
        .order_by(Case.deadline_at.is_(None), Case.deadline_at, Case.id).limit(MAX_CASES)).all()
    case_lines = [CaseLine(
        case_id=c.id, response_id=c.response_id, reference=ref, status=c.status, risk_level=risk,
        deadline_at=c.deadline_at, overdue=c.deadline_at is not None and c.deadline_at < now,
        assignee=(name or email) if (name or email) else None, journal_url=f"{base}/journal/{c.response_id}")
        for c, ref, risk, name, email in cases]

    nps_day, nps_week, csat_day, csat_week = metric_changes(period_end)
    reputation, negative_reviews = _reputation(period_start, period_end, tenant.timezone, base)
    return DigestContent(
        tenant_id=tenant.id, clinic=tenant.name, slug=tenant.slug, timezone=tenant.timezone,
        local_date=local_date or period_end.astimezone(ZoneInfo(tenant.timezone)).date().isoformat(),
        period_start=period_start, period_end=period_end, late=late, entries=entries, total_at_risk=total,
        critical_count=critical, open_cases=counts.open, overdue_cases=counts.overdue, case_lines=case_lines,
        nps_day=nps_day, nps_week=nps_week, csat_day=csat_day, csat_week=csat_week,
        reputation=reputation, negative_reviews=negative_reviews, unassigned_cases=counts.unassigned,
        journal_url=f"{base}/journal", cases_url=f"{base}/cases", settings_url=f"{base}/settings/notifications",
    )


def content_has_contacts(content: DigestContent) -> bool:
    """Whether some entry carries a patient's contact details (shown only to roles that see them)."""
    return any(entry.contact for entry in content.entries)


def _for_recipient(content: DigestContent, may_see_contacts: bool) -> DigestContent:
    if may_see_contacts:
        return content
    return replace(content, entries=[replace(e, contact=None) for e in content.entries])


def _local(moment: datetime | None, timezone_name: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone_name)).strftime("%d.%m %H:%M")


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    rounded = round(value)
    return f"+{rounded}" if rounded > 0 else ("±0" if rounded == 0 else f"−{abs(rounded)}")


def _signed_tenths(value: float | None) -> str:
    if value is None:
        return "—"
    rounded = round(value, 1)
    return f"+{rounded:.1f}" if rounded > 0 else ("±0.0" if rounded == 0 else f"−{abs(rounded):.1f}")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}".replace("-", "−")


def render_digest(content: DigestContent, language: str, may_see_contacts: bool) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the digest for one recipient, in ``language`` (ru/en)."""
    language = language if language in LANGUAGES else "ru"
    shaped = _for_recipient(content, may_see_contacts)
    context = {
        "d": shaped, "labels": LABELS[language], "local": lambda m: _local(m, content.timezone),
        "signed": _signed, "signed_tenths": _signed_tenths, "number": _number,
    }
    if language == "en":
        if content.quiet:
            subject = f"{content.clinic}: nothing at risk — digest for {content.local_date}"
        else:
            subject = (f"{content.clinic}: {content.total_at_risk} at risk, {content.critical_count} critical, "
                       f"{content.overdue_cases} overdue — {content.local_date}")
    else:
        if content.quiet:
            subject = f"{content.clinic}: рисков нет — сводка за {content.local_date}"
        else:
            subject = (f"{content.clinic}: в зоне риска {content.total_at_risk}, критично {content.critical_count}, "
                       f"просрочено {content.overdue_cases} — {content.local_date}")
    if content.late:
        subject += " (late)" if language == "en" else " (с опозданием)"
    with force_locale(language):  # what the templates translate (a site's name) is in the reader's language
        text = render_template(f"mail/digest.{language}.txt", **context)
        html = render_template(f"mail/digest.{language}.html", **context)
    return subject, text, html


@dataclass(frozen=True)
class DigestRecipient:
    user_id: int
    email: str
    language: str
    may_see_contacts: bool
    when_quiet: bool


def digest_recipients(tenant: Tenant) -> list[DigestRecipient]:
    """Active members of the current clinic subscribed to the digest (members of this clinic only)."""
    rows = db.session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.digest_enabled.is_(True), User.is_active.is_(True)).order_by(User.id)).all()
    return [DigestRecipient(user.id, user.email, user.language or tenant.language or "ru",
                            "see_contacts" in ROLE_PERMISSIONS.get(m.role, set()), m.digest_when_quiet)
            for m, user in rows]


def build_digest_run(run: DigestRun, now: datetime | None = None) -> list[int]:
    """Queue the digest of ``run`` for each subscribed member; returns the new outbox ids.

    Idempotent: a run already built is left alone, and the (digest, user) dedupe
    key stops a second copy even if two builders race. Commits.
    """
    now = now or utcnow()
    if run.status != "claimed":
        return []
    tenant = db.session.get(Tenant, run.tenant_id)
    content = collect_digest(tenant, run.period_start, run.period_end, local_date=run.local_date.isoformat(),
                             late=run.late, now=run.period_end)
    new_ids = []
    rendered: dict[tuple[str, bool], tuple[str, str, str]] = {}
    for recipient in digest_recipients(tenant):
        if content.quiet and not recipient.when_quiet:
            continue
        key = (recipient.language, recipient.may_see_contacts)
        if key not in rendered:
            rendered[key] = render_digest(content, *key)
        subject, text, html = rendered[key]
        row = queue_mail(kind="digest", dedupe_key=f"digest:{run.id}:user:{recipient.user_id}",
                         recipient=recipient.email, subject=subject, text=text, html=html,
                         user_id=recipient.user_id, language=recipient.language, digest_run_id=run.id,
                         with_contacts=recipient.may_see_contacts and content_has_contacts(content))
        if row is not None:
            db.session.flush()
            new_ids.append(row.id)
    run.status = "built"
    run.built_at = now
    run.at_risk_count = content.total_at_risk
    run.message_count = len(new_ids)
    if not new_ids:
        run.note = "quiet day: nobody wants an empty digest" if content.quiet else "no subscribed members"
    db.session.commit()
    return new_ids


@dataclass(frozen=True)
class DigestPreview:
    """The next digest as it stands now, for one reader (``preview_next_digest``)."""

    local_date: date
    scheduled_for: datetime
    period_start: datetime
    period_end: datetime
    subject: str
    text: str
    html: str
    quiet: bool
    with_contacts: bool     # the parts show patients' contacts (the reader's role may see them)
    recipients: int         # subscribed members it would go to (on a quiet day, those who want quiet-day notes)
    subscribed: int
    sends: bool             # False while the licence sends no e-mail (suspended)


def next_digest_date(tenant: Tenant, now: datetime) -> date:
    """The local date of the clinic's next digest: one already due but not yet claimed, else the next one.

    Mirrors the scheduler (``plan_claims``): a date is sent once, and a clinic created after a
    date's digest hour starts with the following date.
    """
    hour = digest_hour(tenant.settings)
    due = due_local_date(now, tenant.timezone, hour)
    last_date = db.session.scalar(select(func.max(DigestRun.local_date)))
    if last_date is not None and last_date >= due:
        return last_date + timedelta(days=1)
    if tenant.created_at is not None and tenant.created_at > scheduled_instant(due, tenant.timezone, hour):
        return due + timedelta(days=1)
    return due


def preview_next_digest(tenant: Tenant, language: str, may_see_contacts: bool,
                        now: datetime | None = None) -> DigestPreview:
    """What the next digest would say if it went ``now`` (call in the clinic's scope; records nothing).

    It covers what the scheduler's claim would: from the end of the last digest that was not
    given up on (or a day before its hour, for a clinic's first) until now.
    """
    now = now or utcnow()
    local_date = next_digest_date(tenant, now)
    scheduled = scheduled_instant(local_date, tenant.timezone, digest_hour(tenant.settings))
    start = db.session.scalar(select(func.max(DigestRun.period_end)).where(DigestRun.status != "failed"))
    if start is None or start >= now:  # the clinic's first digest starts a day before its hour, as scheduled
        day_before = scheduled - timedelta(days=1)
        start = day_before if day_before < now else now - timedelta(days=1)
    return _preview(tenant, local_date, scheduled, start, now, language, may_see_contacts, now)


def preview_digest_of(tenant: Tenant, local_date: date, language: str, may_see_contacts: bool,
                      now: datetime | None = None) -> DigestPreview:
    """The digest of any local date (``flask digest preview --date``), from the end of the digest
    before it (not given up on) to its hour, or to now for a date whose hour is still to come."""
    now = now or utcnow()
    scheduled = scheduled_instant(local_date, tenant.timezone, digest_hour(tenant.settings))
    end = min(scheduled, now)
    start = db.session.scalar(select(func.max(DigestRun.period_end))
                              .where(DigestRun.local_date < local_date, DigestRun.status != "failed"))
    if start is None or start >= end:
        start = end - timedelta(days=1)
    return _preview(tenant, local_date, scheduled, start, end, language, may_see_contacts, now)


def _preview(tenant: Tenant, local_date: date, scheduled: datetime, start: datetime, end: datetime,
             language: str, may_see_contacts: bool, now: datetime) -> DigestPreview:
    content = collect_digest(tenant, start, end, local_date=local_date.isoformat(), now=end)
    subject, text, html = render_digest(content, language, may_see_contacts)
    recipients = digest_recipients(tenant)
    return DigestPreview(
        local_date=local_date, scheduled_for=scheduled, period_start=start, period_end=end, subject=subject,
        text=text, html=html, quiet=content.quiet,
        with_contacts=may_see_contacts and content_has_contacts(content),
        recipients=sum(1 for r in recipients if r.when_quiet or not content.quiet), subscribed=len(recipients),
        sends=clinic_sends_notifications(tenant, now))
