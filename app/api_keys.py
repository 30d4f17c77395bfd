"""API keys: made by a clinic's owner, shown once, kept only as a hash.

A key reads ``vnk_<key id>_<secret>``. The key id is public and finds the key, and with it
the clinic, in one indexed lookup; the secret is 256 random bits, so a fast hash is enough
and a stolen database gives no usable key.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from app.extensions import db
from app.i18n import N_
from app.models import ApiKey, utcnow

# What a key may do: read the clinic's feedback and metrics; push visits from the clinic's CRM.
SCOPES = ("read", "visits")
PREFIX = "vnk"
_TOKEN_RE = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_\-]{{43}})$")
MAX_NAME = 100


class ApiKeyError(ValueError):
    """A key cannot be made as asked (the message is an English msgid shown translated)."""


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # shown to the owner once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(name: str, scopes: list[str], created_by_user_id: int | None) -> IssuedKey:
    """A new key for the current clinic (added to the session, not committed)."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyError(N_("Give the key a name, such as the system that will use it."))
    if len(name) > MAX_NAME:
        raise ApiKeyError(N_("The name is longer than 100 characters."))
    chosen = [scope for scope in SCOPES if scope in set(scopes)]
    if not chosen or len(chosen) != len(set(scopes)):
        raise ApiKeyError(N_("Choose what the key may do."))
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(name=name, key_id=key_id, secret_hash=_hash(secret), scopes=chosen,
                 created_by_user_id=created_by_user_id)
    db.session.add(key)
    return IssuedKey(key, f"{PREFIX}_{key_id}_{secret}")


def parse_token(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None."""
    match = _TOKEN_RE.match(token or "")
    return (match[1], match[2]) if match else None


def secret_matches(key: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(key.secret_hash, _hash(secret))


def revoke_key(key: ApiKey, now: datetime | None = None) -> None:
    """Stop a key working; the row stays so the access log can still name it."""
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()


def display_token(key: ApiKey) -> str:
    """How a key is shown after it is made: its public part only."""
    return f"{PREFIX}_{key.key_id}_…"
