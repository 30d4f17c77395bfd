"""The second step of a two-factor login, shared by the staff and the operators' login pages.

After a right password the session holds only a pending login: who, the session id the
account had then (so a password changed or two-factor login turned off in between voids it)
and when. Nothing is open until a code is accepted, and the step lapses after five minutes.
"""
from __future__ import annotations

import time
from typing import Callable

from flask import session

from app import two_factor

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
