"""Ending a clinic: its data is deleted after a grace period in which the clinic can still export it.

An operator schedules the deletion of a suspended clinic (typing its address to confirm). From
then on patients' forms, the API and webhooks are closed, the workspace stays read-only with its
exports, and every page says when the data goes. ``delete_due_clinics`` (nightly) then deletes
every row of the clinic, table by table inside the clinic's own scope (on PostgreSQL the
row-level policy admits no other clinic's rows), and the accounts that belonged to no other
clinic. The operators' audit log keeps what was deleted, as counts.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Licence, Membership, Tenant, User, utcnow
from tenants.context import platform_scope, tenant_scope
from tenants.onboarding import log_operator_action

log = logging.getLogger(__name__)

DEFAULT_GRACE_DAYS = 30


class OffboardingError(ValueError):
    """A deletion that cannot be done as asked; the message says why."""


def schedule_deletion(tenant: Tenant, *, confirm: str, days: int, actor: str, operator_id: int | None = None,
                      now: datetime | None = None) -> datetime:
    """Set the day a suspended clinic's data is deleted; returns it. Flushes nothing."""
    with tenant_scope(tenant.id):
        licence = db.session.scalar(select(Licence))
    if licence is None or not licence.suspended:
        raise OffboardingError(_l("Suspend the clinic first: only a suspended clinic can be deleted."))
    if (confirm or "").strip() != tenant.slug:
        raise OffboardingError(_l("Type the clinic's address (%(slug)s) to confirm.", slug=tenant.slug))
    if not 0 <= days <= 365:
        raise OffboardingError(_l("The grace period is 0 to 365 days."))
    tenant.delete_after = (now or utcnow()) + timedelta(days=days)
    log_operator_action(actor, "clinic.deletion_scheduled", tenant_id=tenant.id, operator_id=operator_id,
                        delete_after=tenant.delete_after.isoformat())
    return tenant.delete_after


def cancel_deletion(tenant: Tenant, *, actor: str, operator_id: int | None = None) -> None:
    if tenant.delete_after is None:
        raise OffboardingError(_l("No deletion is scheduled for this clinic."))
    tenant.delete_after = None
    log_operator_action(actor, "clinic.deletion_cancelled", tenant_id=tenant.id, operator_id=operator_id)


def tenant_tables():
    """Every table holding a clinic's rows, children before parents."""
    return [table for table in reversed(db.metadata.sorted_tables)
            if "tenant_id" in table.c and table.name != "operator_actions"]


def delete_clinic(tenant_id: int, *, actor: str, operator_id: int | None = None) -> dict[str, int]:
    """Delete every row of the clinic and the clinic itself; returns rows deleted per table. Commits.

    Only a clinic whose scheduled deletion moment has come: nothing deletes a clinic by mistake.
    """
    with platform_scope():
        tenant = db.session.get(Tenant, tenant_id)
        if tenant is None:
            raise OffboardingError(_l("There is no such clinic."))
        if tenant.delete_after is None or tenant.delete_after > utcnow():
            raise OffboardingError(_l("This clinic's deletion is not due."))
        slug, name = tenant.slug, tenant.name
    counts: dict[str, int] = {}
    with tenant_scope(tenant_id):
        member_ids = set(db.session.scalars(select(Membership.user_id)))
        for table in tenant_tables():
            result = db.session.execute(delete(table).where(table.c.tenant_id == tenant_id))
            if result.rowcount:
                counts[table.name] = result.rowcount
    with platform_scope():
        # People who belonged to this clinic only: nothing is left for their account to open.
        still_members = set(db.session.scalars(select(Membership.user_id).where(Membership.user_id.in_(member_ids)))) \
            if member_ids else set()
        orphans = member_ids - still_members
        if orphans:
            counts["users"] = db.session.execute(delete(User).where(User.id.in_(orphans))).rowcount
        db.session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        log_operator_action(actor, "clinic.deleted", operator_id=operator_id, slug=slug, name=name, rows=counts)
        db.session.commit()
    log.info("clinic %s deleted: %s rows", slug, sum(counts.values()))
    return counts


def due_for_deletion(now: datetime | None = None) -> list[int]:
    with platform_scope():
        return list(db.session.scalars(select(Tenant.id).where(Tenant.delete_after.is_not(None),
                                                               Tenant.delete_after <= (now or utcnow()))
                                       .order_by(Tenant.id)))


def rows_of(tenant_id: int) -> int:
    """How many rows the clinic holds in all its tables (for checks)."""
    total = 0
    with tenant_scope(tenant_id):
        for table in tenant_tables():
            total += db.session.scalar(select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id))
    return total
