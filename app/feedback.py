"""Taking a patient's submission: validate, classify, store, and promise the follow-up work.

The response is committed before anything is enqueued; follow-up jobs go through
the outbox so a Redis outage delays them but never loses them.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.cases import open_case_if_at_risk
from app.extensions import db
from app.models import CollectionPoint, ConsentText, Response, ResponseAspect, ResponseRating, Tenant, utcnow
from app.parsing import whole_number
from app.publishing import CURRENT_PUBLISH_WORDING
from app.questionnaires import ParsedAnswers, answered_version, parse_answers
from app.risk import classify_response
from app.security import new_token
from jobs.outbox import defer
from jobs.queues import make_job_id
from tenants.settings import clinic_settings

SUBMISSION_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PHONE_RE = re.compile(r"^\+?[0-9 ()\-]{6,25}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,185}\.[^@\s]{2,}$")
_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class Submission:
    """The outcome of a submission: a stored response, or errors to show next to the fields."""

    response: Response | None = None
    status_token: str | None = None
    errors: dict = field(default_factory=dict)
    duplicate: bool = False
    promised: list = field(default_factory=list)


# Draws of a reference before giving up: even with a hundred million answers stored, a draw is
# taken one time in ten, so five taken in a row means something else is wrong.
REFERENCE_ATTEMPTS = 5


def new_reference() -> str:
    """A reference number a patient can quote on the phone, e.g. VR-7K3QX9."""
    return "VR-" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))


def _contact(form, language: str, errors: dict) -> dict:
    en = language == "en"
    name = (form.get("contact_name") or "").strip()[:200]
    phone = (form.get("contact_phone") or "").strip()[:40]
    email = (form.get("contact_email") or "").strip()[:254]
    if phone and not PHONE_RE.match(phone):
        errors["contact_phone"] = "Enter a phone number, e.g. +7 900 123-45-67." if en else \
            "Введите номер телефона, например +7 900 123-45-67."
    if email and not EMAIL_RE.match(email):
        errors["contact_email"] = "Enter an e-mail address." if en else "Введите адрес e-mail."
    return {"contact_name": name or None, "contact_phone": phone or None, "contact_email": email or None}


def submit_response(point: CollectionPoint, form, language: str) -> Submission:
    """Validate and store one submission for ``point`` in the current clinic.

    A resubmitted form (same submission key) returns the response already stored.
    Contact data is stored only with consent; the red button needs a phone to call back.
    """
    en = language == "en"
    key = form.get("submission_key") or ""
    if not SUBMISSION_KEY_RE.match(key):
        return Submission(errors={"form": "The form is incomplete; please reload the page." if en else
                                  "Форма повреждена; обновите страницу."})
    existing = db.session.scalar(select(Response).where(Response.submission_key == key))
    if existing is not None:
        return Submission(response=existing, duplicate=True)

    version = answered_version(point, form.get("version"))
    if version is None:
        return Submission(errors={"form": "This questionnaire is not available." if en else "Анкета недоступна."})
    parsed: ParsedAnswers = parse_answers(version.questions, form, language)
    errors = dict(parsed.errors)
    contact = _contact(form, language, errors)
    has_contact = any(contact.values())
    urgent = form.get("urgent") == "yes"
    consent = None
    consent_raw = form.get("consent") or ""
    if consent_raw:
        consent_id = whole_number(consent_raw)
        consent = db.session.scalar(select(ConsentText).where(ConsentText.id == consent_id)) \
            if consent_id is not None else None
        if consent is None:
            errors["consent"] = "Please reload the page and agree again." if en else "Обновите страницу и дайте согласие снова."
    if has_contact and consent is None and "consent" not in errors:
        errors["consent"] = ("To leave your contact details, please agree to their processing, or clear them."
                             if en else "Чтобы оставить контакты, дайте согласие на их обработку или сотрите их.")
    if urgent and not contact["contact_phone"]:
        errors["contact_phone"] = ("To be called back, leave a phone number." if en
                                   else "Чтобы вам перезвонили, оставьте номер телефона.")
    if errors:
        return Submission(errors=errors)

    tenant = db.session.get(Tenant, point.tenant_id)
    settings = clinic_settings(tenant)
    verdict = classify_response(parsed.nps, parsed.ratings, urgent, settings)
    response = Response(
        reference=new_reference(), submission_key=key, collection_point_id=point.id,
        questionnaire_version_id=version.id, branch_id=point.branch_id, doctor_id=point.doctor_id,
        submitted_at=utcnow(), language=language, answers=parsed.answers, nps=parsed.nps,
        would_return=parsed.would_return, comment=parsed.comment,
        min_rating=min(parsed.ratings.values()) if parsed.ratings else None,
        risk_level=verdict.level, risk_reasons=list(verdict.reasons), urgent=urgent,
    )
    if form.get("publish_consent") == "yes" and parsed.comment:
        response.publish_consent, response.publish_consent_at = True, utcnow()
        response.publish_consent_version = CURRENT_PUBLISH_WORDING
    if has_contact:
        response.contact_name, response.contact_phone = contact["contact_name"], contact["contact_phone"]
        response.contact_email = contact["contact_email"]
        response.consent_text_id, response.consent_at = consent.id, utcnow()
    status_token = None
    if urgent or has_contact or response.publish_consent:
        # The patient's private link: the red button's progress, and the consents they can take back.
        status_token, response.status_token_hash = new_token()
    response.ratings = [ResponseRating(aspect=a, score=s) for a, s in sorted(parsed.ratings.items())]
    db.session.add(response)
    for _attempt in range(REFERENCE_ATTEMPTS):
        try:
            db.session.flush()
            break
        except IntegrityError:
            db.session.rollback()
            existing = db.session.scalar(select(Response).where(Response.submission_key == key))
            if existing is not None:  # two copies of the same form raced; the first one won
                return Submission(response=existing, duplicate=True)
            # The reference drawn is taken: with a billion of them and millions of answers that
            # happens now and then, and must not cost the patient their answer. Draw another.
            response.reference = new_reference()
            db.session.add(response)
    else:
        raise RuntimeError("no free response reference after several draws")
    # A critical alert must find its case already open.
    open_case_if_at_risk(response, settings)
    # Counting the completion is left to the follow-up job: it keeps the point's row off the hot path.
    # The reference is in the job ids as well: a database migrated before responses stopped reusing
    # ids on SQLite may still hold jobs named after an answer a patient has since deleted.
    promised = [defer("default", "jobs.feedback.response_received", response.id,
                      job_id=make_job_id(point.tenant_id, "response", response.id, response.reference))]
    if verdict.level == "critical":
        promised.append(defer("alerts", "jobs.alerts.alert_critical_response", response.id, response.reference,
                              job_id=make_job_id(point.tenant_id, "alert", response.id, response.reference)))
    return Submission(response=response, status_token=status_token, promised=promised)


def store_topics(response: Response, topics: dict[str, float]) -> None:
    """Keep a comment's aspects (``app.nlp.topics.tag_aspects``) on the response and as rows.

    Replaces what an earlier run of the same job stored, so scoring a response twice keeps one
    row per aspect. The session flushes them with the response; the caller commits.
    """
    response.topics = topics
    if response.id is not None:
        db.session.execute(delete(ResponseAspect).where(ResponseAspect.response_id == response.id))
    db.session.add_all(ResponseAspect(response=response, aspect=aspect, polarity=float(polarity),
                                      submitted_at=response.submitted_at)
                       for aspect, polarity in topics.items())
