"""Instant alerts about critical responses and cases, delivered through the mail outbox."""
from __future__ import annotations

from app.alerts import queue_response_alerts
from app.extensions import db
from app.models import Case, Response, Tenant, utcnow
from app.notifications import clinic_sends_notifications, enqueue_sends
from jobs.app_context import tenant_job


def _alert(tenant_id: int, response: Response | None) -> int:
    if response is None or response.tenant_id != tenant_id:
        return 0
    tenant = db.session.get(Tenant, tenant_id)
    now = utcnow()
    if not clinic_sends_notifications(tenant, now):
        return 0
    rows = queue_response_alerts(response, tenant, now)
    db.session.commit()
    # Held rows (quiet hours) wait for the sweep; the rest go to the alerts queue at once.
    enqueue_sends([(tenant_id, row.id, "alert") for row in rows if row.next_attempt_at is None], now)
    return len(rows)


@tenant_job
def alert_critical_response(tenant_id: int, response_id: int, reference: str | None = None) -> int:
    """Queue and send the alert about a critical response to the on-duty members; returns messages queued.

    ``reference`` names the answer the alert was promised for: should an id ever name another answer
    (SQLite reused a deleted newest answer's id before migration 0020), that patient's contacts must
    not go out in an alert that was not theirs.
    """
    response = db.session.get(Response, response_id)
    if response is not None and reference is not None and (
            response.reference != reference or response.risk_level != "critical"):
        return 0
    return _alert(tenant_id, response)


@tenant_job
def alert_critical_case(tenant_id: int, case_id: int) -> int:
    """Alert about a case on a critical response (same dedupe keys as the response's alert: never twice)."""
    case = db.session.get(Case, case_id)
    if case is None or case.tenant_id != tenant_id or case.response.risk_level != "critical":
        return 0
    return _alert(tenant_id, case.response)
