"""What each clinic uses, for the operators' console (platform scope only)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, select

from app.extensions import db
from app.models import Licence, Membership, Response, Tenant
from tenants.context import current_scope

@dataclass
class ClinicUsage:
    tenant: Tenant
    licence: Licence | None
    seats_used: int
    counters: dict[str, int]
    last_response_at: datetime | None = None


def usage_overview(since: datetime) -> list[ClinicUsage]:
    """Every clinic with its licence, seats used and per-domain counters since ``since``."""
    assert current_scope().platform, "usage_overview reads every clinic: call it in platform_scope()"
    tenants = db.session.scalars(select(Tenant).order_by(Tenant.name)).all()
    licences = {lic.tenant_id: lic for lic in db.session.scalars(select(Licence))}
    seats = dict(db.session.execute(
        select(Membership.tenant_id, func.count()).group_by(Membership.tenant_id)).all())
    responses = dict(db.session.execute(
        select(Response.tenant_id, func.count()).where(Response.submitted_at >= since)
        .group_by(Response.tenant_id)).all())
    last_response = dict(db.session.execute(
        select(Response.tenant_id, func.max(Response.submitted_at)).group_by(Response.tenant_id)).all())
    counters = {"responses": responses}
    return [
        ClinicUsage(t, licences.get(t.id), seats.get(t.id, 0),
                    {name: values.get(t.id, 0) for name, values in counters.items()},
                    last_response.get(t.id))
        for t in tenants
    ]


@dataclass
class ClinicActivity:
    """How much one clinic uses Vernost, for its page in the operators' console (counts only)."""

    seats_used: int
    members_active_30d: int
    last_login_at: datetime | None
    responses_total: int
    responses_by_month: list[tuple[str, int]]
    open_cases: int
    overdue_cases: int
    visits: int
    last_import_at: datetime | None
    review_sources: int
    broken_sources: int
    reviews: int
    last_scrape_at: datetime | None
    mail_sent_30d: int
    mail_failed_30d: int
    api_keys: int
    last_api_use_at: datetime | None
    webhooks: int
    webhook_delivered_30d: int
    webhook_failed_30d: int


def _month_starts(now: datetime, months: int) -> list[datetime]:
    """The first instants (UTC) of the last ``months`` calendar months, oldest first, and of the month after."""
    current = now.year * 12 + now.month - 1
    return [datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)
            for index in range(current - months + 1, current + 2)]


def clinic_activity(tenant_id: int, now: datetime, months: int = 12) -> ClinicActivity:
    """One clinic's usage: staff, responses by month, cases, visits, review sites and e-mail, as of ``now``."""
    from app.analytics.compute import count_if
    from app.models import (OPEN_CASE_STATUSES, ApiKey, Case, ExternalReview, MailOutbox, ReviewSource, ScrapeRun,
                            User, Visit, VisitImport, Webhook, WebhookDelivery)

    assert current_scope().platform, "clinic_activity names a clinic: call it in platform_scope()"
    month_ago = now - timedelta(days=30)
    members = db.session.execute(
        select(func.count(), count_if(User.last_login_at >= month_ago), func.max(User.last_login_at))
        .select_from(Membership).join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)).one()
    starts = _month_starts(now, months)
    by_month = db.session.execute(select(func.count(), *[
        count_if(and_(Response.submitted_at >= start, Response.submitted_at < end))
        for start, end in zip(starts, starts[1:])]).where(Response.tenant_id == tenant_id)).one()
    cases = db.session.execute(select(
        count_if(Case.status.in_(OPEN_CASE_STATUSES)),
        count_if(and_(Case.status.in_(OPEN_CASE_STATUSES), Case.deadline_at < now)))
        .where(Case.tenant_id == tenant_id)).one()
    sources = db.session.scalars(select(ReviewSource).where(ReviewSource.tenant_id == tenant_id,
                                                            ReviewSource.active.is_(True))).all()
    mail = db.session.execute(select(count_if(MailOutbox.status == "sent"), count_if(MailOutbox.status == "failed"))
                              .where(MailOutbox.tenant_id == tenant_id, MailOutbox.created_at >= month_ago)).one()
    api = db.session.execute(select(func.count(), func.max(ApiKey.last_used_at))
                             .where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))).one()
    deliveries = db.session.execute(select(count_if(WebhookDelivery.state == "delivered"),
                                           count_if(WebhookDelivery.state == "failed"))
                                    .where(WebhookDelivery.tenant_id == tenant_id,
                                           WebhookDelivery.created_at >= month_ago)).one()

    scalar = db.session.scalar
    return ClinicActivity(
        seats_used=members[0], members_active_30d=int(members[1] or 0), last_login_at=members[2],
        responses_total=by_month[0],
        responses_by_month=[(start.strftime("%Y-%m"), int(count or 0)) for start, count in zip(starts, by_month[1:])],
        open_cases=int(cases[0] or 0), overdue_cases=int(cases[1] or 0),
        visits=scalar(select(func.count()).select_from(Visit).where(Visit.tenant_id == tenant_id)),
        last_import_at=scalar(select(func.max(VisitImport.finished_at)).where(VisitImport.tenant_id == tenant_id,
                                                                              VisitImport.status == "done")),
        review_sources=len(sources), broken_sources=sum(1 for s in sources if s.is_broken),
        reviews=scalar(select(func.count()).select_from(ExternalReview).where(ExternalReview.tenant_id == tenant_id)),
        last_scrape_at=scalar(select(func.max(ScrapeRun.finished_at)).where(ScrapeRun.tenant_id == tenant_id)),
        mail_sent_30d=int(mail[0] or 0), mail_failed_30d=int(mail[1] or 0),
        api_keys=api[0], last_api_use_at=api[1],
        webhooks=scalar(select(func.count()).select_from(Webhook).where(Webhook.tenant_id == tenant_id,
                                                                        Webhook.active.is_(True))),
        webhook_delivered_30d=int(deliveries[0] or 0), webhook_failed_30d=int(deliveries[1] or 0),
    )
