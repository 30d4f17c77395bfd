"""Clinic settings: details, branches, doctors, people and licence."""
from __future__ import annotations

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import two_factor
from app.accounts import AccountError, invite, seat_usage
from app.audit import log_access
from app.clinic_export import stream_export
from app.extensions import db
from app.mail import try_send
from app.models import ROLES, Branch, Doctor, Invitation, Membership, User, utcnow
from app.parsing import whole_number
from app.workspace.base import bp, requires
from tenants.onboarding import OnboardingError, validate_clinic_fields
from tenants.resolve import current_licence_status, current_tenant, get_or_404
from tenants.settings import clinic_settings, update_settings


def _text(name: str, limit: int) -> str:
    return (request.form.get(name) or "").strip()[:limit]


@bp.get("/settings")
def settings_home():
    """The header's "Settings" is the clinic page; a typed or bookmarked /settings lands there too."""
    return redirect(url_for("workspace.clinic_details"))


@bp.route("/settings/clinic", methods=["GET", "POST"])
def clinic_details():
    tenant = current_tenant()
    settings = clinic_settings(tenant)
    if request.method == "POST":
        if not current_user.can("manage_clinic"):
            return render_template("error.html", code=403, title=_("Not allowed"), message=None), 403
        name, legal_name = _text("name", 200), _text("legal_name", 300)
        timezone, language = _text("timezone", 64), _text("language", 8)
        errors = {}
        try:
            validate_clinic_fields(tenant.slug, name, timezone, language)
        except OnboardingError as exc:
            errors["form"] = str(exc)
        numbers = {}
        limits = {"nps_risk_max": (0, 10), "aspect_risk_max": (1, 5), "critical_case_hours": (1, 720),
                  "min_sample": (1, 10000), "lost_after_months": (1, 120), "contact_retention_months": (1, 120)}
        for key, (lowest, highest) in limits.items():
            raw = _text(key, 6)
            number = whole_number(raw, minimum=lowest, maximum=highest)
            if number is None:
                errors[key] = _("a whole number from %(lo)s to %(hi)s", lo=lowest, hi=highest)
            else:
                numbers[key] = number
        require_two_factor = request.form.get("require_two_factor") == "yes"
        if require_two_factor and not two_factor.is_enabled(current_user.user):
            # Otherwise the owner would be sent to set it up the moment the page is saved.
            errors["require_two_factor"] = _("Turn on two-factor login for yourself first (Settings → "
                                             "Login security).")
        if errors:
            return render_template("workspace/settings_clinic.html", tenant=tenant, settings=settings,
                                   errors=errors, form=request.form), 400
        tenant.name, tenant.legal_name, tenant.timezone, tenant.language = name, legal_name, timezone, language
        update_settings(tenant, require_two_factor=require_two_factor, **numbers)
        db.session.commit()
        flash(_("Clinic settings saved."))
        return redirect(url_for("workspace.clinic_details"))
    return render_template("workspace/settings_clinic.html", tenant=tenant, settings=settings, errors={},
                           form=None)


# --- branches ---

@bp.get("/settings/branches")
def branches():
    rows = db.session.scalars(select(Branch).order_by(Branch.name)).all()
    return render_template("workspace/settings_branches.html", branches=rows, errors={}, form={})


@bp.post("/settings/branches")
@requires("manage_clinic")
def add_branch():
    name, address = _text("name", 200), _text("address", 400)
    if not name:
        rows = db.session.scalars(select(Branch).order_by(Branch.name)).all()
        return render_template("workspace/settings_branches.html", branches=rows,
                               errors={"name": _("required")}, form=request.form), 400
    if db.session.scalar(select(Branch).where(Branch.name == name)):
        rows = db.session.scalars(select(Branch).order_by(Branch.name)).all()
        return render_template("workspace/settings_branches.html", branches=rows,
                               errors={"name": _("a branch with this name exists")}, form=request.form), 400
    db.session.add(Branch(name=name, address=address))
    db.session.commit()
    flash(_("Branch added."))
    return redirect(url_for("workspace.branches"))


