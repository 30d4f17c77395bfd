"""Staff login and logout, password reset, language choice."""
from __future__ import annotations

import redis
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import UserMixin, current_user, login_user, logout_user
from sqlalchemy import select

from app import two_factor
from app.accounts import AccountError, finish_password_reset, login_blocked, normalise_email, record_login_attempt
from app.auth import code_step
from app.auth.principals import staff_session_id
from app.extensions import db
from app.models import Membership, Tenant, User, utcnow
from app.ratelimit import hit
from app.security import token_hash, verify_password
from app.urls import split_url
from jobs.accounts import send_password_reset
from jobs.queues import enqueue
from tenants.context import platform_scope

bp = Blueprint("auth", __name__)


class _StaffLogin(UserMixin):
    """What login_user stores: the staff session id, resolved per clinic later."""

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return staff_session_id(self.user)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login."""
    if not target:
        return default
    parts = split_url(target)
    if parts is None or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def clinics_of(user: User) -> list[Tenant]:
    """Clinics the user belongs to (a network manager may have several)."""
    # Deliberately cross-clinic: the login page must list every clinic of this user.
    with platform_scope():
        rows = db.session.execute(
            select(Tenant).join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user.id).order_by(Tenant.name)
        ).scalars().all()
    return list(rows)


RESET_WINDOW = 3600
RESET_LIMIT_PER_ADDRESS = 3
RESET_LIMIT_PER_IP = 20


def client_ip() -> str:
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = request.values.get("next")
    if request.method == "GET":
        return render_template("auth/login.html", next=next_url, email="")
    email_raw = (request.form.get("email") or "").strip()[:254]
    password = request.form.get("password") or ""
    try:
        email = normalise_email(email_raw)
    except AccountError:
        email = email_raw.lower()
    cfg = current_app.config
    if login_blocked("staff", email, client_ip(), max_failures=cfg["LOGIN_MAX_FAILURES"],
                     window_minutes=cfg["LOGIN_WINDOW_MINUTES"]):
        return render_template("auth/login.html", next=next_url, email=email_raw,
                               error=ngettext("Too many failed attempts. Wait %(num)s minute and try again.",
                                             "Too many failed attempts. Wait %(num)s minutes and try again.",
                                             cfg["LOGIN_WINDOW_MINUTES"])), 429
    user = db.session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
    ok = verify_password(user.password_hash if user else None, password)
    record_login_attempt("staff", email, client_ip(), ok)
    if not ok:
        db.session.commit()
        return render_template("auth/login.html", next=next_url, email=email_raw,
                               error=_("Wrong e-mail or password.")), 401
    if two_factor.is_enabled(user):
        db.session.commit()
        code_step.begin("staff", user.id, staff_session_id(user), safe_next(next_url, "") if next_url else "")
        return redirect(url_for("auth.login_code"))
    return _finish_login(user, next_url)


def _finish_login(user: User, next_url: str | None, notice: str | None = None):
    user.last_login_at = utcnow()
    db.session.commit()
    session.clear()
    login_user(_StaffLogin(user), remember=False)
    if notice:
        flash(notice)
    clinics = clinics_of(user)
    if next_url:
        return redirect(safe_next(next_url, "/"))
    if len(clinics) == 1:
        return redirect(url_for("workspace.home", slug=clinics[0].slug))
    return render_template("auth/choose_clinic.html", clinics=clinics)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    user = code_step.pending("staff", lambda id_: db.session.get(User, id_), staff_session_id)
    if user is None:
        code_step.forget()
        flash(_("The login took too long. Enter your e-mail and password again."))
        return redirect(url_for("auth.login"))
    if request.method == "GET":
        return render_template("auth/login_code.html")
    used, refused = code_step.check_posted_code("staff_code", user, "auth/login_code.html")
    if refused:
        return refused
    notice = code_step.recovery_notice(user) if used == "recovery" else None
    return _finish_login(user, code_step.next_url() or None, notice)


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash(_("You have logged out."))
    return redirect(url_for("auth.login"))


@bp.route("/password/reset", methods=["GET", "POST"])
def password_reset_request():
    if request.method == "GET":
        return render_template("auth/reset_request.html")
    email = (request.form.get("email") or "").strip()[:254]
    if not hit(f"pwreset:ip:{client_ip()}", RESET_LIMIT_PER_IP, RESET_WINDOW):
        abort(429)
    # Past the address's limit the answer is the same page, so nobody learns whether it exists,
    # and its owner's mailbox is not flooded. The counter's key holds the address hashed.
    if not hit(f"pwreset:email:{token_hash(email.lower())}", RESET_LIMIT_PER_ADDRESS, RESET_WINDOW):
        return render_template("auth/reset_sent.html")
    # The link is made and mailed by a job: answering takes as long whether or not the account
    # exists. Without Redis it is done here, as the lesser evil.
    try:
        enqueue("default", send_password_reset, None, email, str(get_locale()), retries=0)
    except (redis.RedisError, OSError):
        send_password_reset(email, str(get_locale()))
    # Same answer whether or not the address exists.
    return render_template("auth/reset_sent.html")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    if request.method == "GET":
        return render_template("auth/reset_form.html", token=token)
    password = request.form.get("password") or ""
    if password != (request.form.get("password_confirm") or ""):
        return render_template("auth/reset_form.html", token=token, error=_("The passwords differ.")), 400
    try:
        _user, second_factor_removed = finish_password_reset(token, password)
    except AccountError as exc:
        db.session.rollback()
        return render_template("auth/reset_form.html", token=token, error=str(exc)), 400
    db.session.commit()
    flash(_("Your password has been changed. Log in with the new one."))
    if second_factor_removed:
        flash(_("Two-factor login had been set up before this address was confirmed, so it is off now: "
                "set it up again with your own phone."))
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        user = getattr(current_user, "user", None)
        if user is not None:
            user.language = lang
            db.session.commit()
    return redirect(safe_next(request.form.get("next"), "/"))
