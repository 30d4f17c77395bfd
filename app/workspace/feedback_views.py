"""Patient feedback in the workspace: the questionnaire editor, collection points (QR codes, posters),
consent texts and review sites. Views parse input and call app.questionnaires / app.collection."""
from __future__ import annotations

from types import SimpleNamespace

from flask import Response as HttpResponse
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from app import collection
from app import questionnaires as qn
from app.extensions import db
from app.models import Branch, CollectionPoint, ConsentText, Doctor, Questionnaire
from app.parsing import whole_number
from app.review_sites import MAX_LINKS, ReviewLinkError, save_review_links
from app.workspace.base import bp, requires
from tenants.resolve import current_tenant, get_or_404
from tenants.settings import clinic_settings

POSTER_SIZES = ("a4", "a5")


def _text(name: str, limit: int) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def _optional_id(name: str) -> int | None:
    """A select's id, or None when blank; anything else is bad input (400)."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    value = whole_number(raw)
    if value is None:
        raise collection.CollectionPointError(_("choose from the list"))
    return value


# --- questionnaires ---

@bp.get("/questionnaires")
def questionnaires():
    rows = db.session.scalars(select(Questionnaire).order_by(Questionnaire.id)).all()
    published = {q.id: qn.published_version(q.id) for q in rows}
    drafts = {q.id: qn.existing_draft(q) for q in rows}
    return render_template("workspace/questionnaires.html", questionnaires=rows, published=published,
                           drafts=drafts, error=None)


@bp.post("/questionnaires")
@requires("edit_questionnaires")
def questionnaires_create():
    try:
        questionnaire = qn.create_questionnaire(_text("name", 200))
    except qn.QuestionnaireError:
        db.session.rollback()
        rows = db.session.scalars(select(Questionnaire).order_by(Questionnaire.id)).all()
        return render_template("workspace/questionnaires.html", questionnaires=rows,
                               published={q.id: qn.published_version(q.id) for q in rows},
                               drafts={q.id: qn.existing_draft(q) for q in rows},
                               error=_("Give the questionnaire a name.")), 400
    db.session.commit()
    flash(_("Questionnaire created. Add its questions, then publish it."))
    return redirect(url_for("workspace.questionnaires_edit", questionnaire_id=questionnaire.id))


def _editor(questionnaire: Questionnaire, status: int = 200, error: str | None = None):
    draft = qn.existing_draft(questionnaire)
    published = qn.published_version(questionnaire.id)
    shown = draft or published
    return render_template(
        "workspace/questionnaire_edit.html", questionnaire=questionnaire, draft=draft, published=published,
        questions=shown.questions if shown else [], history=qn.version_history(questionnaire),
        types=qn.QUESTION_TYPES, error=error, can_edit=current_user.can("edit_questionnaires"),
        max_options=qn.MAX_OPTIONS,
    ), status


@bp.get("/questionnaires/<int:questionnaire_id>")
def questionnaires_edit(questionnaire_id: int):
    return _editor(get_or_404(Questionnaire, questionnaire_id))


def _options_from_form() -> list[dict]:
    options = []
    for i in range(qn.MAX_OPTIONS + 1):
        if f"opt_ru_{i}" not in request.form and f"opt_en_{i}" not in request.form:
            continue
        options.append({"key": _text(f"opt_key_{i}", 40),
                        "label": {"ru": _text(f"opt_ru_{i}", 200), "en": _text(f"opt_en_{i}", 200)}})
    return options


@bp.post("/questionnaires/<int:questionnaire_id>")
@requires("edit_questionnaires")
def questionnaires_change(questionnaire_id: int):
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    # Held until the commit: an edit saved while a colleague publishes lands on the next draft,
    # never on the version patients have just started to answer.
    db.session.refresh(questionnaire, with_for_update=True)
    action, key = request.form.get("action", ""), _text("key", 40)
    try:
        if action == "add":
            qn.add_question(questionnaire, _text("type", 16), label_ru=_text("label_ru", 500),
                            label_en=_text("label_en", 500), aspect=_text("aspect", 40),
                            required=request.form.get("required") == "on")
            message = _("Question added to the draft.")
        elif action == "update":
            qn.update_question(questionnaire, key, label_ru=_text("label_ru", 500), label_en=_text("label_en", 500),
                               required=request.form.get("required") == "on",
                               aspect=_text("aspect", 40) if "aspect" in request.form else None,
                               options=_options_from_form())
            message = _("Question saved in the draft.")
        elif action == "remove":
            qn.remove_question(questionnaire, key)
            message = _("Question removed from the draft.")
        elif action in ("up", "down"):
            qn.move_question(questionnaire, key, -1 if action == "up" else 1)
            message = _("Order changed in the draft.")
        elif action == "publish":
            if qn.existing_draft(questionnaire) is None:
                raise qn.QuestionnaireError(_("Nothing to publish: change the questions first."))
            version = qn.publish_draft(questionnaire)
            message = _("Version %(number)s published. Earlier responses keep their own version.",
                        number=version.number)
        elif action == "discard":
            qn.discard_draft(questionnaire)
            message = _("Draft discarded.")
        elif action == "rename":
            name = _text("name", 200)
            if not name:
                raise qn.QuestionnaireError(_("Give the questionnaire a name."))
            questionnaire.name = name
            message = _("Saved.")
        else:
            return _editor(questionnaire, 400, _("Unknown action."))
    except qn.QuestionnaireError as exc:
        db.session.rollback()
        return _editor(questionnaire, 400, str(exc))
    db.session.commit()
    flash(message)
    anchor = f"#q-{key}" if key and action in ("update", "up", "down") else ""
    return redirect(url_for("workspace.questionnaires_edit", questionnaire_id=questionnaire.id) + anchor)


@bp.get("/questionnaires/<int:questionnaire_id>/preview")
def questionnaires_preview(questionnaire_id: int):
    """The patient's page as it would look, for the draft or any version (?version=N); sending is off."""
    questionnaire = get_or_404(Questionnaire, questionnaire_id)
    number = request.args.get("version", "")
    versions = {s.version.number: s.version for s in qn.version_history(questionnaire)}
    if number:
        version = versions.get(whole_number(number))
    else:
        version = qn.existing_draft(questionnaire) or qn.published_version(questionnaire.id)
    if version is None:
        return render_template("error.html", code=404, title=_("Not found"), message=None), 404
    language = request.args.get("lang") if request.args.get("lang") in qn.LANGUAGES else current_tenant().language
    point = db.session.scalar(select(CollectionPoint).where(CollectionPoint.questionnaire_id == questionnaire.id))
    return render_template(
        "public/questionnaire.html", point=point or SimpleNamespace(token="preview"), tenant=current_tenant(),
        questions=version.questions, language=language, label=qn.label, values={}, errors={},
        consent=qn.current_consent(language), submission_key="preview", notice=None, preview=True,
        csrf_token_value="",
    )


