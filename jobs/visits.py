"""Visit imports run as jobs: long files should not hold a web request."""
from __future__ import annotations

from app.extensions import db
from app.models import Tenant, VisitImport
from jobs.app_context import tenant_job


@tenant_job
def import_visits(tenant_id: int, import_id: int) -> dict:
    """Validate and import one uploaded file (all or nothing), then ask for a full metrics recompute."""
    from app.analytics.refresh import FULL_JOB, request_job
    from app.visits_import import run_import
    from tenants.resolve import clinic_local_now

    visit_import = db.session.get(VisitImport, import_id)
    if visit_import is None or visit_import.tenant_id != tenant_id or visit_import.finished:
        return {"skipped": True}
    tenant = db.session.get(Tenant, tenant_id)
    report = run_import(visit_import, clinic_local_now(tenant).date())
    if report.ok and report.imported:
        request_job(tenant_id, FULL_JOB)
    return {"ok": report.ok, "imported": report.imported, "duplicates": report.duplicates,
            "errors": report.error_count}
