"""The mail outbox: every e-mail is a row first, and is sent at most once after the server accepts it.

Life of a message (docs/notifications.md has the full argument):

1. ``queue_mail`` stores the rendered message with a unique dedupe key and a
   stable Message-ID, in the same transaction as whatever caused it.
2. ``deliver_outbox_message`` claims the row (``sending`` with a lease) in its
   own committed transaction, checks the Redis "accepted" marker for the
   Message-ID, hands the message to the SMTP server, writes the marker the
   moment the server accepts, then marks the row ``sent``.
3. A failed attempt puts the row back to ``pending`` with a backoff; a sender
   that died leaves a ``sending`` row whose lease runs out. ``sweep_mail``
   (every minute, from the scheduler) enqueues both again.

Message bodies may carry patient comments: they are never logged.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis
from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.principals import ROLE_PERMISSIONS
from app.extensions import db, redis_client
from app.mail import MailError, build_message, deliver
from app.models import DigestRun, MailOutbox, Membership, User, utcnow
from tenants.context import platform_scope, require_tenant_id

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 10
# A job enqueued but not yet run is not enqueued again for this long.
REENQUEUE_AFTER = timedelta(minutes=5)
# A claimed digest whose build job never finished is rebuilt after this long...
STALE_RUN_AFTER = timedelta(minutes=5)
# ...and given up after this long: a build that fails every time must not be retried for ever.
GIVE_UP_RUN_AFTER = timedelta(hours=6)
MARKER_TTL = timedelta(days=14)
QUEUE_FOR_KIND = {"alert": "alerts", "digest": "digests"}


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failed try: 30 s, 1, 2, 4 ... minutes, at most an hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def new_message_id(tenant_id: int, kind: str) -> str:
    """A Message-ID fixed when the row is created, so every attempt sends the same message."""
    return f"<{kind}.t{tenant_id}.{secrets.token_hex(12)}@vernost.local>"


def accepted_marker_key(tenant_id: int, message_id: str) -> str:
    """Redis key recording that the SMTP server accepted this message (carries the clinic)."""
    return f"vernost:t{tenant_id}:mail-accepted:{message_id.strip('<>')}"


def queue_mail(*, kind: str, dedupe_key: str, recipient: str, subject: str, text: str, html: str = "",
               user_id: int | None = None, language: str = "ru", digest_run_id: int | None = None,
               response_id: int | None = None, next_attempt_at: datetime | None = None,
               held_for_quiet_hours: bool = False, with_contacts: bool = False) -> MailOutbox | None:
    """Add a message to the current clinic's outbox; None when ``dedupe_key`` already exists.

    Runs in a savepoint so a duplicate leaves the caller's transaction usable.
    """
    tenant_id = require_tenant_id()
    if db.session.scalar(select(MailOutbox.id).where(MailOutbox.dedupe_key == dedupe_key)) is not None:
        return None
    row = MailOutbox(kind=kind, dedupe_key=dedupe_key, recipient=recipient, subject=subject[:300],
                     text_body=text, html_body=html, user_id=user_id, language=language,
                     digest_run_id=digest_run_id, response_id=response_id,
                     message_id=new_message_id(tenant_id, kind), next_attempt_at=next_attempt_at,
                     held_for_quiet_hours=held_for_quiet_hours, with_contacts=with_contacts)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another sender queued the same message between our check and the insert.
        return None
    return row


def _claim(outbox_id: int, now: datetime) -> bool:
    """Take the row for sending: pending and due, or sending with a lease that ran out."""
    due = or_(MailOutbox.next_attempt_at.is_(None), MailOutbox.next_attempt_at <= now)
    claimable = or_(and_(MailOutbox.status == "pending", due),
                    and_(MailOutbox.status == "sending", MailOutbox.lease_until < now))
    result = db.session.execute(
        update(MailOutbox).where(MailOutbox.id == outbox_id, claimable)
        .values(status="sending", lease_until=now + LEASE, attempts=MailOutbox.attempts + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt did: ``sent``, ``already_sent``, ``retry``, ``failed``, ``cancelled`` or
    ``not_claimed``."""

    outcome: str
    error: str = ""