# --- collection points ---

def _point_choices() -> dict:
    return {
        "questionnaires": db.session.scalars(select(Questionnaire).order_by(Questionnaire.id)).all(),
        "branches": db.session.scalars(select(Branch).order_by(Branch.name)).all(),
        "doctors": db.session.scalars(select(Doctor).order_by(Doctor.full_name)).all(),
        "kinds": collection.POINT_KINDS,
    }


def _points_page(status: int = 200, errors: dict | None = None, form=None):
    points = db.session.scalars(select(CollectionPoint).order_by(CollectionPoint.id)).all()
    base = current_app.config["BASE_URL"]
    scans = collection.current_scans(current_tenant().id, points)
    rows = [SimpleNamespace(point=p, link=collection.public_link(p, base), scans=scans[p.id],
                            rate=collection.completion_rate(p, scans[p.id])) for p in points]
    return render_template("workspace/collection_points.html", rows=rows, errors=errors or {}, form=form or {},
                           **_point_choices()), status


@bp.get("/points")
def collection_points():
    return _points_page()


def _point_values() -> dict:
    questionnaire_id = _optional_id("questionnaire_id")
    if questionnaire_id is None:
        raise collection.CollectionPointError(_("choose a questionnaire"))
    return {"name": _text("name", 200), "kind": _text("kind", 16), "questionnaire_id": questionnaire_id,
            "branch_id": _optional_id("branch_id"), "doctor_id": _optional_id("doctor_id")}


@bp.post("/points")
@requires("edit_questionnaires")
def collection_points_create():
    try:
        point = collection.create_point(**_point_values())
    except collection.CollectionPointError as exc:
        db.session.rollback()
        return _points_page(400, {"form": str(exc)}, request.form)
    db.session.commit()
    flash(_("Collection point created. Print its QR code or poster."))
    return redirect(url_for("workspace.collection_points_edit", point_id=point.id))


