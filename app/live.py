"""A per-clinic change marker in Redis, so open journals learn cheaply that something is new."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from app.extensions import redis_client


def marker_key(tenant_id: int) -> str:
    """Redis key of a clinic's change counter (the tenant is part of every key)."""
    return f"live:t{int(tenant_id)}:changes"


def mark_changed(tenant_id: int) -> int:
    """Bump the clinic's change counter; returns the new value."""
    return int(redis_client().incr(marker_key(tenant_id)))


def announce_change(tenant_id: int) -> None:
    """Tell the clinic's open journals that something changed; best effort, after the commit.

    Without Redis the journals still catch up: they poll the database instead.
    """
    try:
        mark_changed(tenant_id)
    except Exception:  # noqa: BLE001 — the change is stored; only its live announcement is lost
        logging.getLogger(__name__).warning("live journal marker not updated")


def current_marker(tenant_id: int) -> int:
    """The clinic's change counter (0 when nothing was marked yet)."""
    value = redis_client().get(marker_key(tenant_id))
    return int(value) if value else 0


TICKET_SALT = "vernost-live-journal"
# Short: a member removed from the clinic stops receiving entries through a ticket within the hour.
# Open pages get a fresh ticket with every authenticated catch-up.
TICKET_MAX_AGE = 3600
UPDATES_CACHE_SECONDS = 3


@dataclass(frozen=True)
class LiveTicket:
    tenant_id: int
    user_id: int
    see_contacts: bool
    locale: str


def issue_ticket(tenant_id: int, user_id: int, see_contacts: bool = False, locale: str = "ru") -> str:
    """A signed, expiring ticket that lets an open journal ask for its clinic's marker.

    The marker poll runs every second per open tab; the ticket spares it the session,
    user and clinic lookups, so an unchanged journal costs one Redis GET. It names the
    clinic, the member, whether they may see contacts and their language, so that the
    shared new-entries fragment of a change can be handed out with the marker.
    """
    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(current_app.secret_key, salt=TICKET_SALT).dumps(
        [int(tenant_id), int(user_id), int(bool(see_contacts)), str(locale)[:8]])


def read_ticket(ticket: str) -> LiveTicket | None:
    """What a ticket was issued for, or None when it is forged, foreign or expired."""
    from flask import current_app
    from itsdangerous import BadData, URLSafeTimedSerializer

    if not ticket or len(ticket) > 200:
        return None
    try:
        tenant_id, user_id, see_contacts, locale = URLSafeTimedSerializer(
            current_app.secret_key, salt=TICKET_SALT).loads(ticket, max_age=TICKET_MAX_AGE)
        return LiveTicket(int(tenant_id), int(user_id), bool(see_contacts), str(locale))
    except (BadData, TypeError, ValueError):
        return None


def updates_cache_key(tenant_id: int, marker: int, after: int, filter_args: dict, see_contacts: bool,
                      locale: str) -> str:
    """Redis key of the new-entries fragment for one (change, position, filters, permission, language)."""
    raw = repr((int(marker), int(after), sorted(filter_args.items()), bool(see_contacts), str(locale)))
    return f"live:t{int(tenant_id)}:updates:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def cached_updates(key: str) -> str | None:
    """The shared fragment under ``key`` ("" means "nothing new"), or None when not cached or no Redis."""
    try:
        value = redis_client().get(key)
    except Exception:  # noqa: BLE001 — no cache without Redis
        return None
    return value.decode() if value is not None else None


def cache_updates(key: str, body: str) -> None:
    """Share a rendered fragment for a few seconds (best effort)."""
    try:
        redis_client().set(key, body.encode(), ex=UPDATES_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        pass
