"""Privacy jobs: contact details and sent e-mails' bodies are kept only as long as needed."""
from __future__ import annotations

from app.extensions import db
from app.models import Tenant
from jobs.app_context import platform_job, tenant_job
from jobs.queues import enqueue, make_job_id


@tenant_job
def apply_retention(tenant_id: int) -> dict[str, int]:
    """Erase contact details older than the clinic's retention period and old e-mails' bodies."""
    from datetime import datetime, timezone

    from app.privacy import erase_expired_contacts, forget_old_mail_bodies
    from tenants.settings import clinic_settings

    now = datetime.now(timezone.utc)
    months = clinic_settings(db.session.get(Tenant, tenant_id)).contact_retention_months
    counts = {"contacts": len(erase_expired_contacts(months, now)), "mail_bodies": forget_old_mail_bodies(now)}
    db.session.commit()
    return counts


@platform_job
def nightly_retention() -> int:
    """Fan-out: one retention job per clinic, suspended ones included (their data ages all the same)."""
    from datetime import date

    from sqlalchemy import select

    from tenants.context import platform_scope

    with platform_scope():
        tenant_ids = db.session.scalars(select(Tenant.id).order_by(Tenant.id)).all()
    today = date.today().isoformat()
    for tenant_id in tenant_ids:
        enqueue("default", apply_retention, tenant_id,
                job_id=make_job_id(tenant_id, "retention", today))
    return len(tenant_ids)
