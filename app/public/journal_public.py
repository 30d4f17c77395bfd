"""Outside the workspace: the open journal's cheap change check, and the clinic's embeddable reviews widget."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, make_response, render_template, request
from flask_babel import force_locale
from sqlalchemy import select

from app.extensions import db
from app.models import Tenant
from app.parsing import whole_number
from tenants.context import tenant_scope
from tenants.resolve import enter_clinic

bp = Blueprint("journal_public", __name__)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/live/<ticket>")
def live_marker(ticket: str):
    """204 while the clinic's change marker equals ``m``; else 200 with the new marker, and with the
    new entries when an authenticated catch-up already rendered them for the same question.

    No session, user or clinic lookup: the signed ticket names the clinic. Without
    Redis the answer comes from one indexed query (is there a response above ``after``?).
    """
    from app.journal import FilterError, parse_filters
    from app.live import cached_updates, current_marker, read_ticket, updates_cache_key

    ticket = read_ticket(ticket)
    if ticket is None:
        abort(404)
    seen = request.args.get("m", "")
    after = whole_number(request.args.get("after", ""), maximum=10**12)
    if after is None:
        abort(400, description="after must be a number")
    try:
        marker = current_marker(ticket.tenant_id)
    except Exception:  # noqa: BLE001 — Redis down: fall back to the database
        from app.journal import has_newer

        with tenant_scope(ticket.tenant_id):
            newer = has_newer(after)
        return _no_store(jsonify(m=None) if newer else make_response("", 204))
    if seen == str(marker):
        return _no_store(make_response("", 204))
    # After a change every open journal asks the same question: hand out the fragment the first
    # authenticated catch-up rendered, if it is there ("" = nothing new for these filters).
    try:
        filters = parse_filters(request.args)
    except FilterError:
        return _no_store(jsonify(m=marker))
    html = cached_updates(updates_cache_key(ticket.tenant_id, marker, after, filters.to_args(),
                                            ticket.see_contacts, ticket.locale))
    return _no_store(jsonify(m=marker) if html is None else jsonify(m=marker, html=html))


@bp.get("/w/<slug>/reviews")
def reviews_widget(slug: str):
    """The clinic's published reviews for its own website: public, cacheable, embeddable, no personal data."""
    from app.publishing import widget_etag, widget_reviews

    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug)) if len(slug) <= 64 else None
    if tenant is None:
        abort(404)
    enter_clinic(tenant)
    lang = request.args.get("lang") if request.args.get("lang") in ("ru", "en") else tenant.language
    reviews = widget_reviews()  # a few rows: hashing what is shown is cheaper than being wrong
    etag = widget_etag(reviews, tenant.name, tenant.timezone, lang)
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        with force_locale(lang):
            response = make_response(render_template("public/reviews_widget.html", tenant=tenant,
                                                     reviews=reviews, lang=lang))
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=300"
    # Any clinic website may frame it: the app-wide frame-ancestors 'none' and X-Frame-Options: DENY
    # are lifted for this page only.
    response.allow_framing = True
    return response
