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
