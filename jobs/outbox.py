"""The transactional outbox: promise a job with the data, enqueue after commit.

``defer()`` adds a PendingJob to the current transaction. After the caller
commits, ``flush_outbox()`` tries to hand the promised jobs to Redis; if Redis
is down they stay pending and ``sweep_outbox`` (run by the scheduler) retries.
A job id is unique, so a job is never promised twice.
"""
from __future__ import annotations

import logging

import redis
from sqlalchemy import select

from app.extensions import db
from app.models import PendingJob, utcnow
from jobs.queues import enqueue, func_path
from tenants.context import platform_scope, require_tenant_id

log = logging.getLogger(__name__)


def defer(queue_name: str, func, *args, job_id: str) -> PendingJob:
    """Promise ``func(current tenant, *args)`` on ``queue_name`` once this transaction commits."""
    pending = PendingJob(queue=queue_name, func=func_path(func), args=list(args), job_id=job_id,
                         tenant_id=require_tenant_id())
    db.session.add(pending)
    return pending


def flush_outbox(job_ids: list[str] | None = None, limit: int = 500) -> int:
    """Enqueue pending jobs (all, or just ``job_ids``); returns how many reached Redis.

    Stops at the first Redis error: the rest stay pending for the next sweep.
    """
    sent = 0
    with platform_scope():
        query = select(PendingJob).where(PendingJob.enqueued_at.is_(None)).order_by(PendingJob.id).limit(limit)
        if job_ids is not None:
            if not job_ids:
                return 0
            query = query.where(PendingJob.job_id.in_(job_ids))
        for pending in db.session.scalars(query).all():
            try:
                enqueue(pending.queue, pending.func, pending.tenant_id, *pending.args, job_id=pending.job_id)
            except (redis.RedisError, OSError) as exc:
                pending.attempts += 1
                pending.last_error = str(exc)[:500]
                log.warning("outbox: Redis unavailable, %s stays pending", pending.job_id)
                break
            pending.enqueued_at = utcnow()
            sent += 1
        db.session.commit()
    return sent


def sweep_outbox() -> int:
    """Scheduler job: enqueue everything still pending (after a Redis outage)."""
    return flush_outbox()