@bp.route("/settings/branches/<int:branch_id>", methods=["GET", "POST"])
def edit_branch(branch_id: int):
    branch = get_or_404(Branch, branch_id)
    if request.method == "POST":
        if not current_user.can("manage_clinic"):
            return render_template("error.html", code=403, title=_("Not allowed"), message=None), 403
        name = _text("name", 200)
        error = _("required") if not name else None
        if name and db.session.scalar(select(Branch.id).where(Branch.name == name, Branch.id != branch.id)):
            error = _("a branch with this name exists")
        if error:
            return render_template("workspace/settings_branch_edit.html", branch=branch, errors={"name": error}), 400
        branch.name, branch.address = name, _text("address", 400)
        db.session.commit()
        flash(_("Branch saved."))
        return redirect(url_for("workspace.branches"))
    return render_template("workspace/settings_branch_edit.html", branch=branch, errors={})


# --- doctors ---

def _doctor_form_errors(form) -> tuple[dict, dict]:
    values = {"full_name": _text("full_name", 200), "specialty": _text("specialty", 200)}
    errors = {}
    if not values["full_name"]:
        errors["full_name"] = _("required")
    branch_raw = form.get("branch_id") or ""
    values["branch_id"] = None
    if branch_raw:
        branch_id = whole_number(branch_raw)
        branch = db.session.scalar(select(Branch).where(Branch.id == branch_id)) if branch_id is not None else None
        if branch is None:
            errors["branch_id"] = _("choose a branch of this clinic")
        else:
            values["branch_id"] = branch.id
    return values, errors


@bp.get("/settings/doctors")
def doctors():
    rows = db.session.scalars(select(Doctor).order_by(Doctor.full_name)).all()
    return render_template("workspace/settings_doctors.html", doctors=rows,
                           branches=db.session.scalars(select(Branch).order_by(Branch.name)).all(),
                           errors={}, form={})


@bp.post("/settings/doctors")
@requires("manage_clinic")
def add_doctor():
    values, errors = _doctor_form_errors(request.form)
    if errors:
        rows = db.session.scalars(select(Doctor).order_by(Doctor.full_name)).all()
        return render_template("workspace/settings_doctors.html", doctors=rows,
                               branches=db.session.scalars(select(Branch)).all(), errors=errors,
                               form=request.form), 400
    db.session.add(Doctor(**values))
    db.session.commit()
    flash(_("Doctor added."))
    return redirect(url_for("workspace.doctors"))


@bp.route("/settings/doctors/<int:doctor_id>", methods=["GET", "POST"])
def edit_doctor(doctor_id: int):
    doctor = get_or_404(Doctor, doctor_id)
    branches_ = db.session.scalars(select(Branch).order_by(Branch.name)).all()
    if request.method == "POST":
        if not current_user.can("manage_clinic"):
            return render_template("error.html", code=403, title=_("Not allowed"), message=None), 403
        values, errors = _doctor_form_errors(request.form)
        if errors:
            return render_template("workspace/settings_doctor_edit.html", doctor=doctor, branches=branches_,
                                   errors=errors), 400
        doctor.full_name, doctor.specialty, doctor.branch_id = values["full_name"], values["specialty"], values["branch_id"]
        doctor.active = request.form.get("active") == "on"
        db.session.commit()
        flash(_("Doctor saved."))
        return redirect(url_for("workspace.doctors"))
    return render_template("workspace/settings_doctor_edit.html", doctor=doctor, branches=branches_, errors={})


# --- people ---

def _people_page(status=200, **extra):
    members = db.session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id).order_by(User.email)
    ).all()
    invitations = db.session.scalars(
        select(Invitation).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
                                 Invitation.expires_at > utcnow()).order_by(Invitation.created_at.desc())
    ).all()
    context = {"members": members, "invitations": invitations, "usage": seat_usage(), "roles": ROLES,
               "errors": {}, "form": {}, "invitation_link": None}
    context.update(extra)
    return render_template("workspace/settings_users.html", **context), status


@bp.get("/settings/users")
def users():
    return _people_page()


@bp.post("/settings/users/invite")
@requires("manage_users")
def invite_user():
    email, role = _text("email", 254), _text("role", 16)
    try:
        invitation, token = invite(email, role, ttl_hours=current_app.config["INVITATION_TTL_HOURS"],
                                   invited_by=current_user.user)
    except AccountError as exc:
        db.session.rollback()
        return _people_page(400, errors={"email": str(exc)}, form=request.form)
    db.session.commit()
    link = current_app.config["BASE_URL"] + url_for("workspace.accept_invitation", token=token)
    tenant = current_tenant()
    sent = try_send(email, _("Invitation to %(clinic)s in Vernost", clinic=tenant.name),
                    _("You are invited to the %(clinic)s workspace in Vernost.\n\nAccept the invitation: %(link)s\n",
                      clinic=tenant.name, link=link))
    if sent:
        # The link goes to the mailbox only: whoever invites must not be able to open an account in
        # someone else's name (and, with two-factor login of their own, lock its owner out).
        flash(_("Invitation sent to %(email)s.", email=invitation.email))
        return _people_page()
    # Shown so it can be passed on by hand; an account made with it is unconfirmed (app.accounts).
    invitation.link_shown_at = utcnow()
    db.session.commit()
    flash(_("Invitation created.") + " " + _("The e-mail could not be sent; pass the link on yourself."))
    return _people_page(invitation_link=link)


