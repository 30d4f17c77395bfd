"""Two-factor login: a six-digit code from an authenticator app (TOTP, RFC 6238) after the password.

Works for clinic staff and platform operators alike (``TwoFactorMixin`` columns). A code is
accepted within one 30-second step either side of now, for clock drift, and only once: the
step it belongs to is remembered, so a code read over a shoulder or from a log is useless.
Ten recovery codes, stored hashed, each usable once, let a person in without the phone.
"""
from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime

import pyotp
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import utcnow
from app.models.accounts import TwoFactorMixin
from app.security import token_hash

ISSUER = "Vernost"
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# Unambiguous letters and digits: a code read off paper is typed right.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_RE = re.compile(r"^[a-z0-9]{5}-?[a-z0-9]{5}$")


class TwoFactorError(ValueError):
    """A code that cannot be accepted; the message is for the person."""


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps expect."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account_name: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account_name, issuer_name=ISSUER)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _digits(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "")[:12]


def matching_step(secret: str, code: str, now: datetime, after_step: int = 0) -> int | None:
    """The time step whose code ``code`` is, within the drift allowed and later than ``after_step``."""
    code = _digits(code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def new_recovery_codes() -> tuple[list[str], list[str]]:
    """Fresh recovery codes (to show once) and their hashes (to store)."""
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    codes = [f"{code[:5]}-{code[5:]}" for code in codes]
    return codes, [token_hash(code.replace("-", "")) for code in codes]


def is_enabled(account: TwoFactorMixin) -> bool:
    return account.totp_enabled_at is not None and bool(account.totp_secret)


def begin_setup(account: TwoFactorMixin) -> str:
    """A new secret for ``account``, stored but not in force until ``enable`` confirms a code made with it."""
    account.totp_secret, account.totp_enabled_at = new_secret(), None
    return account.totp_secret


def enable(account: TwoFactorMixin, secret: str, code: str, now: datetime | None = None) -> list[str]:
    """Turn two-factor login on with ``secret`` once ``code`` proves the app has it; returns recovery codes."""
    now = now or utcnow()
    step = matching_step(secret, code, now)
    if step is None:
        raise TwoFactorError(_l("That code does not match. Check the app's clock and enter the code it shows now."))
    codes, hashes = new_recovery_codes()
    account.totp_secret, account.totp_enabled_at, account.totp_last_step = secret, now, step
    account.recovery_code_hashes = hashes
    return codes


def disable(account: TwoFactorMixin) -> None:
    account.totp_secret, account.totp_enabled_at = None, None
    account.totp_last_step, account.recovery_code_hashes = 0, []


def verify(account: TwoFactorMixin, code: str, now: datetime | None = None) -> str | None:
    """``"app"`` for a fresh authenticator code, ``"recovery"`` for an unused recovery code (now spent),
    or None. The caller commits (which also releases the row lock taken here)."""
    if not is_enabled(account):
        return None
    # Hold the account's row until the caller commits: two requests racing with one code (or one
    # recovery code) are served one after the other, and the second finds it spent.
    db.session.refresh(account, with_for_update=True)
    step = matching_step(account.totp_secret, code, now or utcnow(), after_step=account.totp_last_step)
    if step is not None:
        account.totp_last_step = step
        return "app"
    typed = (code or "").strip().lower()
    if _RECOVERY_RE.match(typed):
        digest = token_hash(typed.replace("-", ""))
        if digest in (account.recovery_code_hashes or []):
            account.recovery_code_hashes = [h for h in account.recovery_code_hashes if h != digest]
            return "recovery"
    return None


def regenerate_recovery_codes(account: TwoFactorMixin) -> list[str]:
    """New recovery codes; the old ones stop working."""
    codes, hashes = new_recovery_codes()
    account.recovery_code_hashes = hashes
    return codes
