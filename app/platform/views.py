"""Operator console views: thin wrappers over tenants.onboarding and tenants.usage."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from app import two_factor
from app.accounts import login_blocked, operator_roster, record_login_attempt
from app.auth import code_step
from app.auth.principals import OperatorPrincipal
from app.auth.security_form import security_form
from app.auth.views import client_ip, safe_next
from app.charts import bar_chart
from app.extensions import db
from app.mail import try_send
from app.models import Operator, OperatorAction, Tenant
from app.parsing import whole_number
from app.security import verify_password
from app.web import leave_for, page_path
from tenants.context import Scope, set_scope
from tenants.licensing import MODULES, PLANS
from tenants.offboarding import DEFAULT_GRACE_DAYS, cancel_deletion, schedule_deletion
from tenants.onboarding import OnboardingError, change_plan, onboard_clinic, renew_licence, set_suspended
from tenants.resolve import clinic_licence_status
from tenants.usage import clinic_activity, usage_overview

bp = Blueprint("platform", __name__, url_prefix="/platform")
OPEN_ENDPOINTS = {"platform.login", "platform.login_code"}
# Where an operator without two-factor login may go while it is required: to set it up.
TWO_FACTOR_SETUP_ENDPOINTS = {"platform.security_settings", "platform.logout"}


@bp.before_request
def _operators_only():
    # The console reads across clinics: it runs in platform scope, entered here only.
    g.scope_token = set_scope(Scope(platform=True))
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated or not getattr(current_user, "is_operator", False):
        return leave_for(url_for("platform.login", next=page_path()))
    if request.endpoint not in TWO_FACTOR_SETUP_ENDPOINTS and _two_factor_required() \
            and not two_factor.is_enabled(current_user.operator):
        return leave_for(url_for("platform.security_settings"), htmx_status=403)
    return None


def _two_factor_required() -> bool:
    return bool(current_app.config.get("OPERATOR_TWO_FACTOR_REQUIRED"))


def _actor() -> tuple[str, int]:
    return current_user.operator.email, current_user.operator.id


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("platform/login.html", email="")
    email = (request.form.get("email") or "").strip().lower()[:254]
    password = request.form.get("password") or ""
    cfg = current_app.config
    if login_blocked("operator", email, client_ip(), max_failures=cfg["LOGIN_MAX_FAILURES"],
                     window_minutes=cfg["LOGIN_WINDOW_MINUTES"]):
        return render_template("platform/login.html", email=email,
                               error=ngettext("Too many failed attempts. Wait %(num)s minute and try again.",
                                             "Too many failed attempts. Wait %(num)s minutes and try again.",
                                             cfg["LOGIN_WINDOW_MINUTES"])), 429
    operator = db.session.scalar(select(Operator).where(Operator.email == email, Operator.is_active.is_(True)))
    ok = verify_password(operator.password_hash if operator else None, password)
    record_login_attempt("operator", email, client_ip(), ok)
    db.session.commit()
    if not ok:
        return render_template("platform/login.html", email=email, error=_("Wrong e-mail or password.")), 401
    next_url = safe_next(request.args.get("next"), url_for("platform.clinics"))
    if two_factor.is_enabled(operator):
        code_step.begin("operator", operator.id, OperatorPrincipal(operator).get_id(), next_url)
        return redirect(url_for("platform.login_code"))
    session.clear()
    login_user(OperatorPrincipal(operator))
    return redirect(next_url)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    operator = code_step.pending("operator", lambda id_: db.session.get(Operator, id_),
                                 lambda account: OperatorPrincipal(account).get_id())
    if operator is None:
        code_step.forget()
        flash(_("The login took too long. Enter your e-mail and password again."))
        return redirect(url_for("platform.login"))
    if request.method == "GET":
        return render_template("platform/login_code.html")
    used, refused = code_step.check_posted_code("operator_code", operator, "platform/login_code.html")
    if refused:
        return refused
    next_url = code_step.next_url() or url_for("platform.clinics")
    session.clear()
    login_user(OperatorPrincipal(operator))
    if used == "recovery":
        flash(code_step.recovery_notice(operator))
    return redirect(next_url)


@bp.route("/account/security", methods=["GET", "POST"])
def security_settings():
    operator = current_user.operator

    def record(action: str) -> None:
        db.session.add(OperatorAction(actor=operator.email, operator_id=operator.id, action=action))

    return security_form(operator, required=_two_factor_required(), template="platform/security.html",
                           self_url=url_for("platform.security_settings"), record=record)


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("platform.login"))


@bp.get("/")
def clinics():
    now = datetime.now(timezone.utc)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = usage_overview(month_start)
    statuses = {row.tenant.id: clinic_licence_status(row.tenant, row.licence) for row in rows}
    return render_template("platform/clinics.html", rows=rows, statuses=statuses)


def _onboard_form_values():
    f = request.form
    return {
        "slug": (f.get("slug") or "").strip().lower()[:63],
        "name": (f.get("name") or "").strip()[:200],
        "legal_name": (f.get("legal_name") or "").strip()[:300],
        "owner_email": (f.get("owner_email") or "").strip()[:254],
        "plan": f.get("plan") or "standard",
        "timezone": (f.get("timezone") or "Europe/Moscow").strip()[:64],
        "language": f.get("language") or "ru",
        "licence_days": f.get("licence_days") or "365",
    }


def _whole_number_or_error(raw: str | None, message: str) -> int:
    number = whole_number(raw)
    if number is None:
        raise OnboardingError(message)
    return number


@bp.route("/clinics/new", methods=["GET", "POST"])
def onboard():
    if request.method == "GET":
        return render_template("platform/onboard.html", form=_onboard_form_values() | {"timezone": "Europe/Moscow"},
                               plans=PLANS, error=None)
    values = _onboard_form_values()
    try:
        days = _whole_number_or_error(values["licence_days"], _("licence days: a whole number"))
        if values["plan"] not in PLANS:
            raise OnboardingError(_("unknown plan"))
        actor, operator_id = _actor()
        result = onboard_clinic(slug=values["slug"], name=values["name"], legal_name=values["legal_name"],
                                owner_email=values["owner_email"], plan=values["plan"],
                                timezone=values["timezone"], language=values["language"], licence_days=days,
                                actor=actor, operator_id=operator_id,
                                ttl_hours=current_app.config["INVITATION_TTL_HOURS"])
    except (OnboardingError, ValueError) as exc:
        db.session.rollback()
        return render_template("platform/onboard.html", form=values, plans=PLANS, error=str(exc)), 400
    db.session.commit()
    link = current_app.config["BASE_URL"] + url_for("workspace.accept_invitation", slug=result.slug,
                                                    token=result.invitation_token)
    sent = try_send(values["owner_email"].lower(), _("Your clinic's Vernost workspace"),
                    _("A Vernost workspace has been opened for %(clinic)s.\n\nSet your password and log in: %(link)s\n",
                      clinic=values["name"], link=link))
    tenant = db.session.get(Tenant, result.tenant_id)
    return render_template("platform/onboarded.html", tenant=tenant, invitation_url=link, mailed=sent)


def _tenant_or_404(tenant_id: int) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        from flask import abort

        abort(404)
    return tenant


@bp.get("/clinics/<int:tenant_id>")
def clinic(tenant_id: int):
    tenant = _tenant_or_404(tenant_id)
    from app.models import Licence

    licence = db.session.scalar(select(Licence).where(Licence.tenant_id == tenant.id))
    status = clinic_licence_status(tenant, licence)
    actions = db.session.scalars(select(OperatorAction).where(OperatorAction.tenant_id == tenant.id)
                                 .order_by(OperatorAction.at.desc()).limit(50)).all()
    activity = clinic_activity(tenant.id, datetime.now(timezone.utc))
    responses_chart = bar_chart(activity.responses_by_month, _("Responses by month"), chart_id="responses-by-month",
                                ticks=[month[5:] for month, _count in activity.responses_by_month])
    return render_template("platform/clinic.html", tenant=tenant, licence=licence, status=status,
                           actions=actions, plans=PLANS, modules=MODULES, error=None, activity=activity,
                           responses_chart=responses_chart, grace_days=DEFAULT_GRACE_DAYS)


@bp.post("/clinics/<int:tenant_id>/<action>")
def clinic_action(tenant_id: int, action: str):
    tenant = _tenant_or_404(tenant_id)
    actor, operator_id = _actor()
    try:
        if action == "renew":
            days = _whole_number_or_error(request.form.get("days"), _("days: between 1 and 3660"))
            renew_licence(tenant, days=days, actor=actor, operator_id=operator_id)
        elif action == "plan":
            plan = request.form.get("plan") or ""
            seats_raw = request.form.get("seats") or ""
            seats = _whole_number_or_error(seats_raw, _("seats: a whole number")) if seats_raw.strip() else None
            modules = [m for m in MODULES if request.form.get(f"module_{m}") == "on"]
            if plan not in PLANS:
                raise OnboardingError(_("unknown plan"))
            change_plan(tenant, plan=plan, seats=seats, modules=modules, actor=actor, operator_id=operator_id)
        elif action == "suspend":
            set_suspended(tenant, True, reason=(request.form.get("reason") or "")[:500], actor=actor,
                          operator_id=operator_id)
        elif action == "reactivate":
            if tenant.delete_after is not None:
                raise OnboardingError(_("cancel the scheduled deletion first"))
            set_suspended(tenant, False, actor=actor, operator_id=operator_id)
        elif action == "schedule_deletion":
            days = _whole_number_or_error(request.form.get("days"), _("days: between 0 and 365"))
            schedule_deletion(tenant, confirm=request.form.get("confirm") or "", days=days, actor=actor,
                              operator_id=operator_id)
        elif action == "cancel_deletion":
            cancel_deletion(tenant, actor=actor, operator_id=operator_id)
        else:
            from flask import abort

            abort(404)
    except (OnboardingError, ValueError) as exc:
        db.session.rollback()
        flash(_("Not saved: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for("platform.clinic", tenant_id=tenant.id))
    db.session.commit()
    flash(_("Saved."))
    return redirect(url_for("platform.clinic", tenant_id=tenant.id))


@bp.get("/operators")
def operators():
    return render_template("platform/operators.html", rows=operator_roster(),
                           required=_two_factor_required())


@bp.get("/audit")
def audit():
    actions = db.session.scalars(select(OperatorAction).order_by(OperatorAction.at.desc()).limit(200)).all()
    names = {t.id: t.slug for t in db.session.scalars(select(Tenant))}
    return render_template("platform/audit.html", actions=actions, names=names)
