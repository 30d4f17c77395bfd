"""The live review journal: filtered keyset pages, live catch-up, one response, contacts, publishing."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import cases as case_rules
from app import journal
from app import webhooks
from app.audit import log_access
from app.extensions import db
from app.live import announce_change, cache_updates, cached_updates, current_marker, issue_ticket, updates_cache_key
from app.models import Branch, CollectionPoint, Doctor, Response
from app.parsing import whole_number
from app.publishing import can_publish, publish, unpublish
from app.web import render
from app.workspace.base import bp, requires
from jobs.outbox import flush_outbox
from tenants.resolve import current_tenant, get_or_404
from tenants.settings import clinic_settings

# How often an open journal asks whether anything changed (ms); the live delay is at most this plus one fetch.
LIVE_INTERVAL_MS = 1000


def _filters_or_400() -> journal.JournalFilters:
    try:
        return journal.parse_filters(request.args)
    except journal.FilterError as exc:
        abort(400, description=str(exc))


def _choices() -> dict:
    return {
        "branches": db.session.scalars(select(Branch).order_by(Branch.name)).all(),
        "doctors": db.session.scalars(select(Doctor).order_by(Doctor.full_name)).all(),
        "points": db.session.scalars(select(CollectionPoint).order_by(CollectionPoint.name)).all(),
    }


def _safe_marker() -> int | None:
    try:
        return current_marker(current_tenant().id)
    except Exception:  # noqa: BLE001 — without Redis the page polls the database check instead
        return None


@bp.get("/journal", endpoint="journal")
@requires("read")
def journal_page():
    filters = _filters_or_400()
    tenant = current_tenant()
    cursor = request.args.get("cursor") or None
    try:
        page = journal.journal_page(filters, tenant.timezone, cursor)
    except journal.FilterError as exc:
        abort(400, description=str(exc))
    context = dict(jpage=page, filters=filters, cursor=cursor, now=journal.utcnow(), tenant=tenant,
                   web_reviews=[] if cursor or filters.active else _recent_negative_web_reviews())
    if request.headers.get("HX-Request") == "true" and cursor:
        return render("workspace/journal.html", "workspace/_journal_entries.html", **context)
    marker = _safe_marker()
    return render("workspace/journal.html", None, **context, **_choices(),
                  live=None if cursor else {
                      "ticket": _ticket(),
                      "marker": marker if marker is not None else "",
                      "after": page.newest_id, "interval": LIVE_INTERVAL_MS})


def _recent_negative_web_reviews() -> list[dict]:
    """New negative reviews on public sites this week: their own kind of journal entry."""
    from app.reputation import service as reputation

    since = journal.utcnow() - timedelta(days=7)
    return reputation.journal_review_entries(since=since, negative_only=True, limit=5)


@bp.get("/journal/updates")
@requires("read")
def journal_updates():
    """New entries after ``after`` matching the filters, as entry fragments; 204 when there are none.

    Every open journal of the clinic asks this right after the same change, with the
    same ``after`` and mostly the same filters: the answer is rendered once per
    (change marker, after, filters, contact permission, language) and shared for a
    few seconds through Redis.
    """
    filters = _filters_or_400()
    after = whole_number(request.args.get("after", "0"), maximum=10**12)
    if after is None:
        abort(400, description=_("%(name)s must be a number", name="after"))
    tenant = current_tenant()
    marker = _safe_marker()
    key = updates_cache_key(tenant.id, marker, after, filters.to_args(), current_user.can("see_contacts"),
                            str(get_locale())) if marker is not None else None
    body = cached_updates(key) if key else None
    if body is None:
        entries = journal.entries_after(filters, tenant.timezone, after)
        # A tab asleep through more new answers than one catch-up carries would skip the rest for
        # good (its "after" jumps past them): the fragment then asks the page to reload instead.
        overflow = len(entries) >= journal.MAX_PAGE_SIZE and entries[-1].id > after
        body = render_template("workspace/_journal_entries.html", jpage=journal.JournalPage(entries, None, 0),
                               filters=filters, now=journal.utcnow(), live_fragment=True,
                               live_overflow=overflow) if entries else ""
        if key:
            cache_updates(key, body)
    response = make_response(body, 200 if body.strip() else 204)
    response.headers["Cache-Control"] = "no-store"
    # The page's marker polls use this ticket from now on (tickets are short-lived).
    response.headers["X-Live-Ticket"] = _ticket()
    return response


def _ticket() -> str:
    return issue_ticket(current_tenant().id, current_user.user.id, current_user.can("see_contacts"),
                        str(get_locale()))


@bp.get("/journal/<int:response_id>")
@requires("read")
def response_detail(response_id: int):
    response = get_or_404(Response, response_id)
    # The first look by anyone in the clinic is what the patient's status page calls "seen".
    if case_rules.mark_seen(response, current_user.user.id):
        db.session.commit()
    show_contacts = current_user.can("see_contacts") and response.has_contact
    if show_contacts:
        log_access(current_user.user.id, "view_contacts", "response", response.id)
        db.session.commit()
    return render_template("workspace/response.html", response=response, case=response.case,
                           show_contacts=show_contacts, now=journal.utcnow(),
                           can_publish=can_publish(response), tenant=current_tenant())


@bp.get("/journal/<int:response_id>/contact")
@requires("see_contacts")
def response_contact(response_id: int):
    """The patient's contact data, revealed on request (and logged)."""
    response = get_or_404(Response, response_id)
    if not response.has_contact:
        abort(404)
    log_access(current_user.user.id, "view_contacts", "response", response.id)
    db.session.commit()
    return render("workspace/response.html", "workspace/_contact.html", response=response, case=response.case,
                  show_contacts=True, now=journal.utcnow(), can_publish=can_publish(response),
                  tenant=current_tenant())


@bp.post("/journal/<int:response_id>/case")
@requires("handle_cases")
def open_case(response_id: int):
    response = get_or_404(Response, response_id)
    opened = response.case is None
    case = case_rules.open_case(response, clinic_settings(current_tenant()), actor_id=current_user.user.id,
                                origin="manual")
    case_rules.mark_seen(response, current_user.user.id)
    db.session.flush()
    webhook_jobs = webhooks.announce_case("case.opened", case) if opened else []
    tenant_id = case.tenant_id
    db.session.commit()
    flush_outbox(webhook_jobs)
    if opened:
        announce_change(tenant_id)  # other open journals draw the entry's new case badge
    return redirect(url_for("workspace.case_detail", case_id=case.id))


@bp.post("/journal/<int:response_id>/publish")
@requires("handle_cases")
def publish_response(response_id: int):
    response = get_or_404(Response, response_id)
    if request.form.get("publish") == "no":
        unpublish(response)
        flash(_("The review is no longer published."))
    else:
        if not can_publish(response):
            abort(400, description=_("Only a comment the patient agreed to publish can be published."))
        publish(response, current_user.user.id)
        flash(_("The review is published on the clinic's widget."))
    db.session.commit()
    return redirect(url_for("workspace.response_detail", response_id=response.id))

