"""Metric snapshot jobs: incremental refresh, full recompute, the nightly fan-out, the dirty sweep."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import DirtyPeriod, Licence, Tenant
from jobs.app_context import platform_job, tenant_job
from tenants.context import platform_scope


@tenant_job
def refresh_metrics(tenant_id: int) -> list[str]:
    """Recompute the clinic's dirty periods (after new responses)."""
    from app.analytics.refresh import refresh_dirty

    return refresh_dirty(db.session.get(Tenant, tenant_id))


@tenant_job
def recompute_metrics(tenant_id: int) -> int:
    """Recompute every period of the clinic (after an import, and nightly)."""
    from app.analytics.refresh import full_recompute

    return full_recompute(db.session.get(Tenant, tenant_id))


def _active_clinic_ids() -> list[int]:
    with platform_scope():
        rows = db.session.execute(select(Tenant.id, Licence.suspended)
                                  .outerjoin(Licence, Licence.tenant_id == Tenant.id).order_by(Tenant.id)).all()
    # A suspended clinic's figures stay as they were; it is recomputed after reinstatement.
    return [tenant_id for tenant_id, suspended in rows if not suspended]


@platform_job
def nightly_recompute() -> int:
    """Fan-out: one full recompute job per clinic that is not suspended; returns how many were asked for."""
    from app.analytics.refresh import FULL_JOB, request_job

    return sum(1 for tenant_id in _active_clinic_ids() if request_job(tenant_id, FULL_JOB))


@platform_job
def refresh_dirty_clinics() -> int:
    """Sweep: ask for a refresh of every clinic with dirty periods (catches up after a Redis outage)."""
    from app.analytics.refresh import REFRESH_JOB, request_job

    with platform_scope():
        tenant_ids = set(db.session.scalars(select(DirtyPeriod.tenant_id).distinct()).all())
    active = set(_active_clinic_ids())
    return sum(1 for tenant_id in sorted(tenant_ids & active) if request_job(tenant_id, REFRESH_JOB))
