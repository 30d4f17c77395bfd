"""Settings → Two-factor login: each member turns on, renews and turns off their own second step."""
from __future__ import annotations

from flask import url_for
from flask_login import current_user

from app.auth.two_factor_form import two_factor_form
from app.workspace.base import bp
from tenants.resolve import current_tenant
from tenants.settings import clinic_settings


@bp.route("/settings/two-factor", methods=["GET", "POST"])
def two_factor_settings():
    return two_factor_form(current_user.user, required=clinic_settings(current_tenant()).require_two_factor,
                           template="workspace/settings_two_factor.html",
                           self_url=url_for("workspace.two_factor_settings"))
