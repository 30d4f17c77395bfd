"""`flask tenants ...` and `flask operators ...`: the operator console from a shell."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import click
from flask import current_app, url_for
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import Operator, Tenant
from app.security import hash_password, password_problem
from app.collection import default_point
from tenants.context import platform_scope, tenant_scope
from tenants.licensing import PLANS
from tenants.onboarding import OnboardingError, change_plan, onboard_clinic, renew_licence, set_suspended
from tenants.resolve import clinic_licence_status
from tenants.usage import usage_overview

tenants_cli = AppGroup("tenants", help="Onboard and manage clinics.")
operators_cli = AppGroup("operators", help="Manage platform operator accounts.")

def _absolute(endpoint: str, **values) -> str:
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        return url_for(endpoint, _external=True, **values)


def _tenant(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise click.ClickException(f"no clinic with slug {slug!r}")
    return tenant


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Clinic name shown to patients and staff.")
@click.option("--owner", "owner_email", required=True, help="E-mail of the first owner (gets an invitation).")
@click.option("--plan", default="standard", type=click.Choice(sorted(PLANS)), show_default=True)
@click.option("--timezone", "tz", default="Europe/Moscow", show_default=True)
@click.option("--language", default="ru", type=click.Choice(["ru", "en"]), show_default=True)
@click.option("--legal-name", default="")
@click.option("--days", default=365, show_default=True, help="Licence length in days.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create(slug, name, owner_email, plan, tz, language, legal_name, days, as_json):
    """Onboard a clinic under a licence and invite its first owner."""
    try:
        with platform_scope():
            result = onboard_clinic(slug=slug, name=name, owner_email=owner_email, plan=plan, timezone=tz,
                                    language=language, legal_name=legal_name, licence_days=days, actor="cli",
                                    ttl_hours=current_app.config["INVITATION_TTL_HOURS"])
            db.session.commit()
    except OnboardingError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    payload = {
        "id": result.tenant_id,
        "slug": result.slug,
        "workspace_url": _absolute("workspace.home", slug=result.slug),
        "invitation_url": _absolute("workspace.accept_invitation", slug=result.slug, token=result.invitation_token),
    }
    with tenant_scope(result.tenant_id):
        point = default_point()
        payload["form_url"] = _absolute("public.questionnaire", token=point.token)
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
    else:
        for key, value in payload.items():
            click.echo(f"{key}: {value}")


@tenants_cli.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json):
    """Clinics with licence state and usage this month."""
    month_start = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with platform_scope():
        rows = usage_overview(month_start)
    out = []
    for row in rows:
        status = clinic_licence_status(row.tenant, row.licence)
        out.append({
            "id": row.tenant.id, "slug": row.tenant.slug, "name": row.tenant.name,
            "plan": row.licence.plan if row.licence else None,
            "licence": status.state.value, "ends_on": row.licence.ends_on.isoformat() if row.licence else None,
            "seats_used": row.seats_used, "seats": row.licence.seats if row.licence else 0, **row.counters,
        })
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    for item in out:
        click.echo(f"{item['slug']:<24} {item['licence']:<10} {item['plan'] or '-':<9} "
                   f"seats {item['seats_used']}/{item['seats']}  until {item['ends_on']}")


@tenants_cli.command("suspend")
@click.argument("slug")
@click.option("--reason", default="")
@click.option("--undo", is_flag=True, help="Reactivate instead.")
def suspend(slug, reason, undo):
    """Suspend a clinic (data and patient submissions are kept), or --undo to reactivate."""
    with platform_scope():
        set_suspended(_tenant(slug), not undo, reason=reason, actor="cli")
        db.session.commit()
    click.echo(f"{slug}: {'reactivated' if undo else 'suspended'}")


@tenants_cli.command("renew")
@click.argument("slug")
@click.option("--days", default=365, show_default=True)
@click.option("--plan", type=click.Choice(sorted(PLANS)), default=None)
def renew(slug, days, plan):
    """Extend a clinic's licence (optionally moving it to another plan)."""
    try:
        with platform_scope():
            licence = renew_licence(_tenant(slug), days=days, plan=plan, actor="cli")
            db.session.commit()
            click.echo(f"{slug}: licence until {licence.ends_on.isoformat()} ({licence.plan})")
    except OnboardingError as exc:
        raise click.ClickException(str(exc)) from None


@tenants_cli.command("plan")
@click.argument("slug")
@click.argument("plan", type=click.Choice(sorted(PLANS)))
@click.option("--seats", type=int, default=None)
def plan_(slug, plan, seats):
    """Move a clinic to another plan."""
    with platform_scope():
        licence = change_plan(_tenant(slug), plan=plan, seats=seats, modules=None, actor="cli")
        db.session.commit()
        click.echo(f"{slug}: {licence.plan}, {licence.seats} seats, modules {', '.join(licence.modules) or '-'}")


