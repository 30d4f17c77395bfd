"""The transactional outbox: promise a job with the data, enqueue after commit.

``defer()`` adds a PendingJob to the current transaction and returns what to
enqueue. After the caller commits, ``enqueue_promised()`` hands the jobs to
Redis straight from memory (no second transaction on the hot path), or
``flush_outbox()`` does it from the table and records it. Whatever did not
reach Redis (an outage, a crash between commit and enqueue) is found by
``sweep_outbox`` (run by the scheduler), which enqueues it unless RQ already
knows the job id. A job id is unique, so a job is never promised twice; job
functions are idempotent, so the rare double enqueue of a race is harmless.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import redis
from rq.job import Job
from sqlalchemy import delete, select

from app.extensions import db, redis_client
from app.models import PendingJob, utcnow
from jobs.queues import enqueue, func_path
from tenants.context import platform_scope, require_tenant_id

log = logging.getLogger(__name__)

# An enqueued row has done its work; it is kept a week for "was this job ever sent?", then goes.
KEEP_ENQUEUED = timedelta(days=7)


@dataclass(frozen=True)
class PromisedJob:
    """A job promised in a transaction, as plain values usable after the commit."""

    queue: str
    func: str
    tenant_id: int
    args: tuple
    job_id: str


def defer(queue_name: str, func, *args, job_id: str) -> PromisedJob:
    """Promise ``func(current tenant, *args)`` on ``queue_name`` once this transaction commits."""
    tenant_id = require_tenant_id()
    db.session.add(PendingJob(queue=queue_name, func=func_path(func), args=list(args), job_id=job_id,
                              tenant_id=tenant_id))
    return PromisedJob(queue_name, func_path(func), tenant_id, tuple(args), job_id)


def enqueue_promised(promised: list[PromisedJob]) -> int:
    """After commit: enqueue promised jobs from memory; returns how many reached Redis.

    A Redis error is logged and swallowed: the rows wait for the sweep.
    """
    sent = 0
    for job in promised:
        try:
            enqueue(job.queue, job.func, job.tenant_id, *job.args, job_id=job.job_id)
        except (redis.RedisError, OSError):
            log.warning("outbox: Redis unavailable, %s stays pending", job.job_id)
            break
        sent += 1
    return sent


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


def sweep_outbox(older_than_seconds: int = 15, limit: int = 2000) -> int:
    """Scheduler job: enqueue promised jobs that never reached Redis; returns how many it enqueued.

    Rows younger than ``older_than_seconds`` are left to their request's own
    enqueue. A row whose job RQ already knows (queued, running, finished or
    failed) is only marked, never enqueued again.
    """
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    sent = 0
    with platform_scope():
        rows = db.session.scalars(
            select(PendingJob).where(PendingJob.enqueued_at.is_(None), PendingJob.created_at <= cutoff)
            .order_by(PendingJob.id).limit(limit)).all()
        try:
            connection = redis_client()
            known = _known_job_ids(connection, [row.job_id for row in rows])
        except (redis.RedisError, OSError):
            log.warning("outbox sweep: Redis unavailable")
            return 0
        for row in rows:
            if row.job_id not in known:
                try:
                    enqueue(row.queue, row.func, row.tenant_id, *row.args, job_id=row.job_id)
                except (redis.RedisError, OSError) as exc:
                    row.attempts += 1
                    row.last_error = str(exc)[:500]
                    break
                sent += 1
            row.enqueued_at = utcnow()
        db.session.execute(delete(PendingJob).where(PendingJob.enqueued_at < utcnow() - KEEP_ENQUEUED))
        db.session.commit()
    return sent


def _known_job_ids(connection, job_ids: list[str]) -> set[str]:
    if not job_ids:
        return set()
    pipe = connection.pipeline()
    for job_id in job_ids:
        pipe.exists(Job.key_for(job_id))
    return {job_id for job_id, found in zip(job_ids, pipe.execute()) if found}
