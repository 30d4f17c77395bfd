"""Bringing a clinic onto the platform, and the operator's licence actions."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.accounts import AccountError, invite, normalise_email
from app.collection import setup_feedback_for_new_clinic
from app.extensions import db
from app.models import Licence, OperatorAction, Tenant
from tenants.context import tenant_scope
from tenants.licensing import MODULES, plan_defaults
from tenants.resolve import clinic_local_now

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")
RESERVED_SLUGS = {"admin", "api", "platform", "static", "login", "logout", "demo-platform", "www"}


class OnboardingError(ValueError):
    """Onboarding input that cannot be accepted; the message says which and why."""


@dataclass(frozen=True)
class OnboardedClinic:
    tenant_id: int
    slug: str
    invitation_token: str


def validate_clinic_fields(slug: str, name: str, timezone: str, language: str) -> None:
    """Raise OnboardingError for a bad slug, name, time zone or language."""
    if not SLUG_RE.match(slug or "") or slug in RESERVED_SLUGS:
        raise OnboardingError(_l("slug: 3–63 lower-case letters, digits and dashes, not a reserved word"))
    if not (name or "").strip() or len(name) > 200:
        raise OnboardingError(_l("name: required, at most 200 characters"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise OnboardingError(_l("time zone: unknown zone %(zone)s", zone=timezone)) from None
    if language not in ("ru", "en"):
        raise OnboardingError(_l("language: ru or en"))


def log_operator_action(actor: str, action: str, *, tenant_id: int | None = None,
                        operator_id: int | None = None, **details) -> None:
    """Record an operator action in the platform audit log."""
    db.session.add(OperatorAction(actor=actor, action=action, tenant_id=tenant_id,
                                  operator_id=operator_id, details=details))


def onboard_clinic(*, slug: str, name: str, owner_email: str, plan: str = "standard",
                   timezone: str = "Europe/Moscow", language: str = "ru", legal_name: str = "",
                   licence_days: int = 365, seats: int | None = None, modules: list[str] | None = None,
                   actor: str = "cli", operator_id: int | None = None, ttl_hours: int = 72,
                   today: date | None = None) -> OnboardedClinic:
    """Create a clinic under a licence with its first owner's invitation.

    Runs in one transaction: a clinic either exists whole or not at all.
    """
    slug = (slug or "").strip().lower()
    validate_clinic_fields(slug, name, timezone, language)
    if not 1 <= licence_days <= 3660:
        raise OnboardingError(_l("licence days: between 1 and 3660"))
    try:
        owner_email = normalise_email(owner_email)
    except AccountError as exc:
        raise OnboardingError(_l("owner e-mail: %(problem)s", problem=str(exc))) from None
    plan_seats, plan_modules = plan_defaults(plan)
    modules = list(plan_modules if modules is None else modules)
    unknown = set(modules) - set(MODULES)
    if unknown:
        raise OnboardingError(_l("modules: unknown %(modules)s", modules=", ".join(sorted(unknown))))
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise OnboardingError(_l("slug: %(slug)s is taken", slug=slug))

    tenant = Tenant(slug=slug, name=name.strip(), legal_name=(legal_name or name).strip(),
                    timezone=timezone, language=language, settings={})
    db.session.add(tenant)
    db.session.flush()
    # The licence starts on the clinic's calendar: a clinic behind the server's date must not
    # wait for its midnight to log in.
    start = today or clinic_local_now(tenant).date()
    with tenant_scope(tenant.id):
        db.session.add(Licence(plan=plan, seats=seats or plan_seats, modules=modules,
                               starts_on=start, ends_on=start + timedelta(days=licence_days)))
        _, token = invite(owner_email, "owner", ttl_hours=ttl_hours)
        setup_feedback_for_new_clinic(tenant.name)
    log_operator_action(actor, "clinic.onboarded", tenant_id=tenant.id, operator_id=operator_id,
                        slug=slug, plan=plan, owner=owner_email)
    db.session.flush()
    return OnboardedClinic(tenant_id=tenant.id, slug=slug, invitation_token=token)


def renew_licence(tenant: Tenant, *, days: int, plan: str | None = None, seats: int | None = None,
                  modules: list[str] | None = None, actor: str, operator_id: int | None = None,
                  today: date | None = None) -> Licence:
    """Extend a licence by ``days`` from its end (or from today if already lapsed)."""
    if days <= 0 or days > 3660:
        raise OnboardingError(_l("days: between 1 and 3660"))
    today = today or clinic_local_now(tenant).date()
    with tenant_scope(tenant.id):
        licence = db.session.scalar(select(Licence))
        base = max(licence.ends_on, today)
        licence.ends_on = base + timedelta(days=days)
        if plan:
            plan_seats, plan_modules = plan_defaults(plan)
            licence.plan = plan
            licence.seats = seats or plan_seats
            licence.modules = list(plan_modules if modules is None else modules)
        else:
            if seats:
                licence.seats = seats
            if modules is not None:
                licence.modules = list(modules)
        log_operator_action(actor, "licence.renewed", tenant_id=tenant.id, operator_id=operator_id,
                            days=days, ends_on=licence.ends_on.isoformat(), plan=licence.plan,
                            seats=licence.seats)
        db.session.flush()
        return licence


def change_plan(tenant: Tenant, *, plan: str, seats: int | None, modules: list[str] | None,
                actor: str, operator_id: int | None = None) -> Licence:
    """Move a clinic to another plan (seats and modules follow unless given)."""
    plan_seats, plan_modules = plan_defaults(plan)
    if modules is not None and set(modules) - set(MODULES):
        raise OnboardingError(_l("modules: unknown module"))
    if seats is not None and not (1 <= seats <= 10000):
        raise OnboardingError(_l("seats: between 1 and 10000"))
    with tenant_scope(tenant.id):
        licence = db.session.scalar(select(Licence))
        licence.plan = plan
        licence.seats = seats or plan_seats
        licence.modules = list(plan_modules if modules is None else modules)
        log_operator_action(actor, "licence.plan_changed", tenant_id=tenant.id, operator_id=operator_id,
                            plan=plan, seats=licence.seats, modules=licence.modules)
        db.session.flush()
        return licence


def set_suspended(tenant: Tenant, suspended: bool, *, reason: str = "", actor: str,
                  operator_id: int | None = None) -> Licence:
    """Suspend or reactivate a clinic. Data and patient submissions are kept either way."""
    with tenant_scope(tenant.id):
        licence = db.session.scalar(select(Licence))
        licence.suspended = suspended
        licence.suspended_reason = reason[:500] if suspended else ""
        log_operator_action(actor, "clinic.suspended" if suspended else "clinic.reactivated",
                            tenant_id=tenant.id, operator_id=operator_id, reason=reason[:500])
        db.session.flush()
        return licence
