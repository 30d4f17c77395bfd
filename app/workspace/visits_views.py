"""Visit imports (upload → column mapping and preview → import job with progress) and programme settings."""
from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from app import visits_import
from app.extensions import db
from app.i18n import translate
from app.metrics.programme import ProgrammeType
from app.models import VisitImport
from app.parsing import whole_number
from app.web import render
from app.workspace.base import bp, requires
from tenants.resolve import clinic_local_now, current_tenant, get_or_404
from tenants.settings import clinic_settings, update_settings

FIELD_LABELS = {
    "patient": _l("Patient id"), "visited_on": _l("Visit date"), "branch": _l("Branch"), "doctor": _l("Doctor"),
    "service": _l("Service"), "amount": _l("Amount paid"), "gender": _l("Gender"), "birth_year": _l("Birth year"),
    "district": _l("District"), "first_visit": _l("First visit"), "bonuses_awarded": _l("Bonuses awarded"),
    "bonuses_redeemed": _l("Bonuses redeemed"),
}
ENCODINGS = ("utf-8", "windows-1251", "utf-16")


def _imports():
    return db.session.scalars(select(VisitImport).order_by(VisitImport.id.desc()).limit(20)).all()


@bp.get("/visits/imports")
@requires("import_data")
def visit_imports():
    return render_template("workspace/visit_imports.html", imports=_imports(), error=None, encodings=ENCODINGS)


@bp.post("/visits/imports")
@requires("import_data")
def upload_visits():
    upload = request.files.get("file")
    encoding = request.form.get("encoding") or "utf-8"
    error = None
    if upload is None or not upload.filename:
        error = _("Choose a CSV or XLSX file.")
    elif encoding not in ENCODINGS:
        error = _("Unknown encoding.")
    else:
        content = upload.read(visits_import.MAX_FILE_BYTES + 1)
        try:
            visit_import = visits_import.create_import(upload.filename, content, encoding,
                                                       current_user.user.email)
        except visits_import.ImportFileError as exc:
            error = translate(exc.message, exc.params)
        else:
            db.session.commit()
            return redirect(url_for("workspace.visit_import", import_id=visit_import.id))
    return render_template("workspace/visit_imports.html", imports=_imports(), error=error,
                           encodings=ENCODINGS), 400


def _today() -> date:
    return clinic_local_now().date()


@bp.route("/visits/imports/<int:import_id>", methods=["GET", "POST"])
@requires("import_data")
def visit_import(import_id: int):
    visit_import = get_or_404(VisitImport, import_id)
    header = list(visit_import.columns or [])
    problems: list[str] = []
    if request.method == "POST":
        if visit_import.status != "mapping":
            return redirect(url_for("workspace.visit_import", import_id=visit_import.id))
        mapping = {name: request.form.get(f"map_{name}", "") for name in visits_import.FIELDS}
        mapping = {name: column for name, column in mapping.items() if column}
        visit_import.mapping = mapping
        problems = _mapping_problems(header, mapping)
        if not problems and request.form.get("action") == "import":
            return _start_import(visit_import)
        db.session.commit()
    preview = []
    if visit_import.status == "mapping" and visit_import.content:
        try:
            _, rows = visits_import.read_rows(visit_import.content, visit_import.file_format, visit_import.encoding)
            preview = visits_import.preview(header, rows, visit_import.mapping or {}, _today())
        except visits_import.ImportFileError as exc:
            problems.append(translate(exc.message, exc.params))
        problems = problems or _mapping_problems(header, visit_import.mapping or {})
    progress = visits_import.read_progress(visit_import.tenant_id, visit_import.id)
    return render_template("workspace/visit_import.html", imp=visit_import, header=header, preview=preview,
                           problems=problems, fields=visits_import.FIELDS, required=visits_import.REQUIRED,
                           labels=FIELD_LABELS, progress=progress), 400 if problems and request.method == "POST" else 200


def _mapping_problems(header: list[str], mapping: dict) -> list[str]:
    return [translate(message, params) for message, params in visits_import.check_mapping(header, mapping)]


def _start_import(visit_import: VisitImport):
    from jobs.outbox import defer, flush_outbox
    from jobs.queues import make_job_id

    # The import row is committed, with its job promised in the same transaction, before Redis hears of it.
    visit_import.status = "queued"
    job_id = make_job_id(visit_import.tenant_id, "visit-import", visit_import.id)
    defer("default", "jobs.visits.import_visits", visit_import.id, job_id=job_id)
    db.session.commit()
    flush_outbox([job_id])
    return redirect(url_for("workspace.visit_import", import_id=visit_import.id))


@bp.get("/visits/imports/<int:import_id>/progress")
@requires("import_data")
def visit_import_progress(import_id: int):
    visit_import = get_or_404(VisitImport, import_id)
    progress = visits_import.read_progress(visit_import.tenant_id, visit_import.id)
    return render("workspace/visit_import.html", "workspace/_visit_import_progress.html", imp=visit_import,
                  progress=progress, header=list(visit_import.columns or []), preview=[], problems=[],
                  fields=visits_import.FIELDS, required=visits_import.REQUIRED, labels=FIELD_LABELS)


@bp.route("/settings/programme", methods=["GET", "POST"])
@requires("read")
def programme_settings():
    tenant = current_tenant()
    settings = clinic_settings(tenant)
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not current_user.can("manage_clinic"):
            return render_template("error.html", code=403, title=_("Not allowed"), message=None), 403
        kind = (request.form.get("programme_type") or "").strip()
        launched = (request.form.get("programme_launched_on") or "").strip()
        changes: dict = {"programme_type": kind, "programme_launched_on": launched}
        if kind and kind not in {t.value for t in ProgrammeType}:
            errors["programme_type"] = _("Choose a programme type.")
        if launched:
            try:
                date.fromisoformat(launched)
            except ValueError:
                errors["programme_launched_on"] = _("A date, YYYY-MM-DD.")
        for key in ("programme_running_cost", "programme_forgone_revenue"):
            raw = (request.form.get(key) or "0").strip().replace(" ", "")
            roubles = whole_number(raw, maximum=10**12)
            if roubles is None:
                errors[key] = _("A whole non-negative number of roubles.")
            else:
                changes[key] = roubles
        if errors:
            return render_template("workspace/settings_programme.html", settings=settings, errors=errors,
                                   form=request.form, types=list(ProgrammeType)), 400
        update_settings(tenant, **changes)
        db.session.commit()
        flash(_("Programme settings saved."))
        return redirect(url_for("workspace.programme_settings"))
    return render_template("workspace/settings_programme.html", settings=settings, errors=errors, form=None,
                           types=list(ProgrammeType))
