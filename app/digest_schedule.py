"""When each clinic's daily digest is due, and claiming it exactly once.

The dispatcher runs every 15 minutes. For each clinic it works out the latest
local date whose digest hour (``ClinicSettings.digest_hour``, 12 by default) has
already passed *on the clinic's wall clock*, and claims ``(clinic, that date)``
by inserting a ``DigestRun`` under a unique constraint. Whoever inserts first
owns the digest; a second dispatcher (or a re-run) inserts nothing.

Working from local dates rather than "24 hours since the last one" makes it
correct across DST changes and for zones with 30/45-minute offsets, and makes
catch-up simple: after an outage the latest missed date is claimed (marked late)
as soon as the dispatcher runs again; older missed dates are folded into it,
because a digest covers everything since the previous one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.models import DigestRun, Licence, Tenant, utcnow
from tenants.context import platform_scope
from tenants.licensing import licence_status
from tenants.settings import ClinicSettings

# The dispatcher runs every 15 minutes; a digest claimed later than this after its hour is "late".
LATE_AFTER = timedelta(minutes=20)


def scheduled_instant(local_date: date, timezone_name: str, hour: int) -> datetime:
    """The UTC instant of ``hour``:00 on ``local_date`` in the clinic's zone.

    In a DST gap (a wall time that does not exist) zoneinfo moves forward with
    the pre-transition offset, so the digest is never skipped.
    """
    zone = ZoneInfo(timezone_name)
    local = datetime.combine(local_date, time(hour=hour), tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC"))


def due_local_date(now: datetime, timezone_name: str, hour: int) -> date:
    """The latest local date whose digest hour is at or before ``now``."""
    local_today = now.astimezone(ZoneInfo(timezone_name)).date()
    if scheduled_instant(local_today, timezone_name, hour) <= now:
        return local_today
    return local_today - timedelta(days=1)


@dataclass(frozen=True)
class ClaimedDigest:
    """A digest this dispatcher won: enqueue its build job."""

    tenant_id: int
    run_id: int
    local_date: date
    late: bool


def digest_hour(settings_json) -> int:
    """The clinic's digest hour (0–23, local time) from its settings; 12 when unset or out of range."""
    hour = ClinicSettings.from_json(settings_json).digest_hour
    return hour if 0 <= hour <= 23 else 12


def plan_claims(now: datetime) -> list[dict]:
    """Rows to insert into ``digest_runs`` for every clinic due at ``now`` (platform scope).

    Skips clinics whose licence sends no notifications (suspended), clinics that
    did not exist yet at that digest hour, and dates already claimed.
    """
    grace = current_app.config["LICENCE_GRACE_DAYS"]
    with platform_scope():
        clinics = db.session.execute(
            select(Tenant.id, Tenant.timezone, Tenant.settings, Tenant.created_at, Licence)
            .outerjoin(Licence, Licence.tenant_id == Tenant.id)).all()
        # One row per clinic: the end of its latest digest period (where the next one starts); a
        # digest given up on covered nothing, so the next one takes its hours over.
        last_end = dict(db.session.execute(
            select(DigestRun.tenant_id, func.max(DigestRun.period_end)).where(DigestRun.status != "failed")
            .group_by(DigestRun.tenant_id)).all())
        last_date = dict(db.session.execute(
            select(DigestRun.tenant_id, func.max(DigestRun.local_date)).group_by(DigestRun.tenant_id)).all())
    rows = []
    for tenant_id, timezone_name, settings_json, created_at, licence in clinics:
        try:
            zone_ok = ZoneInfo(timezone_name) is not None
        except (KeyError, ValueError):
            zone_ok = False
        if not zone_ok:
            continue
        hour = digest_hour(settings_json)
        local_date = due_local_date(now, timezone_name, hour)
        if last_date.get(tenant_id) is not None and last_date[tenant_id] >= local_date:
            continue
        scheduled = scheduled_instant(local_date, timezone_name, hour)
        if created_at is not None and created_at > scheduled:
            continue
        if not licence_status(licence, local_date, grace).sends_notifications:
            continue
        previous_end = last_end.get(tenant_id)
        rows.append({
            "tenant_id": tenant_id, "local_date": local_date, "scheduled_for": scheduled, "claimed_at": now,
            "late": now - scheduled > LATE_AFTER,
            "period_start": previous_end if previous_end is not None else scheduled - timedelta(days=1),
            "period_end": now, "status": "claimed", "trigger": "schedule", "at_risk_count": 0,
            "message_count": 0, "note": "",
        })
    return rows


def insert_claims(rows: list[dict]) -> list[ClaimedDigest]:
    """Insert claims, skipping any (clinic, date) already taken; returns the ones this call won."""
    if not rows:
        return []
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    won: list[ClaimedDigest] = []
    with platform_scope():
        for start in range(0, len(rows), 1000):
            chunk = rows[start:start + 1000]
            stmt = (insert(DigestRun).values(chunk)
                    .on_conflict_do_nothing(index_elements=["tenant_id", "local_date"])
                    .returning(DigestRun.tenant_id, DigestRun.id, DigestRun.local_date, DigestRun.late))
            won.extend(ClaimedDigest(*row) for row in db.session.execute(stmt).all())
        db.session.commit()
    return won


def claim_due_digests(now: datetime | None = None) -> list[ClaimedDigest]:
    """Claim every digest due at ``now``; committed before anything is enqueued."""
    now = now or utcnow()
    return insert_claims(plan_claims(now))


def claim_manual_digest(tenant: Tenant, now: datetime | None = None) -> ClaimedDigest | None:
    """Claim today's (local) digest for one clinic now, whatever the hour (``flask digest send``).

    None when today's digest was already claimed: it is never sent twice.
    """
    now = now or utcnow()
    hour = digest_hour(tenant.settings)
    local_date = now.astimezone(ZoneInfo(tenant.timezone)).date()
    with platform_scope():
        previous_end = db.session.scalar(
            select(func.max(DigestRun.period_end)).where(DigestRun.tenant_id == tenant.id,
                                                         DigestRun.status != "failed"))
    scheduled = scheduled_instant(local_date, tenant.timezone, hour)
    row = {"tenant_id": tenant.id, "local_date": local_date, "scheduled_for": scheduled, "claimed_at": now,
           "late": False, "period_start": previous_end if previous_end is not None else now - timedelta(days=1),
           "period_end": now, "status": "claimed", "trigger": "manual", "at_risk_count": 0, "message_count": 0,
           "note": ""}
    won = insert_claims([row])
    return won[0] if won else None
