"""Privacy jobs: contact details are kept only as long as each clinic's retention period."""
from __future__ import annotations

from app.extensions import db
from app.models import Tenant
from jobs.app_context import platform_job, tenant_job
from jobs.queues import enqueue, make_job_id


@tenant_job
def erase_expired_contacts(tenant_id: int) -> int:
    """Erase contact details older than the clinic's retention period; returns how many responses lost them."""
    from datetime import datetime, timezone

    from app.privacy import erase_expired_contacts as erase
    from tenants.settings import clinic_settings

    months = clinic_settings(db.session.get(Tenant, tenant_id)).contact_retention_months
    erased = erase(months, datetime.now(timezone.utc))
    db.session.commit()
    return len(erased)


@platform_job
def nightly_contact_retention() -> int:
    """Fan-out: one erasure job per clinic, suspended ones included (their data ages all the same)."""
    from datetime import date

    from sqlalchemy import select

    from tenants.context import platform_scope

    with platform_scope():
        tenant_ids = db.session.scalars(select(Tenant.id).order_by(Tenant.id)).all()
    today = date.today().isoformat()
    for tenant_id in tenant_ids:
        enqueue("default", erase_expired_contacts, tenant_id,
                job_id=make_job_id(tenant_id, "contact-retention", today))
    return len(tenant_ids)
