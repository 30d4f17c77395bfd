"""Resolving the current clinic for a request, and fetching its objects.

The workspace blueprint lives under ``/c/<slug>/``; its views never see the
slug: it is taken from the URL here, the clinic is loaded once, and the scope
(ORM filter and PostgreSQL settings) is entered for the rest of the request.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, g
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import Licence, Tenant, TenantScoped
from tenants.context import Scope, require_tenant_id, reset_scope, set_scope
from tenants.licensing import LicenceStatus, licence_status


def enter_clinic(tenant: Tenant) -> None:
    """Make ``tenant`` the current clinic for the rest of this request."""
    g.tenant = tenant
    g.scope_token = set_scope(Scope(tenant_id=tenant.id))


def leave_clinic(exc=None) -> None:
    """Request teardown: leave whatever scope the request entered (clinic or platform)."""
    token = g.pop("scope_token", None)
    if token is not None:
        reset_scope(token)


def attach_clinic_prefix(bp: Blueprint) -> None:
    """Make ``bp`` a clinic blueprint: ``/c/<slug>/...`` resolves the clinic."""

    @bp.url_value_preprocessor
    def _pull_clinic(endpoint, values):
        slug = (values or {}).pop("slug", None)
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug)) if slug else None
        if tenant is None:
            abort(404)
        enter_clinic(tenant)

    @bp.url_defaults
    def _add_clinic(endpoint, values):
        if "slug" not in values and getattr(g, "tenant", None) is not None:
            values["slug"] = g.tenant.slug


def current_tenant() -> Tenant:
    """The clinic resolved for this request."""
    tenant = getattr(g, "tenant", None)
    if tenant is None:
        raise RuntimeError("no clinic resolved for this request")
    return tenant


def clinic_local_now(tenant: Tenant | None = None) -> datetime:
    """Now, in the clinic's time zone."""
    tenant = tenant or current_tenant()
    return datetime.now(ZoneInfo(tenant.timezone))


def clinic_licence_status(tenant: Tenant, licence) -> LicenceStatus:
    """A clinic's licence state on its own calendar: the console and the workspace agree near midnight."""
    return licence_status(licence, clinic_local_now(tenant).date(), current_app.config["LICENCE_GRACE_DAYS"])


def current_licence_status() -> LicenceStatus:
    """The current clinic's licence state today (its local date), cached per request."""
    cached = g.get("licence_status")
    if cached is None:
        licence = db.session.scalar(select(Licence))
        cached = clinic_licence_status(current_tenant(), licence)
        g.licence_status = cached
        g.licence = licence
    return cached


def get_or_404(model: type[TenantScoped], object_id) -> TenantScoped:
    """The current clinic's object with this id; another clinic's is simply not found."""
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    tenant_id = require_tenant_id()
    obj = db.session.scalar(select(model).where(model.id == object_id))
    # The ORM filter already scopes the query; the check guards the identity map too.
    if obj is None or obj.tenant_id != tenant_id:
        abort(404)
    return obj


def enter_clinic_by_point(token: str):
    """Resolve a patient's link: the collection point with ``token``, its clinic entered as scope.

    The token lookup is the one cross-clinic read the public form needs; it loads
    only the point and its own clinic, and every other query of the request then
    runs inside that clinic.
    """
    from app.models import CollectionPoint
    from tenants.context import platform_scope

    if not token or len(token) > 32:
        abort(404)
    with platform_scope():
        # One query on the patient's hot path: the point and the clinic it belongs to.
        row = db.session.execute(select(CollectionPoint, Tenant).join(Tenant, Tenant.id == CollectionPoint.tenant_id)
                                 .where(CollectionPoint.token == token)).first()
    if row is None:
        abort(404)
    point, tenant = row
    enter_clinic(tenant)
    if not point.active:
        abort(404)
    if tenant.delete_after is not None:  # the clinic is ending: no new personal data is taken in
        abort(410, description=_l("This clinic no longer collects feedback here."))
    return point


def enter_clinic_by_status_token(token_hash: str):
    """Resolve a patient's private status link to its response, entering its clinic."""
    from app.models import Response
    from tenants.context import platform_scope

    with platform_scope():
        tenant_id = db.session.scalar(select(Response.tenant_id).where(Response.status_token_hash == token_hash))
    if tenant_id is None:
        abort(404)
    enter_clinic(db.session.get(Tenant, tenant_id))
    response = db.session.scalar(select(Response).where(Response.status_token_hash == token_hash))
    if response is None:
        abort(404)
    return response


def enter_clinic_by_api_key(token: str):
    """Resolve an API key to its clinic, entering it; returns the key, or None when it does not open.

    Like a patient's link, the key's public id is the one cross-clinic read: it gives the clinic,
    and the key itself is then read and checked inside that clinic's scope.
    """
    from app.api_keys import parse_token, secret_matches
    from app.models import ApiKey
    from tenants.context import platform_scope

    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    with platform_scope():
        tenant_id = db.session.scalar(select(ApiKey.tenant_id).where(ApiKey.key_id == key_id))
    if tenant_id is None:
        return None
    tenant = db.session.get(Tenant, tenant_id)
    if tenant.delete_after is not None:  # the clinic is ending: its keys no longer open
        return None
    enter_clinic(tenant)
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None or not key.active or not secret_matches(key, secret):
        return None
    return key