def deliver_outbox_message(outbox_id: int, now: datetime | None = None, config: dict | None = None) -> DeliveryResult:
    """Send one outbox message of the current clinic, at most once after the server accepted it."""
    now = now or utcnow()
    tenant_id = require_tenant_id()
    if not _claim(outbox_id, now):
        db.session.rollback()
        return DeliveryResult("not_claimed")
    # The claim is committed before the server is contacted: a second sender now sees a lease.
    db.session.commit()
    row = db.session.get(MailOutbox, outbox_id)
    if row is None or row.tenant_id != tenant_id:
        return DeliveryResult("not_claimed")
    if not _recipient_still_wanted(row):
        # Held for quiet hours or waiting for the mail server, it may outlive the reason it was
        # written: whoever left the clinic, or turned alerts off, must not get a patient's phone.
        row.status, row.lease_until, row.last_error = "cancelled", None, "the recipient no longer takes these e-mails"
        db.session.commit()
        return DeliveryResult("cancelled")
    marker = accepted_marker_key(tenant_id, row.message_id)
    try:
        accepted_before = redis_client().exists(marker)
    except (redis.RedisError, OSError) as exc:
        # Without the marker store a sender killed after acceptance could send twice: wait instead.
        return _retry(row, now, f"redis unavailable: {exc}")
    if accepted_before:
        _mark_sent(row, now)
        return DeliveryResult("already_sent")

    message = build_message(row.recipient, row.subject, row.text_body, row.html_body or None,
                            message_id=row.message_id)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Vernost-Kind"] = row.kind
    try:
        deliver(message, config)
    except MailError as exc:
        return _retry(row, now, str(exc))
    # Accepted. Record it outside the database first: this one write is what makes a
    # sender killed before the status update below harmless (the next sender finds it).
    try:
        redis_client().set(marker, now.isoformat(), ex=int(MARKER_TTL.total_seconds()))
    except (redis.RedisError, OSError) as exc:
        log.warning("mail %s accepted but its marker was not written: %s", row.id, exc)
    _mark_sent(row, now)
    return DeliveryResult("sent")


def _recipient_still_wanted(row: MailOutbox) -> bool:
    """Whether the member a message was written for still takes it: an alert, still on duty; any
    message, still an active member of the clinic, and one written with patients' contacts, still
    in a role that sees them. Messages written for an address alone go."""
    if row.user_id is None:
        return True
    if row.kind == "alert":
        from app.alerts import on_duty_recipients

        duty = next((r for r in on_duty_recipients() if r.user_id == row.user_id), None)
        return duty is not None and (duty.may_see_contacts or not row.with_contacts)
    role = db.session.scalar(select(Membership.role).join(User, User.id == Membership.user_id)
                             .where(Membership.user_id == row.user_id, User.is_active.is_(True)))
    if role is None:
        return False
    return not row.with_contacts or "see_contacts" in ROLE_PERMISSIONS.get(role, set())


def _mark_sent(row: MailOutbox, now: datetime) -> None:
    row.status, row.sent_at, row.lease_until, row.last_error = "sent", now, None, ""
    db.session.commit()


def _retry(row: MailOutbox, now: datetime, error: str) -> DeliveryResult:
    # A refusal names the address; the logs get the domain only.
    error = error.replace(row.recipient, "<recipient>")
    row.last_error = error[:500]
    row.lease_until = None
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    else:
        row.status = "pending"
        row.next_attempt_at = now + retry_delay(row.attempts)
    db.session.commit()
    # The recipient's domain only: the address and the body stay out of the logs.
    log.warning("mail %s to a %s address: attempt %s failed (%s)", row.id, row.recipient.rsplit("@", 1)[-1],
                row.attempts, error[:200])
    return DeliveryResult("failed" if row.status == "failed" else "retry", error)


def send_job_id(tenant_id: int, outbox_id: int, now: datetime) -> str:
    """A job id per enqueue: RQ must not merge a new attempt into a finished job of the same id."""
    from jobs.queues import make_job_id

    return make_job_id(tenant_id, "mail", outbox_id, int(now.timestamp()))


def enqueue_sends(rows: list[tuple[int, int, str]], now: datetime | None = None) -> int:
    """Enqueue send jobs for ``(tenant_id, outbox_id, kind)`` rows; returns how many reached Redis.

    A Redis failure is not an error: the rows stay pending and the sweep picks them up.
    """
    from jobs.queues import enqueue

    now = now or utcnow()
    done = []
    for tenant_id, outbox_id, kind in rows:
        try:
            enqueue(QUEUE_FOR_KIND.get(kind, "default"), "jobs.digests.send_mail", tenant_id, outbox_id,
                    job_id=send_job_id(tenant_id, outbox_id, now), retries=0)
        except (redis.RedisError, OSError):
            log.warning("mail: Redis unavailable, %s message(s) wait for the sweep", len(rows) - len(done))
            break
        done.append(outbox_id)
    if done:
        with platform_scope():
            db.session.execute(update(MailOutbox).where(MailOutbox.id.in_(done)).values(enqueued_at=now)
                               .execution_options(synchronize_session=False))
            db.session.commit()
    return len(done)


