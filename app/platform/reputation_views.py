"""Operators' console: a clinic's review sources and their selector configs (adapters without code)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import OperatorAction, ReviewSource, Tenant
from app.platform.views import bp
from app.reputation.service import list_sources, parse_selector_config
from tenants.context import tenant_scope


def _tenant_or_404(tenant_id: int) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        abort(404)
    return tenant


@bp.get("/clinics/<int:tenant_id>/review-sources")
def review_sources(tenant_id: int):
    tenant = _tenant_or_404(tenant_id)
    # Read inside the clinic's own scope: the console never mixes clinics' sources.
    with tenant_scope(tenant.id):
        sources = list_sources()
        return render_template("platform/review_sources.html", tenant=tenant, sources=sources)


@bp.route("/clinics/<int:tenant_id>/review-sources/<int:source_id>", methods=["GET", "POST"])
def review_source_selectors(tenant_id: int, source_id: int):
    tenant = _tenant_or_404(tenant_id)
    with tenant_scope(tenant.id):
        source = db.session.scalar(select(ReviewSource).where(ReviewSource.id == source_id))
        if source is None or source.tenant_id != tenant.id:
            abort(404)
        if request.method == "GET":
            return render_template("platform/review_source.html", tenant=tenant, source=source, error=None,
                                   raw=None)
        raw = request.form.get("selector_config") or ""
        config, error = parse_selector_config(raw)
        if error:
            return render_template("platform/review_source.html", tenant=tenant, source=source, error=error,
                                   raw=raw), 400
        if config != source.selector_config:
            source.selector_config = config
            # A new adapter reads the page afresh on the next run.
            source.fetch_state, source.status, source.last_error = {}, "new", ""
        db.session.add(OperatorAction(actor=current_user.operator.email, operator_id=current_user.operator.id,
                                      action="selector_config", tenant_id=tenant.id,
                                      details={"source_id": source.id, "url": source.url, "cleared": config is None}))
        db.session.commit()
    flash(_("Selector config saved."))
    return redirect(url_for("platform.review_sources", tenant_id=tenant.id))
