"""What each clinic uses, for the operators' console (platform scope only)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import Licence, Membership, Response, Tenant
from tenants.context import current_scope

@dataclass
class ClinicUsage:
    tenant: Tenant
    licence: Licence | None
    seats_used: int
    counters: dict[str, int]
    last_response_at: datetime | None = None


def usage_overview(since: datetime) -> list[ClinicUsage]:
    """Every clinic with its licence, seats used and per-domain counters since ``since``."""
    assert current_scope().platform, "usage_overview reads every clinic: call it in platform_scope()"
    tenants = db.session.scalars(select(Tenant).order_by(Tenant.name)).all()
    licences = {lic.tenant_id: lic for lic in db.session.scalars(select(Licence))}
    seats = dict(db.session.execute(
        select(Membership.tenant_id, func.count()).group_by(Membership.tenant_id)).all())
    responses = dict(db.session.execute(
        select(Response.tenant_id, func.count()).where(Response.submitted_at >= since)
        .group_by(Response.tenant_id)).all())
    last_response = dict(db.session.execute(
        select(Response.tenant_id, func.max(Response.submitted_at)).group_by(Response.tenant_id)).all())
    counters = {"responses": responses}
    return [
        ClinicUsage(t, licences.get(t.id), seats.get(t.id, 0),
                    {name: values.get(t.id, 0) for name, values in counters.items()},
                    last_response.get(t.id))
        for t in tenants
    ]
