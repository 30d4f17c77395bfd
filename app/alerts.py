"""Urgent alerts: who is on duty for a clinic and what an alert about a response says."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app.auth.principals import ROLE_PERMISSIONS
from app.extensions import db
from app.models import Membership, Response, Tenant, User


@dataclass(frozen=True)
class AlertRecipient:
    user_id: int
    email: str
    language: str
    may_see_contacts: bool


def on_duty_recipients() -> list[AlertRecipient]:
    """Members of the current clinic who take instant alerts (managers and owners by default)."""
    rows = db.session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id)
        .where(Membership.alerts_enabled.is_(True), Membership.role.in_(("owner", "manager")),
               User.is_active.is_(True))
    ).all()
    return [AlertRecipient(user.id, user.email, user.language or "ru",
                           "see_contacts" in ROLE_PERMISSIONS.get(m.role, set())) for m, user in rows]


def critical_response_payload(response: Response, tenant: Tenant, may_see_contacts: bool) -> dict:
    """What an alert about a critical response carries; contact data only for roles allowed to see it."""
    base = current_app.config["BASE_URL"]
    payload = {
        "clinic": tenant.name,
        "reference": response.reference,
        "submitted_at": response.submitted_at.isoformat(),
        "risk_level": response.risk_level,
        "urgent": response.urgent,
        "reasons": list(response.risk_reasons),
        "nps": response.nps,
        "point": response.collection_point.name if response.collection_point else None,
        "branch": response.branch.name if response.branch else None,
        "doctor": response.doctor.full_name if response.doctor else None,
        "comment_excerpt": (response.comment or "")[:280],
        "journal_url": f"{base}/c/{tenant.slug}/journal/{response.id}",
    }
    if may_see_contacts and response.has_contact:
        payload["contact"] = {"name": response.contact_name, "phone": response.contact_phone,
                              "email": response.contact_email}
    return payload


def render_alert(payload: dict, language: str, timezone_name: str, held: bool = False) -> tuple[str, str, str]:
    """Subject, plain text and HTML of an instant alert in ``language`` (ru/en)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from flask import render_template

    language = language if language in ("ru", "en") else "ru"
    submitted = datetime.fromisoformat(payload["submitted_at"]).astimezone(ZoneInfo(timezone_name))
    context = {"p": payload, "submitted": submitted.strftime("%d.%m.%Y %H:%M"), "held": held}
    if language == "en":
        what = "RED BUTTON" if payload["urgent"] else "Critical rating"
    else:
        what = "КРАСНАЯ КНОПКА" if payload["urgent"] else "Критичная оценка"
    subject = f"[{what}] {payload['clinic']}: {payload['reference']}"
    return (subject, render_template(f"mail/alert.{language}.txt", **context),
            render_template(f"mail/alert.{language}.html", **context))


def queue_response_alerts(response: Response, tenant: Tenant, now=None) -> list:
    """Queue an instant alert about ``response`` for each on-duty member of the current clinic.

    One outbox row per (response, member) — a second call, or an alert about the
    same response's case, adds nothing. A member in their quiet hours (clinic
    local time) gets the alert held until those hours end. Returns the new rows.
    """
    from app.models import utcnow
    from app.notifications import queue_mail, quiet_hours_end

    now = now or utcnow()
    quiet = dict((m.user_id, (m.quiet_hours_start, m.quiet_hours_end))
                 for m in db.session.scalars(select(Membership)).all())
    rows = []
    for recipient in on_duty_recipients():
        release = quiet_hours_end(now, tenant.timezone, *quiet.get(recipient.user_id, (None, None)))
        payload = critical_response_payload(response, tenant, recipient.may_see_contacts)
        subject, text, html = render_alert(payload, recipient.language, tenant.timezone, held=release is not None)
        row = queue_mail(kind="alert", dedupe_key=f"alert:response:{response.id}:user:{recipient.user_id}",
                         recipient=recipient.email, subject=subject, text=text, html=html,
                         user_id=recipient.user_id, language=recipient.language, response_id=response.id,
                         next_attempt_at=release, held_for_quiet_hours=release is not None,
                         with_contacts=recipient.may_see_contacts and response.has_contact)
        if row is not None:
            rows.append(row)
    return rows
