"""Instant alerts about critical responses."""
from __future__ import annotations

from app.alerts import critical_response_payload, on_duty_recipients
from app.extensions import db
from app.mail import try_send
from app.models import Response, Tenant
from jobs.app_context import tenant_job


@tenant_job
def alert_critical_response(tenant_id: int, response_id: int) -> int:
    """E-mail the clinic's on-duty recipients about a critical response; returns how many were sent."""
    response = db.session.get(Response, response_id)
    tenant = db.session.get(Tenant, tenant_id)
    if response is None or response.tenant_id != tenant_id:
        return 0
    sent = 0
    for recipient in on_duty_recipients():
        payload = critical_response_payload(response, tenant, recipient.may_see_contacts)
        lines = [f"{payload['clinic']}: {payload['reference']}", f"NPS: {payload['nps']}",
                 payload["comment_excerpt"], payload["journal_url"]]
        if "contact" in payload:
            lines.insert(2, f"{payload['contact']['name'] or ''} {payload['contact']['phone'] or ''}".strip())
        sent += try_send(recipient.email, f"[Vernost] {payload['clinic']}: {payload['reference']}", "\n".join(lines))
    return sent
