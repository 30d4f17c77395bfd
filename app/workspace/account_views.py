"""Settings → Two-factor login: each member turns on, renews and turns off their own second step."""
from __future__ import annotations

from flask import url_for
from flask_login import current_user

from app.auth.security_form import security_form
from app.workspace.base import bp
from tenants.resolve import current_tenant
from tenants.settings import clinic_settings


@bp.route("/settings/security", methods=["GET", "POST"])
def security_settings():
    return security_form(current_user.user, required=clinic_settings(current_tenant()).require_two_factor,
                           template="workspace/settings_security.html",
                           self_url=url_for("workspace.security_settings"))
