"""Webhooks: a clinic's other systems hear of new answers, cases and negative web reviews as they happen.

An event becomes one ``WebhookDelivery`` row per subscribed webhook, in the transaction
that caused it, with a promised job (jobs.outbox) that sends it after the commit. Sending:

1. the job claims the row (pending and due) by pushing its next attempt a lease ahead;
2. it builds the payload from the answer or case as they are now (no copy waits in the table);
3. it POSTs the JSON, signed ``Vernost-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``;
4. a 2xx answer delivers it; anything else retries with a backoff, up to ``MAX_ATTEMPTS``;
   a webhook whose deliveries are given up ``DISABLE_AFTER`` times in a row is switched off.

``sweep`` (every minute, from the scheduler) sends again what is due: retries, and rows whose
job was lost with Redis or a worker. Delivery is at least once: receivers dedupe on the id.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from datetime import datetime, timedelta

import httpx
import redis
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.audit import log_access
from app.extensions import db
from app.models import (Branch, Case, Doctor, ExternalReview, Licence, Response, Tenant, Webhook, WebhookDelivery,
                        utcnow)
from app.net import is_private_host, public_only_transport, refused_as_private
from app.urls import hostname_of, split_url
from tenants.context import platform_scope, require_tenant_id
from tenants.licensing import has_module

log = logging.getLogger(__name__)

EVENTS = {
    "response.created": _l("A patient answered (every answer, without contact details)"),
    "case.opened": _l("A case was opened (an answer at risk, or opened by hand)"),
    "case.resolved": _l("A case was resolved"),
    "review.negative": _l("A new negative review of the clinic was found on a review site"),
}
PING = "ping"
MODULE = "api"  # webhooks come with the API module
MAX_WEBHOOKS = 5
MAX_URL = 500
MAX_ATTEMPTS = 8
DISABLE_AFTER = 5
LEASE = timedelta(minutes=2)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# A promised job sends a new row at once; the sweep leaves it alone this long.
FIRST_SEND_GRACE = timedelta(seconds=30)


class WebhookError(ValueError):
    """A webhook that cannot be made as asked; the message is for the manager."""


PRIVATE_NETWORK = _l("This address is on a private network, which the service does not call.")


def retry_delay(attempts: int) -> timedelta:
    """After the ``attempts``-th failure: 1, 2, 4 … 64 minutes, so eight tries span about two hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Vernost-Signature`` header: the time and the HMAC-SHA256 of ``"<time>.<body>"``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


_clients: dict[tuple[int, bool], httpx.Client] = {}


def _http_client(allow_private: bool) -> httpx.Client:
    """One client per process: its TLS context is built once and connections are kept alive.

    Keyed by process id, because a worker that forks must not share its parent's sockets.
    Unless private addresses are allowed, the client checks the address again when it
    connects and connects to the address it checked (``app.net``).
    """
    key = (os.getpid(), allow_private)
    if key not in _clients:
        limits = httpx.Limits(max_keepalive_connections=10, keepalive_expiry=30)
        transport = (httpx.HTTPTransport(limits=limits) if allow_private
                     else public_only_transport(limits=limits))
        _clients[key] = httpx.Client(timeout=TIMEOUT, follow_redirects=False, transport=transport)
    return _clients[key]


def check_destination(url: str, allow_private: bool) -> str:
    """The URL, stripped, if webhooks may be sent there; else WebhookError saying why."""
    url = (url or "").strip()
    if not url:
        raise WebhookError(_l("Enter the address that should receive the events."))
    if len(url) > MAX_URL:
        raise WebhookError(_l("The address is longer than 500 characters."))
    parts = split_url(url)
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError(_l("The address must start with https:// and name a server."))
    if parts.username or parts.password:
        raise WebhookError(_l("Put no password in the address: the signature proves who is sending."))
    try:
        httpx.URL(url).host  # what the sender will read: a host it refuses ("a..b", bad IDNA) fails here
    except (httpx.InvalidURL, UnicodeError):
        raise WebhookError(_l("The address must start with https:// and name a server.")) from None
    if not allow_private:
        if parts.scheme != "https":
            raise WebhookError(_l("Events carry patients' words: the address must use https://."))
        if is_private_host(parts.hostname):
            raise WebhookError(PRIVATE_NETWORK)
    return url


def _allow_private() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))


def create_webhook(url: str, events: list[str], user_id: int | None) -> Webhook:
    """A new webhook of the current clinic (added to the session, not committed)."""
    url = check_destination(url, _allow_private())
    chosen = [event for event in EVENTS if event in set(events)]
    if not chosen or len(chosen) != len(set(events)):
        raise WebhookError(_l("Choose the events to send."))
    if db.session.scalar(select(func.count(Webhook.id))) >= MAX_WEBHOOKS:
        raise WebhookError(_l("A clinic has at most 5 webhooks; delete one first."))
    webhook = Webhook(url=url, events=chosen, secret=f"whsec_{secrets.token_urlsafe(32)}", active=True,
                      created_by_user_id=user_id)
    db.session.add(webhook)
    return webhook


