"""Staff accounts: invitations, seats, passwords and login throttling.

These functions run inside a clinic's scope (for memberships and invitations)
and know nothing about requests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app import two_factor
from app.extensions import db
from app.models import ROLES, Invitation, Licence, LoginAttempt, Membership, Operator, PasswordReset, User, utcnow
from app.security import hash_password, new_token, password_problem, token_hash, verify_password
from tenants.context import require_tenant_id

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,185}\.[^@\s]{2,}$")


class AccountError(ValueError):
    """A request about accounts that cannot be honoured; the message says why."""


class WrongPassword(AccountError):
    """The current password given to confirm a change is wrong (a guess worth counting)."""


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed e-mail; raises AccountError when it is not one."""
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise AccountError(_l("invalid e-mail address"))
    return email


@dataclass(frozen=True)
class SeatUsage:
    used: int
    pending: int
    seats: int

    @property
    def free(self) -> int:
        return max(0, self.seats - self.used - self.pending)


def seat_usage(now: datetime | None = None) -> SeatUsage:
    """Seats used by members and held by open invitations in the current clinic."""
    now = now or utcnow()
    used = db.session.scalar(select(func.count()).select_from(Membership)) or 0
    pending = db.session.scalar(
        select(func.count()).select_from(Invitation).where(
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now
        )
    ) or 0
    licence = db.session.scalar(select(Licence))
    return SeatUsage(used=used, pending=pending, seats=licence.seats if licence else 0)