@bp.post("/settings/users/invitations/<int:invitation_id>/revoke")
@requires("manage_users")
def revoke_invitation(invitation_id: int):
    invitation = get_or_404(Invitation, invitation_id)
    invitation.revoked_at = utcnow()
    db.session.commit()
    flash(_("Invitation revoked."))
    return redirect(url_for("workspace.users"))


@bp.post("/settings/users/<int:membership_id>")
@requires("manage_users")
def change_member(membership_id: int):
    membership = get_or_404(Membership, membership_id)
    action = request.form.get("action")
    owners = db.session.scalars(select(Membership).where(Membership.role == "owner")).all()
    last_owner = membership.role == "owner" and len(owners) == 1
    if action == "remove":
        if last_owner:
            return _people_page(400, errors={"member": _("The clinic must keep at least one owner.")})
        db.session.delete(membership)
    elif action == "role":
        role = request.form.get("role")
        if role not in ROLES:
            return _people_page(400, errors={"member": _("Unknown role.")})
        if last_owner and role != "owner":
            return _people_page(400, errors={"member": _("The clinic must keep at least one owner.")})
        membership.role = role
    else:
        return _people_page(400, errors={"member": _("Unknown action.")})
    db.session.commit()
    flash(_("Saved."))
    return redirect(url_for("workspace.users"))


@bp.get("/export/everything.zip")
@requires("manage_clinic")
def export_everything():
    """All of the clinic's data as one ZIP of CSV files (``app.clinic_export``), streamed; in the access log."""
    tenant = current_tenant()
    log_access(current_user.user.id, "export", "clinic", tenant.id, {"what": "everything"})
    db.session.commit()
    filename = f"vernost-{tenant.slug}-{utcnow().date().isoformat()}.zip"
    return Response(stream_export(current_app._get_current_object(), tenant.id), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@bp.get("/settings/licence")
def licence():
    from flask import g

    status = current_licence_status()
    return render_template("workspace/settings_licence.html", status=status, licence=g.get("licence"),
                           usage=seat_usage())


# --- API keys ---

def _api_keys_page(code: int = 200, *, issued=None, error: str | None = None, form=None):
    from flask import g, make_response

    from app.api_keys import SCOPES, display_token
    from app.models import ApiKey
    from tenants.licensing import has_module

    current_licence_status()  # loads the licence into g
    keys = db.session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())).all()
    creators = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_({key.created_by_user_id for key in keys if key.created_by_user_id})))}
    page = make_response(render_template(
        "workspace/settings_api_keys.html", keys=keys, creators=creators, scopes=SCOPES, issued=issued,
        error=error, form=form, licensed=has_module(g.get("licence"), "api"), display_token=display_token,
        api_base=current_app.config["BASE_URL"].rstrip("/") + "/api/v1"), code)
    if issued is not None:
        page.headers["Cache-Control"] = "no-store"  # the key is shown once; keep it out of caches and history
    return page


@bp.get("/settings/api-keys")
@requires("manage_clinic")
def api_keys():
    return _api_keys_page()


@bp.post("/settings/api-keys")
@requires("manage_clinic")
def create_api_key():
    from app.api_keys import ApiKeyError, issue_key
    from app.i18n import translate

    try:
        issued = issue_key(_text("name", 200), request.form.getlist("scopes"), current_user.user.id)
    except ApiKeyError as exc:
        db.session.rollback()
        return _api_keys_page(400, error=translate(str(exc)), form=request.form)
    db.session.commit()
    return _api_keys_page(201, issued=issued)


@bp.post("/settings/api-keys/<int:api_key_id>/revoke")
@requires("manage_clinic")
def revoke_api_key(api_key_id: int):
    from app.api_keys import revoke_key
    from app.models import ApiKey

    key = get_or_404(ApiKey, api_key_id)
    revoke_key(key)
    db.session.commit()
    flash(_("The key “%(name)s” no longer works.", name=key.name))
    return redirect(url_for("workspace.api_keys"))
