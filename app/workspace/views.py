"""Workspace home, invitation acceptance and language choice."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user

from app import accounts, two_factor
from app.accounts import AccountError, find_open_invitation, login_blocked, record_login_attempt
from app.auth import code_step
from app.auth.principals import StaffPrincipal, staff_session_id
from app.auth.views import client_ip, safe_next
from app.extensions import db
from app.overview import clinic_overview
from app.models import User
from app.workspace.base import bp
from sqlalchemy import select
from tenants.resolve import current_licence_status, current_tenant


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
    if not current_licence_status().can_write or tenant.delete_after is not None:
        # The open door of the workspace's guard: a clinic that may not write takes no new members.
        return render_template("workspace/invitation.html", tenant=tenant, invitation=None, error=_(
            "This clinic's workspace is closed to new members for now; ask whoever invited you.")), 403
    existing = db.session.scalar(select(User).where(User.email == invitation.email))
    if request.method == "GET":
        return render_template("workspace/invitation.html", tenant=tenant, invitation=invitation,
                               existing=existing is not None, full_name="")
    full_name = (request.form.get("full_name") or "").strip()[:200]
    password = request.form.get("password") or ""

    def again(error: str, status: int):
        return render_template("workspace/invitation.html", tenant=tenant, invitation=invitation,
                               existing=existing is not None, full_name=full_name, error=error), status

    if existing is None and password != (request.form.get("password_confirm") or ""):
        return again(_("The passwords differ."), 400)
    cfg = current_app.config
    if existing is not None and login_blocked("staff", existing.email, client_ip(),
                                              max_failures=cfg["LOGIN_MAX_FAILURES"],
                                              window_minutes=cfg["LOGIN_WINDOW_MINUTES"]):
        return again(ngettext("Too many failed attempts. Wait %(num)s minute and try again.",
                              "Too many failed attempts. Wait %(num)s minutes and try again.",
                              cfg["LOGIN_WINDOW_MINUTES"]), 429)
    try:
        membership = accounts.accept_invitation(token, full_name=full_name, password=password)
    except AccountError as exc:
        db.session.rollback()
        if existing is not None:  # a password guessed here counts like one guessed at the login page
            record_login_attempt("staff", existing.email, client_ip(), False)
            db.session.commit()
        return again(str(exc), 400)
    db.session.commit()
    user = db.session.get(User, membership.user_id)
    if two_factor.is_enabled(user):
        # The password opened nothing more than it does at the login page: the code step follows.
        code_step.begin("staff", user.id, staff_session_id(user), url_for("workspace.home"))
        flash(_("Welcome to %(clinic)s.", clinic=tenant.name))
        return redirect(url_for("auth.login_code"))
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