def invite(email: str, role: str, *, ttl_hours: int, invited_by: User | None = None,
           enforce_seats: bool = True) -> tuple[Invitation, str]:
    """Create a one-time invitation in the current clinic; returns it and its token.

    Seats count members plus open invitations; an existing member can't be invited twice.
    """
    email = normalise_email(email)
    if role not in ROLES:
        raise AccountError(_l("unknown role %(role)s", role=role))
    user = db.session.scalar(select(User).where(User.email == email))
    if user and db.session.scalar(select(Membership).where(Membership.user_id == user.id)):
        raise AccountError(_l("this person is already a member of the clinic"))
    # A fresh invitation replaces any open one for the same address.
    for old in db.session.scalars(select(Invitation).where(
            Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
        old.revoked_at = utcnow()
    db.session.flush()
    if enforce_seats and seat_usage().free <= 0:
        raise AccountError(_l("no free seats under the clinic's licence"))
    token, hashed = new_token()
    invitation = Invitation(
        email=email, role=role, token_hash=hashed,
        expires_at=utcnow() + timedelta(hours=ttl_hours),
        invited_by_user_id=invited_by.id if invited_by else None,
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation, token


def find_open_invitation(token: str) -> Invitation:
    """The current clinic's invitation for a token, if it can still be used."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token or "")))
    if invitation is None or invitation.revoked_at is not None:
        raise AccountError(_l("this invitation link is not valid"))
    if invitation.accepted_at is not None:
        raise AccountError(_l("this invitation link has already been used"))
    if invitation.expires_at <= utcnow():
        raise AccountError(_l("this invitation link has expired; ask for a new one"))
    return invitation


def accept_invitation(token: str, *, full_name: str, password: str | None) -> Membership:
    """Use an invitation: create or reuse the user, add the membership, burn the link.

    A person who already has an account (a network clinic's manager) keeps their
    password and must give it: the link is seen by whoever sent it too, and must not open
    someone's account in their other clinics. A new person must set one.
    """
    invitation = find_open_invitation(token)
    user = db.session.scalar(select(User).where(User.email == invitation.email))
    if user is not None:
        if not user.is_active or not password or not verify_password(user.password_hash, password):
            raise AccountError(_l("this e-mail already has an account: enter its password"))
    else:
        if not password:
            raise AccountError(_l("choose a password"))
        problem = password_problem(password)
        if problem:
            raise AccountError(_l("password: %(problem)s", problem=problem))
        # The address is proven when the link only ever went to it by e-mail.
        user = User(email=invitation.email, full_name=(full_name or "").strip()[:200],
                    password_hash=hash_password(password),
                    email_confirmed_at=None if invitation.link_shown_at else utcnow())
        db.session.add(user)
        db.session.flush()
    usage = seat_usage()
    if usage.used >= usage.seats:
        raise AccountError(_l("no free seats under the clinic's licence"))
    membership = Membership(user_id=user.id, role=invitation.role)
    db.session.add(membership)
    invitation.accepted_at = utcnow()
    db.session.flush()
    return membership


def membership_of(user_id: int) -> Membership | None:
    """The user's membership in the current clinic."""
    require_tenant_id()
    return db.session.scalar(select(Membership).where(Membership.user_id == user_id))


# --- password reset (users are global; tokens are single use) ---

def start_password_reset(email: str, ttl_minutes: int) -> str | None:
    """A reset token for the account, or None when there is no such account.

    Callers answer the same way either way so addresses can't be probed.
    """
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    user = db.session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
    if user is None:
        return None
    token, hashed = new_token()
    db.session.add(PasswordReset(user_id=user.id, token_hash=hashed,
                                 expires_at=utcnow() + timedelta(minutes=ttl_minutes)))
    db.session.flush()
    return token


def finish_password_reset(token: str, new_password: str) -> tuple[User, bool]:
    """Set a new password with a reset token; the token, and every other of the user's, can't be used again.

    Using it proves the address: an unconfirmed account (made through an invitation link its sender
    saw) becomes confirmed, and two-factor login set up before that is turned off. Returns the user
    and whether that happened.
    """
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == token_hash(token or "")))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise AccountError(_l("this reset link is not valid or has expired"))
    problem = password_problem(new_password)
    if problem:
        raise AccountError(_l("password: %(problem)s", problem=problem))
    user = db.session.get(User, reset.user_id)
    user.password_hash = hash_password(new_password)
    reset.used_at = utcnow()
    void_password_resets(user.id)
    second_factor_removed = False
    if user.email_confirmed_at is None:
        # The first proof that the mailbox's owner holds the account: a second factor set up before it
        # may be someone else's, who made the account with a link they saw.
        user.email_confirmed_at = utcnow()
        second_factor_removed = two_factor.is_enabled(user)
        two_factor.disable(user)
    db.session.flush()
    return user, second_factor_removed


def void_password_resets(user_id: int) -> None:
    """End every unused reset link of the user: after a new password, an older e-mail must not set another."""
    db.session.execute(update(PasswordReset).where(PasswordReset.user_id == user_id,
                                                  PasswordReset.used_at.is_(None)).values(used_at=utcnow()))


def change_password(account, current: str, new: str, confirm: str) -> None:
    """Replace the password of a logged-in person (a member or an operator) who knows the current one.

    Flushes nothing itself; the new password's hash changes the session stamp, ending other sessions.
    """
    if not verify_password(account.password_hash, current):
        raise WrongPassword(_l("The current password is wrong."))
    if new != confirm:
        raise AccountError(_l("The passwords differ."))
    problem = password_problem(new)
    if problem:
        raise AccountError(_l("password: %(problem)s", problem=problem))
    if new == current:
        raise AccountError(_l("The new password is the same as the current one."))
    account.password_hash = hash_password(new)
    if isinstance(account, User):  # operators have no reset links
        void_password_resets(account.id)


# --- login throttling ---

def login_blocked(realm: str, email: str, ip: str, *, max_failures: int, window_minutes: int) -> bool:
    """Too many recent failures for this address, or from this client."""
    since = utcnow() - timedelta(minutes=window_minutes)
    failures = select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.realm == realm, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
    by_email = db.session.scalar(failures.where(LoginAttempt.email == email)) or 0
    # A clinic shares one address: allow several people's typos before blocking the address.
    by_ip = db.session.scalar(failures.where(LoginAttempt.ip == ip)) or 0
    return by_email >= max_failures or by_ip >= max_failures * 4


def record_login_attempt(realm: str, email: str, ip: str, succeeded: bool) -> None:
    """Remember a login try for throttling."""
    db.session.add(LoginAttempt(realm=realm, email=email[:254], ip=ip[:64], succeeded=succeeded))


# --- operators ---

@dataclass(frozen=True)
class OperatorRow:
    operator: Operator
    two_factor: bool
    last_sign_in: datetime | None


def operator_roster() -> list[OperatorRow]:
    """Every operator with whether two-factor login protects them and when they last signed in.

    Operators reach every clinic, so who among them still signs in with a password alone, and
    whose account has gone unused, is worth seeing at a glance.
    """
    from app.two_factor import is_enabled

    last = {(realm, email): at for realm, email, at in db.session.execute(
        select(LoginAttempt.realm, LoginAttempt.email, func.max(LoginAttempt.at))
        .where(LoginAttempt.realm.in_(("operator", "operator_code")), LoginAttempt.succeeded.is_(True))
        .group_by(LoginAttempt.realm, LoginAttempt.email))}
    rows = []
    for operator in db.session.scalars(select(Operator).order_by(Operator.is_active.desc(), Operator.email)):
        protected = is_enabled(operator)
        # With two-factor login a password alone opens nothing: the sign-in is the accepted code.
        rows.append(OperatorRow(operator, protected,
                                last.get(("operator_code" if protected else "operator", operator.email))))
    return rows
