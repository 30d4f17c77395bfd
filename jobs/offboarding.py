"""Clinics whose scheduled deletion day has come are deleted (see tenants/offboarding.py)."""
from __future__ import annotations

import logging

from jobs.app_context import platform_job

log = logging.getLogger(__name__)


@platform_job
def delete_due_clinics() -> int:
    """Delete every clinic past its deletion moment, one by one; returns how many were deleted."""
    from tenants.offboarding import delete_clinic, due_for_deletion

    deleted = 0
    for tenant_id in due_for_deletion():
        try:
            delete_clinic(tenant_id, actor="schedule")
            deleted += 1
        except Exception:  # one clinic's failure must not keep the others' data past their day
            from app.extensions import db

            db.session.rollback()
            log.exception("deleting clinic %s failed; it is tried again tomorrow", tenant_id)
    return deleted
