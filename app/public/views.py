"""What patients see: the questionnaire, the thank-you page and the red button's status page."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms.validators import ValidationError
from sqlalchemy import select, text

from app import feedback, privacy
from app.collection import count_scan
from app.extensions import csrf, db
from app.live import announce_change
from app.models import Response
from app.publishing import publish_consent_wording
from app.questionnaires import answered_version, current_consent, label, published_version
from app.ratelimit import hit
from app.security import token_hash
from jobs.outbox import enqueue_promised
from tenants.resolve import enter_clinic_by_point, enter_clinic_by_status_token
from tenants.settings import clinic_settings

bp = Blueprint("public", __name__)

# A whole clinic may share one Wi-Fi address: per-client limits are generous, per-point ones more so.
CLIENT_LIMIT, POINT_LIMIT, WINDOW = 30, 2000, 600
MAX_FORM_FIELDS = 200


@bp.get("/")
def index():
    return redirect(url_for("auth.login"))


@bp.get("/healthz")
def health():
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


def patient_language(tenant) -> str:
    """?lang= (remembered), else the browser's choice, else the clinic's language."""
    chosen = request.args.get("lang")
    if chosen in current_app.config["LANGUAGES"]:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in current_app.config["LANGUAGES"]:
        return session["lang"]
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or tenant.language


def _render_form(point, language, *, values=None, errors=None, status=200, notice=None, preview=False):
    # A form shown again (an error, an expired session) keeps the version the patient was answering.
    version = answered_version(point, (values or {}).get("version")) if values else \
        published_version(point.questionnaire_id)
    if version is None:
        abort(404)
    tenant = _tenant()
    return render_template(
        "public/questionnaire.html", point=point, tenant=tenant, questions=version.questions, language=language,
        label=label, values=values or {}, errors=errors or {}, consent=current_consent(language),
        submission_key=(values or {}).get("submission_key") or secrets.token_urlsafe(18), notice=notice,
        preview=preview, csrf_token_value=generate_csrf(), version_id=version.id,
        publish_wording=publish_consent_wording(language),
    ), status


def _form_values():
    values = {k: request.form.get(k, "")[:2500] for k in list(request.form.keys())[:MAX_FORM_FIELDS]}
    for key in request.form.keys():
        if len(request.form.getlist(key)) > 1:
            values[key] = request.form.getlist(key)[:50]
    return values


@bp.route("/q/<token>", methods=["GET", "POST"])
@csrf.exempt  # checked below, so an expired token re-shows the form with everything kept
def questionnaire(token: str):
    point = enter_clinic_by_point(token)
    tenant = _tenant()
    language = patient_language(tenant)
    if request.method == "GET":
        seen = set(session.get("scanned", []))
        if point.id not in seen:
            if count_scan(tenant.id, point.id):
                db.session.commit()
            session["scanned"] = sorted(seen | {point.id})[-50:]
        return _render_form(point, language)

    values = _form_values()
    en = language == "en"
    if len(request.form) > MAX_FORM_FIELDS:
        abort(413)
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return _render_form(point, language, values=values, status=400, notice=(
            "Your session expired. Everything you entered is kept: please press Send again." if en else
            "Сессия истекла. Всё, что вы ввели, сохранено: нажмите «Отправить» ещё раз."))
    if request.form.get("website"):
        # The honeypot field is invisible to people; only bots fill it.
        return redirect(url_for("public.thanks", token=token))
    client = request.remote_addr or "unknown"
    # Deployments (and the benchmark, whose clients all share 127.0.0.1) may raise the limits in config.
    client_limit = current_app.config.get("PUBLIC_FORM_CLIENT_LIMIT") or CLIENT_LIMIT
    point_limit = current_app.config.get("PUBLIC_FORM_POINT_LIMIT") or POINT_LIMIT
    if not hit(f"point:{point.id}:client:{client}", client_limit, WINDOW) or \
            not hit(f"point:{point.id}", point_limit, WINDOW):
        return _render_form(point, language, values=values, status=429, notice=(
            "Too many submissions from this network. Please wait a few minutes and press Send again; "
            "your answers are kept." if en else
            "Слишком много отправок из этой сети. Подождите несколько минут и нажмите «Отправить» снова; "
            "ваши ответы сохранены."))
    result = feedback.submit_response(point, request.form, language)
    if result.errors:
        db.session.rollback()
        return _render_form(point, language, values=values, errors=result.errors, status=422)
    # Read before the commit, which expires loaded rows: reading them after costs a query each.
    tenant_id, reference = tenant.id, result.response.reference
    db.session.commit()
    if not result.duplicate:
        enqueue_promised(result.promised)
        announce_change(tenant_id)  # open journals show it within a second
    receipts = dict(session.get("receipts", {}))
    if result.status_token:
        receipts[reference] = result.status_token
        session["receipts"] = dict(list(receipts.items())[-5:])
    return redirect(url_for("public.thanks", token=token, ref=reference))


def _tenant():
    from tenants.resolve import current_tenant

    return current_tenant()


@bp.get("/q/<token>/thanks")
def thanks(token: str):
    point = enter_clinic_by_point(token)
    tenant = _tenant()
    language = patient_language(tenant)
    reference = request.args.get("ref", "")[:16]
    status_token = session.get("receipts", {}).get(reference)
    urgent = status_token and db.session.scalar(select(Response.urgent).where(
        Response.status_token_hash == token_hash(status_token)))
    return render_template("public/thanks.html", tenant=tenant, point=point, language=language,
                           reference=reference if status_token else None, urgent=bool(urgent),
                           status_url=url_for("public.status", token=status_token, _external=True)
                           if status_token else None,
                           review_links=clinic_settings(tenant).review_links)


def _own_response(token: str):
    """The response behind a patient's private link, its clinic entered; 404 for anything else."""
    if len(token) > 64:
        abort(404)
    return enter_clinic_by_status_token(token_hash(token))


