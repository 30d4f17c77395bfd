"""The login-security page: two-factor login and the password, for a clinic member and an operator alike.

Actions (the ``action`` field): ``start`` offers a new secret, kept on the server beside the account
(not in the cookie) but not in force until ``confirm`` gets a code made with it and the account's
password; ``renew`` makes new
recovery codes; ``disable`` turns two-factor login off (both need a current code or a recovery code);
``password`` changes the password, given the current one (failures count like the login page's).
"""
from __future__ import annotations

from typing import Callable

from flask import current_app, flash, make_response, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user
from markupsafe import Markup

from app import two_factor
from app.accounts import AccountError, WrongPassword, change_password, login_blocked, record_login_attempt
from app.collection import svg_markup
from app.extensions import db
from app.models.accounts import TwoFactorMixin
from app.security import verify_password


def _page(template: str, account: TwoFactorMixin, required: bool, code: int = 200, *,
          setup_secret: str | None = None, recovery_codes: list[str] | None = None, error: str | None = None,
          password_error: str | None = None):
    context = {"enabled": two_factor.is_enabled(account), "account": account, "error": error,
               "password_error": password_error,
               "recovery_left": len(account.recovery_code_hashes or []), "recovery_codes": recovery_codes,
               "required": required}
    if setup_secret:
        uri = two_factor.provisioning_uri(setup_secret, account.email)
        context.update(setup_secret=two_factor.grouped(setup_secret), setup_qr=Markup(svg_markup(uri)))
    page = make_response(render_template(template, **context), code)
    page.headers["Cache-Control"] = "no-store"  # secrets and recovery codes are shown here
    return page


def _keep_this_session() -> None:
    # The change ends every other session of this person; this one is stored again under the new stamp.
    login_user(current_user._get_current_object())


def security_form(account: TwoFactorMixin, *, required: bool, template: str, self_url: str,
                    record: Callable[[str], None] | None = None):
    """Answer a GET or POST of the two-factor settings page of ``account`` (the logged-in person).

    ``record(action)``, if given, is called with ``two_factor_on``, ``recovery_codes_renewed`` or
    ``two_factor_off`` before the change is committed (the operators' audit log).
    """
    record = record or (lambda action: None)
    def page(*args, **kwargs):
        return _page(template, account, required, *args, **kwargs)

    if request.method == "GET":
        return page()
    action = request.form.get("action")
    if action == "password":
        return _password(account, page, self_url, record)
    code = (request.form.get("code") or "")[:40]
    enabled = two_factor.is_enabled(account)
    if action == "start" and not enabled:
        secret = two_factor.begin_setup(account)
        db.session.commit()
        return page(setup_secret=secret)
    if action == "confirm" and not enabled:
        secret = account.totp_secret
        if not secret:
            return page(400, error=_("The set-up took too long. Start again."))
        # A session alone must not turn it on: whoever borrowed the cookie would lock the owner out.
        if _blocked("2fa_change", account):
            return page(429, setup_secret=secret, error=_too_many())
        if not verify_password(account.password_hash, request.form.get("password") or ""):
            _record_failure("2fa_change", account)
            return page(400, setup_secret=secret, error=_("Wrong password. Enter the password you log in with."))
        try:
            codes = two_factor.enable(account, secret, code)
        except two_factor.TwoFactorError as exc:
            return page(400, setup_secret=secret, error=str(exc))
        record("two_factor_on")
        db.session.commit()
        _keep_this_session()
        flash(_("Two-factor login is on. From now on you log in with your password and a code from the app."))
        return page(recovery_codes=codes)
    if action in ("renew", "disable") and enabled:
        if action == "disable" and required:
            return page(400, error=_("Two-factor login is required here: it cannot be turned off."))
        if _blocked("2fa_change", account):
            return page(429, error=_too_many())
        if two_factor.verify(account, code) is None:
            # Counted like a login's: a stolen session must not try every code to turn the second step off.
            _record_failure("2fa_change", account)
            return page(400, error=_("Wrong code. Enter the code the app shows now, or one of your recovery codes."))
        if action == "renew":
            codes = two_factor.regenerate_recovery_codes(account)
            record("recovery_codes_renewed")
            db.session.commit()
            return page(recovery_codes=codes)
        two_factor.disable(account)
        record("two_factor_off")
        db.session.commit()
        _keep_this_session()
        flash(_("Two-factor login is off."))
    return redirect(self_url)


def _blocked(realm: str, account: TwoFactorMixin) -> bool:
    from app.auth.views import client_ip

    cfg = current_app.config
    return login_blocked(realm, account.email, client_ip(), max_failures=cfg["LOGIN_MAX_FAILURES"],
                         window_minutes=cfg["LOGIN_WINDOW_MINUTES"])


def _record_failure(realm: str, account: TwoFactorMixin) -> None:
    from app.auth.views import client_ip

    record_login_attempt(realm, account.email, client_ip(), False)
    db.session.commit()  # with it, the step or recovery code a check may have spent


def _too_many() -> str:
    minutes = current_app.config["LOGIN_WINDOW_MINUTES"]
    return ngettext("Too many failed attempts. Wait %(num)s minute and try again.",
                    "Too many failed attempts. Wait %(num)s minutes and try again.", minutes)


def _password(account: TwoFactorMixin, page, self_url: str, record: Callable[[str], None]):
    if _blocked("password_change", account):
        return page(429, password_error=_too_many())
    form = request.form
    try:
        change_password(account, form.get("current_password") or "", form.get("new_password") or "",
                        form.get("new_password_confirm") or "")
    except WrongPassword as exc:
        _record_failure("password_change", account)
        return page(400, password_error=str(exc))
    except AccountError as exc:
        return page(400, password_error=str(exc))
    record("password_changed")
    db.session.commit()
    _keep_this_session()
    flash(_("Your password has been changed. Your other sessions have ended."))
    return redirect(self_url)
