"""Password hashing and one-time tokens."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; never raises on a bad or missing hash."""
    if not password_hash:
        # Spend the same time as a real check so unknown accounts can't be told apart.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return ngettext("at least %(num)s character", "at least %(num)s characters", MIN_PASSWORD_LENGTH)
    if len(password) > 256:
        return str(_l("at most 256 characters"))
    if password.strip() == "" or len(set(password)) < 4:
        return str(_l("too simple"))
    return None


def new_token() -> tuple[str, str]:
    """A fresh URL-safe token and the hash we store instead of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """SHA-256 of a token: links are stored hashed so a database leak can't use them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