@bp.route("/points/<int:point_id>", methods=["GET", "POST"])
def collection_points_edit(point_id: int):
    point = get_or_404(CollectionPoint, point_id)
    link = collection.public_link(point, current_app.config["BASE_URL"])
    scans = collection.current_scans(current_tenant().id, [point])[point.id]
    context = {"point": point, "link": link, "scans": scans, "rate": collection.completion_rate(point, scans),
               "can_edit": current_user.can("edit_questionnaires"), **_point_choices()}
    if request.method == "POST":
        if not context["can_edit"]:
            return render_template("error.html", code=403, title=_("Not allowed"), message=None), 403
        try:
            collection.update_point(point, active=request.form.get("active") == "on", **_point_values())
        except collection.CollectionPointError as exc:
            db.session.rollback()
            point = get_or_404(CollectionPoint, point_id)
            return render_template("workspace/collection_point_edit.html", **{**context, "point": point},
                                   error=str(exc)), 400
        db.session.commit()
        flash(_("Collection point saved."))
        return redirect(url_for("workspace.collection_points_edit", point_id=point.id))
    return render_template("workspace/collection_point_edit.html", error=None, **context)


def _download(body: bytes, mimetype: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/points/<int:point_id>/qr.svg")
def collection_points_qr_svg(point_id: int):
    point = get_or_404(CollectionPoint, point_id)
    return _download(collection.qr_svg(collection.public_link(point, current_app.config["BASE_URL"])),
                     "image/svg+xml", f"qr-{point.token}.svg")


@bp.get("/points/<int:point_id>/qr.png")
def collection_points_qr_png(point_id: int):
    point = get_or_404(CollectionPoint, point_id)
    return _download(collection.qr_png(collection.public_link(point, current_app.config["BASE_URL"])),
                     "image/png", f"qr-{point.token}.png")


@bp.get("/points/<int:point_id>/poster")
def collection_points_poster(point_id: int):
    """A printable poster (A4 or A5 via print CSS): clinic name, invitation, QR code, short link."""
    point = get_or_404(CollectionPoint, point_id)
    size = request.args.get("size", "a4")
    if size not in POSTER_SIZES:
        size = "a4"
    link = collection.public_link(point, current_app.config["BASE_URL"])
    return render_template("workspace/collection_point_poster.html", point=point, tenant=current_tenant(),
                           link=link, size=size, sizes=POSTER_SIZES,
                           qr=Markup(collection.svg_markup(link)))  # segno's own markup, no user input


# --- consent texts ---

def _consent_page(status: int = 200, error: str | None = None, form=None):
    texts = db.session.scalars(select(ConsentText).order_by(ConsentText.language, ConsentText.version.desc())).all()
    by_language = {lang: [t for t in texts if t.language == lang] for lang in qn.LANGUAGES}
    return render_template("workspace/settings_consent.html", by_language=by_language, error=error,
                           form=form or {}, can_edit=current_user.can("edit_questionnaires")), status


@bp.route("/settings/consent", methods=["GET", "POST"])
def consent_texts():
    if request.method == "POST":
        if not current_user.can("edit_questionnaires"):
            return render_template("error.html", code=403, title=_("Not allowed"), message=None), 403
        language = _text("language", 8)
        try:
            consent = qn.new_consent_version(language, (request.form.get("text") or "")[:6000])
        except qn.QuestionnaireError:
            db.session.rollback()
            return _consent_page(400, _("Choose Russian or English and write 20 to 5000 characters."), request.form)
        db.session.commit()
        flash(_("Consent text version %(number)s saved. Earlier responses keep the version they accepted.",
                number=consent.version))
        return redirect(url_for("workspace.consent_texts"))
    return _consent_page()


# --- review sites ---

@bp.route("/settings/review-sites", methods=["GET", "POST"])
def review_links():
    tenant = current_tenant()
    links = clinic_settings(tenant).review_links
    if request.method == "POST":
        if not current_user.can("manage_clinic"):
            return render_template("error.html", code=403, title=_("Not allowed"), message=None), 403
        rows = [(request.form.get(f"name_{i}", "")[:200], request.form.get(f"url_{i}", "")[:600])
                for i in range(MAX_LINKS + 2)]
        try:
            save_review_links(tenant, rows)
        except ReviewLinkError as exc:
            submitted = [{"name": n, "url": u} for n, u in rows if n or u]
            return render_template("workspace/settings_review_links.html", links=submitted, error=str(exc),
                                   max_links=MAX_LINKS), 400
        db.session.commit()
        flash(_("Review sites saved. Every patient sees them on the thank-you page."))
        return redirect(url_for("workspace.review_links"))
    return render_template("workspace/settings_review_links.html", links=links, error=None, max_links=MAX_LINKS)