def set_active(webhook: Webhook, active: bool) -> None:
    webhook.active = active
    if active:
        webhook.disabled_reason, webhook.consecutive_failures = "", 0


# --- announcing events ---

def _subscribers(event: str) -> list[Webhook]:
    """The current clinic's active webhooks for ``event``, if its licence has the module."""
    hooks = [hook for hook in db.session.scalars(select(Webhook).where(Webhook.active.is_(True)))
             if event == PING or event in (hook.events or [])]
    if hooks and (not has_module(db.session.scalar(select(Licence)), MODULE)
                  or db.session.get(Tenant, require_tenant_id()).delete_after is not None):
        return []
    return hooks


def announce(event: str, subject_id: int | None, dedupe_key: str, hooks: list[Webhook] | None = None) -> list[str]:
    """Queue ``event`` for every subscribed webhook; returns the promised job ids to flush after the commit."""
    from jobs.outbox import defer
    from jobs.queues import make_job_id

    job_ids = []
    for hook in hooks if hooks is not None else _subscribers(event):
        exists = db.session.scalar(select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == hook.id, WebhookDelivery.dedupe_key == dedupe_key))
        if exists is not None:  # a follow-up job that ran twice announces once
            continue
        delivery = WebhookDelivery(webhook_id=hook.id, event=event, subject_id=subject_id, dedupe_key=dedupe_key)
        try:
            with db.session.begin_nested():  # two jobs racing past the check above: the second adds nothing
                db.session.add(delivery)
        except IntegrityError:
            continue
        # The token keeps job ids unique where a database reuses the ids of deleted rows (SQLite).
        job_id = make_job_id(require_tenant_id(), "webhook", delivery.id, secrets.token_hex(4))
        defer("default", "jobs.webhooks.deliver_webhook", delivery.id, job_id=job_id)
        job_ids.append(job_id)
    return job_ids


def announce_response(response: Response) -> list[str]:
    """A new answer, and the case it opened at submission if it was at risk."""
    job_ids = announce("response.created", response.id, f"response:{response.id}")
    if response.case is not None and response.case.origin == "auto":
        job_ids += announce_case("case.opened", response.case)
    return job_ids


def announce_case(event: str, case: Case) -> list[str]:
    stamp = int(case.resolved_at.timestamp()) if event == "case.resolved" and case.resolved_at else 0
    return announce(event, case.id, f"{event}:{case.id}:{stamp}")


def announce_negative_reviews(review_ids: list[int]) -> list[str]:
    """New negative reviews of the current clinic, one event each."""
    hooks = _subscribers("review.negative") if review_ids else []
    job_ids = []
    for review_id in review_ids if hooks else []:
        job_ids += announce("review.negative", review_id, f"review.negative:{review_id}", hooks=hooks)
    return job_ids


def send_test(webhook: Webhook) -> list[str]:
    """A ``ping`` to one webhook, so the receiver can be checked before real events arrive.

    Nothing (an empty list) when the webhook is paused or the licence lacks the module.
    """
    hooks = [hook for hook in _subscribers(PING) if hook.id == webhook.id]
    return announce(PING, None, f"ping:{secrets.token_hex(8)}", hooks=hooks)


# --- sending ---

def build_payload(delivery: WebhookDelivery) -> dict | None:
    """What is sent, from the subject as it is now; None when the subject is gone (deleted on request)."""
    from app.api.payloads import case_json, external_review_json, iso, response_json

    tenant = db.session.get(Tenant, require_tenant_id())
    body = {"id": f"whd_{delivery.id}", "event": delivery.event, "created_at": iso(delivery.created_at),
            "clinic": tenant.slug}
    if delivery.event == PING:
        return {**body, "data": {"message": "Vernost can reach this address."}}
    if delivery.event == "review.negative":
        review = db.session.get(ExternalReview, delivery.subject_id)
        if review is None:
            return None
        branch = db.session.get(Branch, review.branch_id) if review.branch_id else None
        doctor = db.session.get(Doctor, review.doctor_id) if review.doctor_id else None
        return {**body, "data": {"review": external_review_json(review, branch, doctor)}}
    if delivery.event == "response.created":
        response = db.session.get(Response, delivery.subject_id)
        return None if response is None else {**body, "data": {"response": response_json(response, response.case)}}
    case = db.session.get(Case, delivery.subject_id)
    if case is None:
        return None
    return {**body, "data": {"case": case_json(case), "response": response_json(case.response, case)}}