def due_messages(now: datetime, limit: int = 5000) -> list[tuple[int, int, str]]:
    """Messages across clinics that need a send job now (platform scope: ids only, no content).

    Pending and due but never enqueued, or enqueued long ago, or held past their
    hold; and sending rows whose sender's lease ran out (the sender died).
    """
    due = or_(MailOutbox.next_attempt_at.is_(None), MailOutbox.next_attempt_at <= now)
    not_recently_enqueued = or_(MailOutbox.enqueued_at.is_(None), MailOutbox.enqueued_at < now - REENQUEUE_AFTER,
                                and_(MailOutbox.next_attempt_at.is_not(None),
                                     MailOutbox.enqueued_at < MailOutbox.next_attempt_at))
    # A sender's lease ran out: enqueue once per lease, and again if that job too was lost.
    expired = and_(MailOutbox.status == "sending", MailOutbox.lease_until < now,
                   or_(MailOutbox.enqueued_at.is_(None), MailOutbox.enqueued_at < MailOutbox.lease_until,
                       MailOutbox.enqueued_at < now - REENQUEUE_AFTER))
    with platform_scope():
        rows = db.session.execute(
            select(MailOutbox.tenant_id, MailOutbox.id, MailOutbox.kind)
            .where(or_(and_(MailOutbox.status == "pending", due, not_recently_enqueued), expired))
            .order_by(MailOutbox.kind, MailOutbox.id).limit(limit)).all()
    return [tuple(r) for r in rows]


def stale_digest_runs(now: datetime) -> list[tuple[int, int]]:
    """Claimed digests whose build never completed (worker died, Redis was down)."""
    with platform_scope():
        rows = db.session.execute(
            select(DigestRun.tenant_id, DigestRun.id)
            .where(DigestRun.status == "claimed", DigestRun.claimed_at < now - STALE_RUN_AFTER)).all()
    return [tuple(r) for r in rows]


def give_up_stale_digest_runs(now: datetime) -> int:
    """Mark digests whose build has failed for ``GIVE_UP_RUN_AFTER`` as failed; returns how many.

    The digests page shows them so, and the day's next digest covers the same hours again.
    """
    with platform_scope():
        given_up = db.session.execute(
            update(DigestRun).where(DigestRun.status == "claimed", DigestRun.claimed_at < now - GIVE_UP_RUN_AFTER)
            .values(status="failed").execution_options(synchronize_session=False)).rowcount
        db.session.commit()
    if given_up:
        log.error("digests: %s digest runs could not be built for %s and were given up", given_up, GIVE_UP_RUN_AFTER)
    return given_up


def sweep_mail(now: datetime | None = None) -> int:
    """Scheduler: enqueue every message due now and rebuild stuck digests; returns messages enqueued."""
    from jobs.queues import enqueue, make_job_id

    now = now or utcnow()
    give_up_stale_digest_runs(now)
    for tenant_id, run_id in stale_digest_runs(now):
        try:
            enqueue("digests", "jobs.digests.build_digest", tenant_id, run_id,
                    job_id=make_job_id(tenant_id, "digest-build", run_id, int(now.timestamp())))
        except (redis.RedisError, OSError):
            break
    return enqueue_sends(due_messages(now), now)


# --- quiet hours ---

def in_quiet_hours(local_hour: int, start: int | None, end: int | None) -> bool:
    """Whether ``local_hour`` falls in [start, end) — the span may wrap past midnight (22 → 7)."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local_hour < end
    return local_hour >= start or local_hour < end


def quiet_hours_end(now: datetime, timezone_name: str, start: int | None, end: int | None) -> datetime | None:
    """When the member's quiet hours end if ``now`` is inside them (UTC), else None.

    Computed on the clinic's wall clock, so a DST change inside the night still
    releases the alert at the local hour the member chose.
    """
    zone = ZoneInfo(timezone_name)
    local = now.astimezone(zone)
    if not in_quiet_hours(local.hour, start, end):
        return None
    release_date = local.date() if local.hour < end else local.date() + timedelta(days=1)
    release = datetime(release_date.year, release_date.month, release_date.day, end, tzinfo=zone)
    return release.astimezone(now.tzinfo or ZoneInfo("UTC"))


def clinic_sends_notifications(tenant, now: datetime | None = None) -> bool:
    """Whether the current clinic's licence lets it receive e-mail today (never when suspended)."""
    from app.models import Licence
    from tenants.licensing import licence_status

    now = now or utcnow()
    licence = db.session.scalar(select(Licence))
    today = now.astimezone(ZoneInfo(tenant.timezone)).date()
    return licence_status(licence, today, current_app.config["LICENCE_GRACE_DAYS"]).sends_notifications
