"""The second step of a two-factor login, shared by the staff and the operators' login pages.

After a right password the session holds only a pending login: who, the session id the
account had then (so a password changed or two-factor login turned off in between voids it)
and when. Nothing is open until a code is accepted, and the step lapses after five minutes.
"""
from __future__ import annotations

import time
from typing import Callable

from flask import current_app, render_template, request, session
from flask_babel import gettext as _
from flask_babel import ngettext

from app import two_factor
from app.accounts import login_blocked, record_login_attempt
from app.extensions import db

PENDING_LOGIN = "pending_login"
PENDING_SECONDS = 300


def begin(kind: str, account_id: int, session_id: str, next_url: str = "") -> None:
    session.clear()
    session[PENDING_LOGIN] = {"kind": kind, "id": account_id, "stamp": session_id, "at": time.time(),
                              "next": next_url}


def pending(kind: str, load: Callable[[int], object | None], session_id_of: Callable[[object], str]):
    """The account waiting for its code, or None (no step begun, lapsed, or voided since)."""
    step = session.get(PENDING_LOGIN)
    if not isinstance(step, dict) or step.get("kind") != kind \
            or time.time() - float(step.get("at") or 0) > PENDING_SECONDS:
        return None
    account = load(int(step.get("id") or 0))
    if account is None or not account.is_active or not two_factor.is_enabled(account) \
            or session_id_of(account) != step.get("stamp"):
        return None
    return account


def next_url() -> str:
    return (session.get(PENDING_LOGIN) or {}).get("next") or ""


def forget() -> None:
    session.pop(PENDING_LOGIN, None)


def check_posted_code(realm: str, account, template: str):
    """Throttle, check and record the code posted for ``account``.

    Returns ``(how, None)`` with ``how`` ``"app"`` or ``"recovery"`` when it is accepted, else
    ``(None, page)``: the code page again with the reason, to answer with.
    """
    from app.auth.views import client_ip

    cfg = current_app.config
    if login_blocked(realm, account.email, client_ip(), max_failures=cfg["LOGIN_MAX_FAILURES"],
                     window_minutes=cfg["LOGIN_WINDOW_MINUTES"]):
        return None, (render_template(template, error=ngettext(
            "Too many failed attempts. Wait %(num)s minute and try again.",
            "Too many failed attempts. Wait %(num)s minutes and try again.", cfg["LOGIN_WINDOW_MINUTES"])), 429)
    used = two_factor.verify(account, (request.form.get("code") or "")[:40])
    record_login_attempt(realm, account.email, client_ip(), used is not None)
    db.session.commit()  # the attempt, and the step or recovery code now spent
    if used is None:
        return None, (render_template(template, error=_("Wrong code. Enter the code the app shows now, "
                                                        "or one of your recovery codes.")), 401)
    return used, None


def recovery_notice(account) -> str:
    left = len(account.recovery_code_hashes or [])
    return ngettext("You used a recovery code: %(num)s is left. Make new ones in your account's two-factor "
                    "settings.", "You used a recovery code: %(num)s are left. Make new ones in your account's "
                    "two-factor settings.", left)
