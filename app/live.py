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
