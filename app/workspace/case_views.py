"""Cases in the workspace: the list (open, overdue, mine...), one case, and the changes managers make."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import cases as case_rules
from app import webhooks
from app.extensions import db
from app.live import announce_change
from app.models import CASE_STATUSES, Case, utcnow
from app.parsing import whole_number
from app.workspace.base import bp, requires
from jobs.outbox import flush_outbox
from tenants.resolve import current_tenant, get_or_404

CASES_PER_PAGE = 50
# The cases page sums up how the cases opened in the last 30 days were handled.
HANDLING_WINDOW = timedelta(days=30)


@bp.get("/cases")
@requires("read")
def cases():
    view = request.args.get("view", "open")
    if view not in case_rules.CASE_VIEWS:
        abort(400, description=_("Unknown view."))
    page = whole_number(request.args.get("page", "1"), minimum=1, maximum=10_000)
    if page is None:
        abort(400, description=_("Bad page number."))
    now = utcnow()
    query = case_rules.case_list_query(view, current_user.user.id, now)
    rows = db.session.scalars(query.limit(CASES_PER_PAGE + 1).offset((page - 1) * CASES_PER_PAGE)).all()
    return render_template("workspace/cases.html", cases=rows[:CASES_PER_PAGE], more=len(rows) > CASES_PER_PAGE,
                           page=page, view=view, now=now, counts=case_rules.case_counts(current_user.user.id, now),
                           handling=case_rules.case_handling(now - HANDLING_WINDOW, now))


def _case_page(case: Case, error: str | None = None, status: int = 200):
    return render_template("workspace/case.html", case=case, response=case.response, now=utcnow(),
                           members=case_rules.clinic_members(), error=error, tenant=current_tenant(),
                           outcomes=case_rules.CONTACT_OUTCOMES), status


@bp.get("/cases/<int:case_id>")
@requires("read")
def case_detail(case_id: int):
    case = get_or_404(Case, case_id)
    if case_rules.mark_seen(case.response, current_user.user.id):
        db.session.commit()
    return _case_page(case)


def _apply(case_id: int, change, event: str | None = None):
    """Run one change on the case; a refused change re-renders the page with a 400 and the reason.

    ``event`` (such as ``case.resolved``) is announced to the clinic's webhooks once the change is saved.
    """
    expected = request.form.get("expected_status")
    if expected and expected not in CASE_STATUSES:
        abort(400, description=_("This form is not one of ours; reload the case and try again."))
    case = get_or_404(Case, case_id)
    # Held until the commit: two managers' changes to one case happen one after the other.
    db.session.refresh(case, with_for_update=True)
    if expected and expected != case.status:
        # The page was drawn before someone else changed the case: a stale status or resolve form
        # would reopen a resolved case or undo their change without anyone meaning it.
        db.session.rollback()
        return _case_page(get_or_404(Case, case_id), status=409, error=_(
            "Someone changed this case while you had it open; here it is as it is now. Make your change again "
            "if it still applies."))
    try:
        change(case, current_user.user.id)
    except case_rules.CaseError as exc:
        db.session.rollback()
        return _case_page(get_or_404(Case, case_id), error=str(exc), status=400)
    case_rules.mark_seen(case.response, current_user.user.id)
    webhook_jobs = webhooks.announce_case(event, case) if event and case.status == "resolved" else []
    db.session.commit()
    flush_outbox(webhook_jobs)
    announce_change(case.tenant_id)  # open journals redraw this entry
    flash(_("Saved."))
    return redirect(url_for("workspace.case_detail", case_id=case.id))


def _form(name: str, limit: int = case_rules.MAX_TEXT) -> str:
    value = request.form.get(name) or ""
    if len(value) > limit:
        abort(400, description=_("%(name)s is too long.", name=name))
    return value


@bp.post("/cases/<int:case_id>/status")
@requires("handle_cases")
def case_status(case_id: int):
    status = _form("status", 20)
    return _apply(case_id, lambda case, actor: case_rules.set_status(case, status, actor))


@bp.post("/cases/<int:case_id>/assign")
@requires("handle_cases")
def case_assign(case_id: int):
    if request.form.get("take") == "1":  # "Take it": the member who clicked, whatever the list shows
        return _apply(case_id, lambda case, actor: case_rules.assign(case, current_user.user.id, actor))
    raw = _form("assignee", 12).strip()
    user_id = whole_number(raw)
    if raw and user_id is None:
        abort(400, description=_("Choose the assignee among the members."))
    return _apply(case_id, lambda case, actor: case_rules.assign(case, user_id, actor))


@bp.post("/cases/<int:case_id>/note")
@requires("handle_cases")
def case_note(case_id: int):
    text = _form("text")
    return _apply(case_id, lambda case, actor: case_rules.add_note(case, text, actor))


@bp.post("/cases/<int:case_id>/contact")
@requires("handle_cases")
def case_contact(case_id: int):
    outcome, text = _form("outcome", 20), _form("text")
    return _apply(case_id, lambda case, actor: case_rules.log_contact(case, outcome, text, actor))


@bp.post("/cases/<int:case_id>/resolve")
@requires("handle_cases")
def case_resolve(case_id: int):
    resolution = _form("resolution")
    return _apply(case_id, lambda case, actor: case_rules.resolve_case(case, resolution, actor), "case.resolved")
