"""Keeping snapshots fresh: dirty periods, coalesced refresh jobs, full recomputes.

A new response marks its month, quarter and year dirty (one row per clinic and
period, unique) and asks for a refresh job whose id names the clinic, so many
responses in a burst coalesce into one job. The job recomputes only the dirty
periods. An import changes history (retention, churn) and asks for a full
recompute. Nightly, every active clinic is recomputed in full.
"""
from __future__ import annotations

import logging
from datetime import datetime

import redis
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.analytics.compute import (PERIOD_KINDS, periods_containing, recompute_all, store_period,
                                   survey_from_stored_months)
from app.extensions import db
from app.metrics.periods import Period, PeriodKind, local_date
from app.models import DirtyPeriod, Tenant, utcnow

log = logging.getLogger(__name__)

REFRESH_JOB = "metrics-refresh"
FULL_JOB = "metrics-full"


def mark_dirty(tenant: Tenant, instant: datetime) -> list[str]:
    """Mark the periods containing ``instant`` (clinic-local) dirty; returns their labels. Caller commits."""
    labels = [p.label for p in periods_containing(local_date(instant, tenant.timezone))]
    existing = set(db.session.scalars(select(DirtyPeriod.period).where(
        DirtyPeriod.tenant_id == tenant.id, DirtyPeriod.period.in_(labels))).all())
    if existing:
        # Marked again now: a refresh already computing the period clears only marks older than
        # its start, so the new answer is not lost to it.
        db.session.execute(update(DirtyPeriod).where(DirtyPeriod.tenant_id == tenant.id,
                                                     DirtyPeriod.period.in_(existing)).values(marked_at=utcnow()))
    for label in labels:
        if label in existing:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(DirtyPeriod(tenant_id=tenant.id, period=label))
        except IntegrityError:
            pass  # another process marked it first: same outcome
    return labels


def refresh_dirty(tenant: Tenant) -> list[str]:
    """Recompute the clinic's dirty periods and clear them; returns the labels recomputed.

    A period marked again while it is being recomputed keeps its mark (only marks
    older than the start of this run are cleared), so the next job picks it up.
    """
    started = utcnow()
    rows = db.session.scalars(select(DirtyPeriod).where(DirtyPeriod.tenant_id == tenant.id)
                              .order_by(DirtyPeriod.period)).all()
    # Months first: a quarter or a year then sums its freshly stored months' survey counts.
    periods = sorted({Period.parse(row.period) for row in rows},
                     key=lambda p: (PERIOD_KINDS.index(p.kind), p.label))
    db.session.rollback()
    for period in periods:
        survey = None if period.kind is PeriodKind.MONTH else survey_from_stored_months(tenant, period)
        store_period(tenant, period, survey)
        db.session.execute(delete(DirtyPeriod).where(DirtyPeriod.tenant_id == tenant.id,
                                                     DirtyPeriod.period == period.label,
                                                     DirtyPeriod.marked_at <= started))
        db.session.commit()
    return [period.label for period in periods]


def full_recompute(tenant: Tenant) -> int:
    """Recompute every period of the clinic and clear its dirty marks; returns the number of periods."""
    started = utcnow()
    from tenants.resolve import clinic_local_now

    count = recompute_all(tenant, clinic_local_now(tenant).date())
    db.session.execute(delete(DirtyPeriod).where(DirtyPeriod.tenant_id == tenant.id,
                                                 DirtyPeriod.marked_at <= started))
    db.session.commit()
    return count


def request_job(tenant_id: int, kind: str) -> bool:
    """Enqueue the clinic's refresh (``metrics-refresh``) or full (``metrics-full``) job unless one is waiting.

    The job id names the clinic, so a burst of requests coalesces into the job
    already queued. Returns False when Redis is unreachable: the dirty marks stay
    and the periodic sweep (jobs.metrics.refresh_dirty_clinics) or the nightly
    recompute catches up.
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from app.extensions import redis_client
    from jobs.queues import enqueue, make_job_id

    func = "jobs.metrics.refresh_metrics" if kind == REFRESH_JOB else "jobs.metrics.recompute_metrics"
    job_id = make_job_id(tenant_id, kind)
    try:
        try:
            job = Job.fetch(job_id, connection=redis_client())
            if job.get_status(refresh=True) in ("queued", "deferred", "scheduled"):
                return True
        except NoSuchJobError:
            pass
        enqueue("metrics", func, tenant_id, job_id=job_id, retries=1)
        return True
    except (redis.RedisError, OSError):
        log.warning("metrics: Redis unavailable; clinic %s will be refreshed by the sweep", tenant_id)
        return False