@bp.get("/s/<token>")
def status(token: str):
    response = _own_response(token)
    return _render_status(response, token)


def _render_status(response, token: str, *, notice: str | None = None, http_status: int = 200):
    from app.journal_status import patient_facing_status

    tenant = _tenant()
    age = datetime.now(timezone.utc) - response.submitted_at
    return render_template("public/status.html", tenant=tenant, response=response, language=patient_language(tenant),
                           token=token, state=patient_facing_status(response) if response.urgent else None,
                           contacts=privacy.masked_contacts(response), notice=notice,
                           withdrawn=request.args.get("done") == "withdrawn",
                           given_on=_local_day(response.consent_at or response.publish_consent_at or response.submitted_at, tenant),
                           withdrawn_on=_local_day(response.consent_withdrawn_at, tenant),
                           hours_ago=int(age.total_seconds() // 3600),
                           minutes_ago=int(age.total_seconds() // 60)), http_status


def _local_day(moment, tenant) -> str | None:
    return moment.astimezone(ZoneInfo(tenant.timezone)).strftime("%d.%m.%Y") if moment else None


def _confirmed(response, token: str):
    """None when the patient ticked the box; otherwise the page again, saying why nothing happened."""
    if request.form.get("confirm") == "yes":
        return None
    en = patient_language(_tenant()) == "en"
    return _render_status(response, token, http_status=400, notice=(
        "Nothing was changed: tick the box to confirm." if en else
        "Ничего не изменено: отметьте галочку, чтобы подтвердить."))


@bp.post("/s/<token>/withdraw")
def withdraw(token: str):
    response = _own_response(token)
    refused = _confirmed(response, token)
    if refused:
        return refused
    privacy.withdraw_consent(response, datetime.now(timezone.utc))
    tenant_id = response.tenant_id
    db.session.commit()
    announce_change(tenant_id)
    return redirect(url_for("public.status", token=token, done="withdrawn"))


@bp.post("/s/<token>/delete")
def delete(token: str):
    response = _own_response(token)
    refused = _confirmed(response, token)
    if refused:
        return refused
    tenant = _tenant()
    reference = privacy.delete_at_patients_request(response)
    db.session.commit()
    announce_change(tenant.id)
    session["receipts"] = {ref: value for ref, value in session.get("receipts", {}).items() if ref != reference}
    return render_template("public/deleted.html", tenant=tenant, language=patient_language(tenant),
                           reference=reference)
