"""Who is logged in, as Flask-Login sees it.

A staff session only means something inside a clinic the user belongs to: the
loader looks the user up through a membership of the *current* clinic, so the
same cookie opens nothing in another workspace. Operator sessions are honoured
only in the operators' console.
"""
from __future__ import annotations

import hashlib

from flask import request
from flask_login import LoginManager, UserMixin

from app.extensions import db
from app.models import Membership, Operator, User
from app.parsing import whole_number
from tenants.context import current_tenant_id

ROLE_PERMISSIONS = {
    "viewer": {"read"},
    "manager": {"read", "handle_cases", "see_contacts", "edit_questionnaires", "export", "import_data",
                "manage_sources"},
    "owner": {"read", "handle_cases", "see_contacts", "edit_questionnaires", "export", "import_data",
              "manage_sources", "manage_users", "manage_clinic"},
}


def _credential_stamp(account) -> str:
    # Changing the password, or turning two-factor login on or off, changes the stamp, which
    # ends every other session. Without two-factor login the stamp is the password's alone.
    material = account.password_hash or ""
    if account.totp_secret and account.totp_enabled_at is not None:
        material += ":" + account.totp_secret
    return hashlib.sha256(material.encode()).hexdigest()[:12]


class StaffPrincipal(UserMixin):
    """A clinic user acting in the current clinic with their membership's role."""

    is_operator = False

    def __init__(self, user: User, membership: Membership):
        self.user = user
        self.membership = membership

    def get_id(self) -> str:
        return f"u:{self.user.id}:{_credential_stamp(self.user)}"

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def display_name(self) -> str:
        return self.user.full_name or self.user.email

    def can(self, permission: str) -> bool:
        """Whether this user's role in the clinic grants ``permission``."""
        return permission in ROLE_PERMISSIONS.get(self.membership.role, set())


class OperatorPrincipal(UserMixin):
    """A platform operator in the operators' console."""

    is_operator = True

    def __init__(self, operator: Operator):
        self.operator = operator

    def get_id(self) -> str:
        return f"op:{self.operator.id}:{_credential_stamp(self.operator)}"

    @property
    def display_name(self) -> str:
        return self.operator.full_name or self.operator.email

    def can(self, permission: str) -> bool:
        return False


def staff_session_id(user: User) -> str:
    """The session id Flask-Login stores for a staff user."""
    return f"u:{user.id}:{_credential_stamp(user)}"


def load_principal(session_id: str):
    """Flask-Login's user loader, bound to the current clinic or console."""
    kind, _, rest = (session_id or "").partition(":")
    raw_id, _, stamp = rest.partition(":")
    principal_id = whole_number(raw_id)
    if principal_id is None:
        return None
    if kind == "op":
        if request.blueprint != "platform":
            return None
        operator = db.session.get(Operator, principal_id)
        if operator and operator.is_active and stamp == _credential_stamp(operator):
            return OperatorPrincipal(operator)
        return None
    if kind == "u":
        if current_tenant_id() is None:
            return None
        user = db.session.get(User, principal_id)
        if user is None or not user.is_active or stamp != _credential_stamp(user):
            return None
        from app.accounts import membership_of

        membership = membership_of(user.id)
        return StaffPrincipal(user, membership) if membership else None
    return None


def install_user_loader(manager: LoginManager) -> None:
    """Wire the loader and the login pages into Flask-Login."""
    manager.user_loader(load_principal)
    manager.session_protection = "basic"