@operators_cli.command("create")
@click.argument("email")
@click.option("--name", default="")
@click.password_option(help="Password (prompted when omitted).")
def create_operator(email, name, password):
    """Create a platform operator account."""
    problem = password_problem(password)
    if problem:
        raise click.ClickException(f"password: {problem}")
    email = email.strip().lower()
    if db.session.scalar(select(Operator).where(Operator.email == email)):
        raise click.ClickException(f"operator {email} exists")
    db.session.add(Operator(email=email, full_name=name, password_hash=hash_password(password)))
    db.session.commit()
    click.echo(f"operator {email} created")




@operators_cli.command("list")
def list_operators():
    """Every operator: e-mail, two-factor login, last sign-in, whether the account is on."""
    from app.accounts import operator_roster

    for row in operator_roster():
        seen = row.last_sign_in.strftime("%Y-%m-%d %H:%M UTC") if row.last_sign_in else "never signed in"
        click.echo(f"{row.operator.email}\t2fa {'on' if row.two_factor else 'OFF'}\t{seen}\t"
                   f"{'active' if row.operator.is_active else 'switched off'}")


@operators_cli.command("deactivate")
@click.argument("email")
@click.option("--undo", is_flag=True, help="Switch the account back on.")
def deactivate_operator(email, undo):
    """Switch an operator's account off (their sessions end at once), or back on with --undo."""
    from app.models import OperatorAction

    email = email.strip().lower()
    operator = db.session.scalar(select(Operator).where(Operator.email == email))
    if operator is None:
        raise click.ClickException(f"no operator {email}")
    operator.is_active = bool(undo)
    db.session.add(OperatorAction(actor="cli", action="operator_activated" if undo else "operator_deactivated",
                                  details={"email": email}))
    db.session.commit()
    click.echo(f"operator {email} {'is active again' if undo else 'is switched off; their sessions have ended'}")


@operators_cli.command("reset-two-factor")
@click.argument("email")
@click.option("--staff", is_flag=True, help="The account is a clinic member's, not an operator's.")
def reset_two_factor(email, staff):
    """Turn off two-factor login of someone who lost both the phone and the recovery codes.

    Check who is asking first: this leaves the password alone as the only lock. They set it up
    again at their next login wherever it is required.
    """
    from app.models import OperatorAction, User
    from app.two_factor import disable, is_enabled

    model = User if staff else Operator
    email = email.strip().lower()
    account = db.session.scalar(select(model).where(model.email == email))
    if account is None:
        raise click.ClickException(f"no {'clinic member' if staff else 'operator'} {email}")
    if not is_enabled(account):
        raise click.ClickException(f"{email} has no two-factor login to reset")
    disable(account)  # the session stamp changes: their open sessions end too
    db.session.add(OperatorAction(actor="cli", action="two_factor_reset",
                                  details={"account": "staff" if staff else "operator", "email": email}))
    db.session.commit()
    click.echo(f"two-factor login of {email} is off; their sessions have ended")


@tenants_cli.command("delete")
@click.argument("slug")
@click.option("--confirm", "confirm", required=True, help="The clinic's address again, to confirm.")
@click.option("--days", type=int, default=None, help="Grace period before the data goes (default 30).")
@click.option("--now", "now_", is_flag=True, help="Delete at once instead of scheduling.")
@click.option("--cancel", is_flag=True, help="Cancel a scheduled deletion.")
def delete_(slug, confirm, days, now_, cancel):
    """Schedule, run or cancel the deletion of a suspended clinic's data."""
    from tenants.offboarding import DEFAULT_GRACE_DAYS, OffboardingError, cancel_deletion, delete_clinic, \
        schedule_deletion

    try:
        with platform_scope():
            tenant = _tenant(slug)
            if cancel:
                cancel_deletion(tenant, actor="cli")
                db.session.commit()
                click.echo(f"{slug}: deletion cancelled")
                return
            when = schedule_deletion(tenant, confirm=confirm, days=0 if now_ else (DEFAULT_GRACE_DAYS if days is None else days),
                                     actor="cli")
            db.session.commit()
            tenant_id = tenant.id
        if not now_:
            click.echo(f"{slug}: data will be deleted after {when.isoformat()}")
            return
        counts = delete_clinic(tenant_id, actor="cli")
        click.echo(f"{slug}: deleted {sum(counts.values())} rows " +
                   json.dumps(counts, sort_keys=True))
    except OffboardingError as exc:
        raise click.ClickException(str(exc)) from None