def _claim(delivery_id: int, now: datetime) -> bool:
    due = or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now)
    result = db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == "pending", due)
        .values(next_attempt_at=now + LEASE, attempts=WebhookDelivery.attempts + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def deliver(delivery_id: int, now: datetime | None = None) -> str:
    """Send one delivery of the current clinic; returns ``delivered``, ``retry``, ``failed``, ``skipped``
    or ``not_claimed`` (another sender has it, or it is not due)."""
    now = now or utcnow()
    if not _claim(delivery_id, now):
        db.session.rollback()
        return "not_claimed"
    db.session.commit()  # the lease is visible before the receiver is called
    delivery = db.session.get(WebhookDelivery, delivery_id)
    hook = delivery.webhook
    # A clinic whose deletion is scheduled sends nothing more, even what was queued before.
    ending = db.session.get(Tenant, delivery.tenant_id).delete_after is not None
    payload = build_payload(delivery) if hook.active and not ending else None
    if payload is None:
        delivery.state, delivery.next_attempt_at = "skipped", None
        delivery.last_error = ("the clinic is ending" if ending else "webhook switched off" if not hook.active
                               else "the answer or case no longer exists")
        db.session.commit()
        return "skipped"
    allow_private = _allow_private()
    try:
        check_destination(hook.url, allow_private)  # the name may point elsewhere since it was saved
    except WebhookError as exc:
        return _give_up(delivery, hook, str(exc))
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": "Vernost-Webhooks/1",
               "Vernost-Event": delivery.event, "Vernost-Delivery": f"whd_{delivery.id}",
               "Vernost-Signature": signature(hook.secret, timestamp, body)}
    started = time.perf_counter()
    try:
        answer = _http_client(allow_private).post(hook.url, content=body, headers=headers)
        error = "" if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
        delivery.last_status_code = answer.status_code
    except httpx.TimeoutException:
        error = "timed out"
    except httpx.HTTPError as exc:
        if refused_as_private(exc):  # the name changed to a private address between check and connect
            return _give_up(delivery, hook, str(PRIVATE_NETWORK))
        error = f"could not connect ({type(exc).__name__})"
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        # An address saved before the check above refused it: no retry can reach it.
        return _give_up(delivery, hook, f"the address cannot be used ({type(exc).__name__})")
    delivery.duration_ms = int(1000 * (time.perf_counter() - started))
    if not error:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at, delivery.last_error = \
            "delivered", utcnow(), None, ""
        hook.consecutive_failures = 0
        answer_sent = (payload.get("data") or {}).get("response")
        if answer_sent:  # a patient's words left for another system: the access log says where
            log_access(None, "webhook_sent", "response", answer_sent["id"],
                       {"host": hostname_of(hook.url), "event": delivery.event,
                        "references": [answer_sent["reference"]]})
        db.session.commit()
        return "delivered"
    if delivery.attempts >= MAX_ATTEMPTS:
        return _give_up(delivery, hook, error)
    delivery.last_error, delivery.next_attempt_at = error, now + retry_delay(delivery.attempts)
    db.session.commit()
    # The address's host only: the path may carry the receiver's own token.
    log.warning("webhook delivery %s to %s: attempt %s failed (%s)", delivery.id, hostname_of(hook.url),
                delivery.attempts, error)
    return "retry"


def _give_up(delivery: WebhookDelivery, hook: Webhook, error: str) -> str:
    delivery.state, delivery.next_attempt_at, delivery.last_error = "failed", None, error[:300]
    hook.consecutive_failures += 1
    if hook.consecutive_failures >= DISABLE_AFTER and hook.active:
        hook.active = False
        hook.disabled_reason = f"{hook.consecutive_failures} deliveries in a row failed; last: {error}"[:300]
    db.session.commit()
    return "failed"


def due_deliveries(now: datetime, limit: int = 2000) -> list[tuple[int, int]]:
    """(clinic, delivery) pairs to send now, across clinics: retries that are due, leases that ran out,
    and new rows whose promised job never ran (platform scope: ids only)."""
    with platform_scope():
        rows = db.session.execute(
            select(WebhookDelivery.tenant_id, WebhookDelivery.id).where(
                WebhookDelivery.state == "pending",
                or_(WebhookDelivery.next_attempt_at <= now,
                    (WebhookDelivery.next_attempt_at.is_(None)) & (WebhookDelivery.created_at < now - FIRST_SEND_GRACE)))
            .order_by(WebhookDelivery.id).limit(limit)).all()
    return [tuple(row) for row in rows]


def sweep(now: datetime | None = None) -> int:
    """Scheduler: enqueue a send for every due delivery; returns how many reached Redis."""
    from jobs.queues import enqueue, make_job_id

    now = now or utcnow()
    due = due_deliveries(now)
    sent = 0
    for tenant_id, delivery_id in due:
        try:
            enqueue("default", "jobs.webhooks.deliver_webhook", tenant_id, delivery_id,
                    job_id=make_job_id(tenant_id, "webhook", delivery_id, int(now.timestamp())))
        except (redis.RedisError, OSError):
            log.warning("webhooks: Redis unavailable, %s deliveries wait for the next sweep", len(due) - sent)
            break
        sent += 1
    return sent


def recent_deliveries(limit: int = 20) -> list[WebhookDelivery]:
    """The current clinic's latest deliveries, newest first, for the settings page."""
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)))
