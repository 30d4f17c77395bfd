"""The workspace blueprint, its guard and permission decorator."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, g, render_template, request, url_for
from flask_login import current_user

from app.two_factor import is_enabled
from app.web import leave_for, page_path
from tenants.resolve import attach_clinic_prefix, current_licence_status, current_tenant
from tenants.settings import clinic_settings

bp = Blueprint("workspace", __name__, url_prefix="/c/<slug>")
attach_clinic_prefix(bp)

# Endpoints open without a login (the invitation link) and writes allowed on a read-only licence.
OPEN_ENDPOINTS = {"workspace.accept_invitation"}
# A member may always turn their own e-mails down: a read-only clinic still receives digests.
# Patients' data rights (export, deletion) are honoured whatever the licence state.
READ_ONLY_ALLOWED = {"workspace.set_language", "workspace.notification_settings", "workspace.patient_data",
                     "workspace.delete_patient_data", "workspace.security_settings"}
# Where a member without two-factor login may go in a clinic that requires it: to set it up.
TWO_FACTOR_SETUP_ENDPOINTS = {"workspace.security_settings", "workspace.set_language"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@bp.before_request
def _guard():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated or getattr(current_user, "is_operator", False):
        return leave_for(url_for("auth.login", next=page_path()))
    if request.endpoint not in TWO_FACTOR_SETUP_ENDPOINTS and not is_enabled(current_user.user) \
            and clinic_settings(current_tenant()).require_two_factor:
        return leave_for(url_for("workspace.security_settings"), htmx_status=403)
    status = current_licence_status()
    if request.method not in SAFE_METHODS and not status.can_write and request.endpoint not in READ_ONLY_ALLOWED \
            and not request.endpoint.startswith("workspace.export"):
        return render_template("workspace/read_only.html", status=status), 403
    return None


@bp.context_processor
def _workspace_context():
    if g.get("tenant") is None:  # no such clinic: the 404 page needs no licence
        return {}
    return {"licence_status": current_licence_status()}


def requires(permission: str):
    """View decorator: the logged-in member's role must grant ``permission``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


