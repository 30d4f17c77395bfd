"""Privacy in the workspace: the access log, and a patient's data on request (find, export, delete)."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app import privacy
from app.audit import access_log_page, log_access
from app.extensions import db
from app.parsing import whole_number
from app.workspace.base import bp, requires


def _query_or_400():
    try:
        return privacy.parse_patient_query(request.values)
    except privacy.PatientQueryError as exc:
        abort(400, description=str(exc))


@bp.route("/privacy", methods=["GET", "POST"])
@requires("export")
def patient_data():
    # Searched and exported with POST: a phone or an e-mail in the address would stay in the
    # browser's history and in proxies' logs.
    query = _query_or_400() if request.method == "POST" else None
    responses = privacy.find_patient_responses(query) if query else []
    # Rendered before the access log's commit, which would expire the rows and reload each one.
    page = render_template("workspace/privacy.html", query=query, responses=responses,
                           args={k: request.form.get(k, "") for k in ("phone", "email", "reference")})
    if responses:
        log_access(current_user.user.id, "view_contacts", "patient_search", query.kind,
                   {"responses": [r.id for r in responses][:100]})
        db.session.commit()
    return page


@bp.post("/privacy/export")
@requires("export")
def export_patient_data():
    query = _query_or_400()
    if query is None:
        abort(400, description=_("Give one of phone, e-mail or reference."))
    fmt = request.form.get("format", "json")
    if fmt not in ("json", "csv"):
        abort(400, description=_("%(name)s must be one of: %(allowed)s", name="format", allowed="json, csv"))
    responses = privacy.find_patient_responses(query)
    if not responses:
        abort(404)
    body = privacy.export_json(responses) if fmt == "json" else privacy.export_csv(responses)
    log_access(current_user.user.id, "export", "patient_data", query.kind,
               {"format": fmt, "references": [r.reference for r in responses][:100]})
    db.session.commit()
    response = make_response(body)
    response.headers["Content-Type"] = "application/json; charset=utf-8" if fmt == "json" else "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f"attachment; filename=patient-data.{fmt}"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/privacy/delete")
@requires("export")
@requires("handle_cases")
def delete_patient_data():
    query = _query_or_400()
    if query is None:
        abort(400, description=_("Give one of phone, e-mail or reference."))
    if request.form.get("confirm") != "yes":
        abort(400, description=_("Tick the box to confirm the deletion."))
    responses = privacy.find_patient_responses(query)
    references = privacy.delete_responses(responses)
    log_access(current_user.user.id, "delete", "patient_data", query.kind,
               {"references": references[:100], "count": len(references)})
    db.session.commit()
    flash(ngettext("%(num)s response deleted.", "%(num)s responses deleted.", len(references)))
    return redirect(url_for("workspace.patient_data"))


@bp.get("/settings/access-log")
@requires("manage_clinic")
def access_log():
    before = request.args.get("before", "")
    before_id = whole_number(before)
    if before and before_id is None:
        abort(400, description=_("%(name)s must be a number", name="before"))
    rows = access_log_page(before_id)
    return render_template("workspace/access_log.html", rows=rows,
                           next_before=rows[-1][0].id if len(rows) == 100 else None)
