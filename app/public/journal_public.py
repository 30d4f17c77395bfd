"""Outside the workspace: the open journal's cheap change check, and the clinic's embeddable reviews widget."""
from __future__ import annotations

from flask_babel import force_locale
from flask import Blueprint, abort, jsonify, make_response, render_template, request
from sqlalchemy import select

from app.extensions import db
from app.models import Tenant
from tenants.context import tenant_scope
from tenants.resolve import enter_clinic

bp = Blueprint("journal_public", __name__)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/live/<ticket>")
def live_marker(ticket: str):
    """204 while the clinic's change marker equals ``m``; else 200 with the new marker.

    No session, user or clinic lookup: the signed ticket names the clinic. Without
    Redis the answer comes from one indexed query (is there a response above ``after``?).
    """
    from app.live import current_marker, read_ticket

    tenant_id = read_ticket(ticket)
    if tenant_id is None:
        abort(404)
    seen = request.args.get("m", "")
    try:
        marker = current_marker(tenant_id)
    except Exception:  # noqa: BLE001 — Redis down: fall back to the database
        after = request.args.get("after", "")
        if not after.isdigit():
            abort(400, description="after must be a number")
        from app.journal import has_newer

        with tenant_scope(tenant_id):
            newer = has_newer(int(after))
        return _no_store(jsonify(m=None) if newer else make_response("", 204))
    if seen == str(marker):
        return _no_store(make_response("", 204))
    return _no_store(jsonify(m=marker))


@bp.get("/w/<slug>/reviews")
def reviews_widget(slug: str):
    """The clinic's published reviews for its own website: public, cacheable, embeddable, no personal data."""
    from app.publishing import widget_etag, widget_reviews

    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug)) if len(slug) <= 64 else None
    if tenant is None:
        abort(404)
    enter_clinic(tenant)
    lang = request.args.get("lang") if request.args.get("lang") in ("ru", "en") else tenant.language
    etag = f"{widget_etag()}-{lang}"
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        with force_locale(lang):
            response = make_response(render_template("public/reviews_widget.html", tenant=tenant,
                                                     reviews=widget_reviews(), lang=lang))
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=300"
    # Any clinic website may frame it; the app-wide X-Frame-Options: DENY is lifted for this page only.
    response.headers["Content-Security-Policy"] = "frame-ancestors *"
    response.allow_framing = True
    return response
