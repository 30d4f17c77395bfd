"""The API blueprint: key check, licence, rate limit and scopes, before any view runs."""
from __future__ import annotations

from datetime import timedelta
from functools import wraps
from urllib.parse import unquote

from flask import Blueprint, current_app, g, request

from app.extensions import csrf, db
from app.models import utcnow
from app.parsing import has_control_chars
from app.ratelimit import hit
from tenants.licensing import has_module
from tenants.resolve import current_licence_status, enter_clinic_by_api_key

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# last_used_at is written at most this often, so a client polling every second costs no write each time.
USAGE_STAMP_EVERY = timedelta(minutes=1)


def api_error(code: int, error: str, message: str, headers: dict | None = None, **extra):
    """A JSON error: a short ``error`` code for programs and a ``message`` for the person reading the log."""
    return {"error": error, "message": message, **extra}, code, headers or {}


# The API's description is public: it names no clinic and holds no data.
OPEN_ENDPOINTS = {"api.openapi"}


@bp.before_request
def _authenticate():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return api_error(401, "unauthorized", "Send the clinic's API key as 'Authorization: Bearer <key>'.",
                         {"WWW-Authenticate": 'Bearer realm="vernost"'})
    key = enter_clinic_by_api_key(token.strip())
    if key is None:
        return api_error(401, "unauthorized", "This API key is unknown or was revoked.",
                         {"WWW-Authenticate": 'Bearer realm="vernost", error="invalid_token"'})
    g.api_key = key
    if has_control_chars(unquote(request.query_string.decode("latin-1"))):
        # Web pages drop such characters from what people type; a program gets told instead.
        return api_error(400, "bad_parameter", "Query parameters may not contain control characters.")
    status = current_licence_status()
    if not has_module(g.get("licence"), "api"):
        return api_error(403, "module_not_licensed", "The clinic's licence does not include the API.")
    if not hit(f"api:{key.id}", current_app.config["API_RATE_LIMIT"], 60):
        return api_error(429, "rate_limited", "Too many requests with this key; wait a minute.",
                         {"Retry-After": "60"})
    if request.method not in SAFE_METHODS and not status.can_write:
        return api_error(403, "read_only", "The clinic's licence is read-only: data can be read, not changed.")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > USAGE_STAMP_EVERY:
        key.last_used_at = now
        db.session.commit()
    return None


def requires_scope(scope: str):
    """View decorator: the request's key must carry ``scope``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if scope not in (g.api_key.scopes or []):
                return api_error(403, "scope_missing", f"This key may not do this: it lacks the '{scope}' scope.")
            return view(*args, **kwargs)

        return wrapper

    return decorator
