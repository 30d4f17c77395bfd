"""A per-clinic change marker in Redis, so open journals learn cheaply that something is new."""
from __future__ import annotations

from app.extensions import redis_client


def marker_key(tenant_id: int) -> str:
    """Redis key of a clinic's change counter (the tenant is part of every key)."""
    return f"live:t{int(tenant_id)}:changes"


def mark_changed(tenant_id: int) -> int:
    """Bump the clinic's change counter; returns the new value."""
    return int(redis_client().incr(marker_key(tenant_id)))


def current_marker(tenant_id: int) -> int:
    """The clinic's change counter (0 when nothing was marked yet)."""
    value = redis_client().get(marker_key(tenant_id))
    return int(value) if value else 0


TICKET_SALT = "vernost-live-journal"
TICKET_MAX_AGE = 24 * 3600


def issue_ticket(tenant_id: int, user_id: int) -> str:
    """A signed, expiring ticket that lets an open journal ask for its clinic's marker.

    The marker poll runs many times a minute per open tab; the ticket spares it the
    session, user and clinic lookups, so an unchanged journal costs one Redis GET.
    It reveals nothing but a change counter, and only of the clinic it names.
    """
    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(current_app.secret_key, salt=TICKET_SALT).dumps([int(tenant_id), int(user_id)])


def read_ticket(ticket: str) -> int | None:
    """The clinic id a ticket was issued for, or None when it is forged, foreign or expired."""
    from flask import current_app
    from itsdangerous import BadData, URLSafeTimedSerializer

    if not ticket or len(ticket) > 200:
        return None
    try:
        tenant_id, _user_id = URLSafeTimedSerializer(current_app.secret_key, salt=TICKET_SALT).loads(
            ticket, max_age=TICKET_MAX_AGE)
        return int(tenant_id)
    except (BadData, TypeError, ValueError):
        return None
