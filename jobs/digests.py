"""The noon dispatcher, the digest build job, the mail send job and the mail sweep.

Jobs take ids, tenant id first; the dispatcher and the sweep are platform jobs
that only list clinics and claim rows, each digest is built inside its clinic.
"""
from __future__ import annotations

import logging

import redis

from app.digest import build_digest_run
from app.digest_schedule import claim_due_digests
from app.extensions import db
from app.models import DigestRun, Tenant, utcnow
from app.notifications import clinic_sends_notifications, deliver_outbox_message, enqueue_sends, sweep_mail
from jobs.app_context import platform_job, tenant_job
from jobs.queues import enqueue, make_job_id

log = logging.getLogger(__name__)


def digest_job_id(tenant_id: int, local_date) -> str:
    """One job id per (clinic, local date): a duplicate enqueue cannot add a second digest."""
    return make_job_id(tenant_id, "digest", local_date.isoformat())


def dispatch(now=None) -> int:
    """Claim every digest due at ``now`` and enqueue its build; returns how many were claimed."""
    claimed = claim_due_digests(now)
    for claim in claimed:
        try:
            enqueue("digests", build_digest, claim.tenant_id, claim.run_id,
                    job_id=digest_job_id(claim.tenant_id, claim.local_date))
        except (redis.RedisError, OSError):
            # Claimed and committed: the mail sweep rebuilds runs left in "claimed".
            log.warning("digests: Redis unavailable, %s claimed digests wait for the sweep", len(claimed))
            break
    return len(claimed)


@platform_job
def dispatch_digests() -> int:
    """Scheduler (every 15 minutes): claim and enqueue the digests due now."""
    return dispatch()


@tenant_job
def build_digest(tenant_id: int, run_id: int) -> int:
    """Build one clinic's digest into the outbox and enqueue the sends; returns messages queued."""
    run = db.session.get(DigestRun, run_id)
    if run is None or run.tenant_id != tenant_id or run.status != "claimed":
        return 0
    tenant = db.session.get(Tenant, tenant_id)
    now = utcnow()
    if not clinic_sends_notifications(tenant, now):
        # Suspended after the claim: nothing goes out.
        run.status, run.note = "skipped", "clinic suspended"
        db.session.commit()
        return 0
    new_ids = build_digest_run(run, now)
    enqueue_sends([(tenant_id, outbox_id, "digest") for outbox_id in new_ids], now)
    return len(new_ids)


@tenant_job
def send_mail(tenant_id: int, outbox_id: int) -> str:
    """Deliver one outbox message of the clinic; see app.notifications for the guarantee."""
    return deliver_outbox_message(outbox_id).outcome


@platform_job
def sweep_notifications() -> int:
    """Scheduler (every minute): enqueue due, retried, released-from-quiet-hours and orphaned messages."""
    return sweep_mail()
