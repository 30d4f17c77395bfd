"""Workspace home, invitation acceptance and language choice."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from app import accounts
from app.accounts import AccountError, find_open_invitation
from app.auth.principals import StaffPrincipal
from app.auth.views import safe_next
from app.extensions import db
from app.overview import clinic_overview
from app.models import User
from app.workspace.base import bp
from sqlalchemy import select
from tenants.resolve import current_tenant


@bp.get("/")
def home():
    return render_template("workspace/home.html", tenant=current_tenant(),
                           overview=clinic_overview(current_user.user.id))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    tenant = current_tenant()
    try:
        invitation = find_open_invitation(token)
    except AccountError as exc:
        return render_template("workspace/invitation.html", tenant=tenant, error=str(exc), invitation=None), 410
    existing = db.session.scalar(select(User).where(User.email == invitation.email))
    if request.method == "GET":
        return render_template("workspace/invitation.html", tenant=tenant, invitation=invitation,
                               existing=existing is not None, full_name="")
    full_name = (request.form.get("full_name") or "").strip()[:200]
    password = request.form.get("password") or ""
    if existing is None and password != (request.form.get("password_confirm") or ""):
        return render_template("workspace/invitation.html", tenant=tenant, invitation=invitation,
                               existing=False, full_name=full_name, error=_("The passwords differ.")), 400
    try:
        membership = accounts.accept_invitation(token, full_name=full_name, password=password)
    except AccountError as exc:
        db.session.rollback()
        return render_template("workspace/invitation.html", tenant=tenant, invitation=invitation,
                               existing=existing is not None, full_name=full_name, error=str(exc)), 400
    db.session.commit()
    user = db.session.get(User, membership.user_id)
    session.clear()
    login_user(StaffPrincipal(user, membership))
    flash(_("Welcome to %(clinic)s.", clinic=tenant.name))
    return redirect(url_for("workspace.home"))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        current_user.user.language = lang
        db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("workspace.home")))
