"""A patient's data on request: find their responses, export them, delete them.

A patient is found by the phone, e-mail or response reference they give; the
export holds what they told the clinic and what became of it (case status and
resolution), not staff's internal notes. Deletion is a hard delete of the
responses with their ratings, cases and case history; the access log keeps only
that it happened, by whom, and the references — no contact data.

Contact details are also kept only as long as the clinic's retention period: a nightly
job erases them from older responses, from the case notes staff wrote about them, and
phone numbers or e-mails a patient typed into a comment (``erase_expired_contacts``).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import selectinload

from app.audit import log_access
from app.extensions import db
from app.models import OPEN_CASE_STATUSES, Case, CaseEvent, MailOutbox, Response, Tenant
from app.spreadsheet import safe_cell

MAX_MATCHES = 500
EXPORT_FIELDS = ("reference", "submitted_at", "language", "collection_point", "branch", "doctor", "nps",
                 "would_return", "ratings", "comment", "answers", "contact_name", "contact_phone", "contact_email",
                 "consent_at", "consent_withdrawn_at", "publish_consent", "publish_consent_at",
                 "publish_consent_text", "urgent", "case_status", "case_resolution",
                 "case_resolved_at")


class PatientQueryError(ValueError):
    """The patient could not be looked up with what was given."""


@dataclass(frozen=True)
class PatientQuery:
    kind: str  # phone | email | reference
    value: str


def parse_patient_query(args) -> PatientQuery | None:
    """The one identifier given (phone, e-mail or reference); None when the form is empty."""
    given = {k: (args.get(k) or "").strip() for k in ("phone", "email", "reference")}
    given = {k: v for k, v in given.items() if v}
    if not given:
        return None
    if len(given) > 1:
        raise PatientQueryError(_l("Give one of phone, e-mail or reference."))
    kind, value = next(iter(given.items()))
    if len(value) > 254:
        raise PatientQueryError(_l("That is too long."))
    if kind == "phone":
        digits = re.sub(r"\D", "", value)
        if not 6 <= len(digits) <= 20:
            raise PatientQueryError(_l("A phone number has 6 to 20 digits."))
        return PatientQuery(kind, digits)
    if kind == "email":
        if "@" not in value:
            raise PatientQueryError(_l("That is not an e-mail address."))
        return PatientQuery(kind, value.lower())
    return PatientQuery(kind, value.upper())


def _digits(column):
    # Phones are stored as typed ("+7 900 123-45-67"); compare digits only.
    for char in (" ", "-", "(", ")", "+", "."):
        column = func.replace(column, char, "")
    return column


def find_patient_responses(query: PatientQuery) -> list[Response]:
    """The current clinic's responses matching the patient's identifier, newest first."""
    statement = select(Response)
    if query.kind == "phone":
        digits = _digits(Response.contact_phone)
        if len(query.value) >= 10:
            # The last 10 digits decide, so "+7 900…" and "8 900…" find the same patient.
            matches = digits.like("%" + query.value[-10:])
        else:
            # Fewer digits are a whole short number, not the end of any longer one: "123-45-67"
            # must not find, export and delete every patient whose number ends that way.
            matches = digits == query.value
        statement = statement.where(Response.contact_phone.is_not(None), matches)
    elif query.kind == "email":
        statement = statement.where(func.lower(Response.contact_email) == query.value)
    else:
        statement = statement.where(Response.reference == query.value)
    statement = statement.options(selectinload(Response.ratings), selectinload(Response.collection_point),
                                  selectinload(Response.branch), selectinload(Response.doctor))
    return list(db.session.scalars(statement.order_by(Response.submitted_at.desc()).limit(MAX_MATCHES)))


def export_record(response: Response) -> dict:
    """One response as the patient's export shows it."""
    from app.publishing import publish_consent_wording  # app.publishing masks with this module

    case = response.case
    return {
        "reference": response.reference,
        "submitted_at": response.submitted_at.isoformat(),
        "language": response.language,
        "collection_point": response.collection_point.name if response.collection_point else None,
        "branch": response.branch.name if response.branch else None,
        "doctor": response.doctor.full_name if response.doctor else None,
        "nps": response.nps,
        "would_return": response.would_return,
        "ratings": {r.aspect: r.score for r in response.ratings},
        "comment": response.comment,
        "answers": response.answers,
        "contact_name": response.contact_name,
        "contact_phone": response.contact_phone,
        "contact_email": response.contact_email,
        "consent_at": response.consent_at.isoformat() if response.consent_at else None,
        "consent_withdrawn_at": response.consent_withdrawn_at.isoformat() if response.consent_withdrawn_at else None,
        "publish_consent": response.publish_consent,
        "publish_consent_at": response.publish_consent_at.isoformat() if response.publish_consent_at else None,
        # The words agreed to, so the export shows what the consent covered (it stays after a withdrawal).
        "publish_consent_text": publish_consent_wording(response.language, response.publish_consent_version)
        if response.publish_consent_version else None,
        "urgent": response.urgent,
        "case_status": case.status if case else None,
        "case_resolution": case.resolution if case else None,
        "case_resolved_at": case.resolved_at.isoformat() if case and case.resolved_at else None,
    }


def export_json(responses: list[Response]) -> str:
    """The patient's responses as a JSON document."""
    return json.dumps({"responses": [export_record(r) for r in responses]}, ensure_ascii=False, indent=2)


def export_csv(responses: list[Response]) -> str:
    """The patient's responses as CSV, one row per response (nested fields as JSON)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for response in responses:
        record = export_record(response)
        for key in ("ratings", "answers"):
            record[key] = json.dumps(record[key], ensure_ascii=False)
        writer.writerow({key: safe_cell(value) for key, value in record.items()})
    return out.getvalue()


def delete_responses(responses: list[Response]) -> list[str]:
    """Hard-delete the responses with their ratings, cases, history and publication; returns their references.

    The clinic's copies of e-mails that quoted the patient's contact details lose them, and the
    months the responses belonged to are marked for the metrics to be computed again.
    """
    from app.analytics.refresh import mark_dirty

    references = [r.reference for r in responses]
    tenant = db.session.get(Tenant, responses[0].tenant_id) if responses else None
    months = {r.submitted_at for r in responses}
    for response in responses:
        _erase_from_mail(response)
        db.session.delete(response)
    db.session.flush()
    for instant in months:
        mark_dirty(tenant, instant)
    return references


# --------------------------------------------------------------------------- the patient's own link

def withdraw_consent(response: Response, now: datetime) -> bool:
    """The patient takes back every consent given with ``response``; False if already done.

    Their name, phone and e-mail go, here and wherever they were copied: the comment, the
    case's notes, contact log and resolution, the clinic's copies of alerts and digests. The
    comment comes off the public widget. The answers stay, anonymous, and so does the record
    of the consent once given (its text version and time), which shows the earlier processing
    was lawful. An open case is told that the patient can no longer be called back. Caller commits.
    """
    from app.cases import record_consent_withdrawn
    from app.publishing import unpublish

    if response.consent_withdrawn_at is not None:
        return False
    _erase_from_mail(response)
    _mask_contacts_in_texts([SimpleNamespace(id=response.id, contact_name=response.contact_name,
                                             comment=response.comment, answers=response.answers)])
    db.session.refresh(response)  # the masking above wrote with UPDATE statements
    had_contact = response.has_contact
    response.contact_name = response.contact_phone = response.contact_email = None
    response.publish_consent = False
    unpublish(response)
    response.consent_withdrawn_at = now
    if response.case is not None:
        record_consent_withdrawn(response.case, now)
    log_access(None, "withdraw_consent", "response", response.id,
               {"by": "patient", "references": [response.reference], "contacts": had_contact})
    return True


def delete_at_patients_request(response: Response) -> str:
    """The patient deletes their response for good through their private link; returns its reference."""
    (reference,) = delete_responses([response])
    log_access(None, "delete", "patient_request", reference, {"by": "patient", "references": [reference]})
    return reference


def masked_contacts(response: Response) -> dict[str, str]:
    """What the patient's link shows of their contact details: enough to recognise, not to read off."""
    shown = {}
    if response.contact_name:
        shown["name"] = response.contact_name.strip()[:1] + "***"
    if response.contact_phone:
        digits = re.sub(r"\D", "", response.contact_phone)
        shown["phone"] = "*** " + digits[-2:]
    if response.contact_email:
        local, _, domain = response.contact_email.partition("@")
        shown["email"] = f"{local[:1]}***@{domain}"
    return shown


def _erase_from_mail(response: Response) -> None:
    """Take the response's contact details out of every copy of e-mail the clinic keeps.

    Alerts name the response; digests quote several, so every body holding one of the exact
    values (as typed, or as HTML shows it) loses it, and nothing else is changed.
    """
    values = [v for v in (response.contact_phone, response.contact_email, response.contact_name) if v and len(v) >= 3]
    if not values:
        return
    variants = sorted({form for value in values for form in (value, escape(value))}, key=len, reverse=True)
    holds = or_(*(column.contains(value) for value in variants
                  for column in (MailOutbox.text_body, MailOutbox.html_body)))
    for mail in db.session.execute(select(MailOutbox.id, MailOutbox.text_body, MailOutbox.html_body)
                                   .where(holds)).all():
        text, html = mail.text_body, mail.html_body
        for value in variants:
            text, html = text.replace(value, MASK), html.replace(value, MASK)
        db.session.execute(update(MailOutbox).where(MailOutbox.id == mail.id).values(text_body=text, html_body=html))


# --------------------------------------------------------------------------- retention

RETENTION_BATCH = 1000
# A sent (or given-up) e-mail keeps its body this long, for "what did the digest say?"; then only
# its envelope (recipient, subject, when) stays.
MAIL_BODY_DAYS = 30


def erase_expired_contacts(months: int, now: datetime) -> list[str]:
    """Erase the contact details of the current clinic's responses older than ``months``.

    A response whose case is still open keeps them: someone may still need to call back.
    Copies go too: phone numbers and e-mails in the comment, and the name, phone and e-mail
    in the case's notes, contact log and resolution. Responses without contact fields are
    looked at as well, for a number a patient typed into the comment without consenting.
    The answers, ratings, the rest of the comment and the record of consent stay. Each
    response is handled once (``retention_applied_at``); the erasure is written to the access
    log with the references. Returns the references whose contacts were erased.
    """
    cutoff = now - timedelta(days=round(months * 365.25 / 12))
    open_case = select(Case.id).where(Case.response_id == Response.id, Case.status.in_(OPEN_CASE_STATUSES))
    erased: list[str] = []
    while True:
        rows = db.session.execute(select(Response.id, Response.reference, Response.contact_name,
                                         Response.contact_phone, Response.contact_email, Response.comment,
                                         Response.answers)
                                  .where(Response.submitted_at < cutoff, Response.retention_applied_at.is_(None),
                                         ~open_case.exists())
                                  .order_by(Response.submitted_at, Response.id).limit(RETENTION_BATCH)).all()
        if not rows:
            break
        db.session.execute(update(Response).where(Response.id.in_([row.id for row in rows]))
                           .values(contact_name=None, contact_phone=None, contact_email=None,
                                   retention_applied_at=now))
        masked = _mask_contacts_in_texts(rows)
        erased.extend(row.reference for row in rows
                      if row.contact_name or row.contact_phone or row.contact_email or row.id in masked)
    if erased:
        log_access(None, "erase_contacts", "retention", months,
                   {"count": len(erased), "references": erased[:100]})
    return erased


# Seven or more digits, possibly split by spaces, dashes, dots or brackets: a phone number, not a date or a price.
# The digits are taken whole (an atomic group): "1 250 000 руб" is a price, and must not become
# a phone by giving back its last digits to escape the currency after it.
_PHONE_RE = re.compile(r"(?>\+?\(?\d(?:[\s().\-]{0,3}\d){6,})")
_CURRENCY_AFTER = re.compile(r"\s*(?:руб|р\.|р\b|₽|rub|usd|eur|\$|€)", re.IGNORECASE)
_LAST_GROUP = re.compile(r"[\s().\-]+\d+$")


def _mask_phone(found: re.Match) -> str:
    if not _CURRENCY_AFTER.match(found.string, found.end()):
        return MASK
    # A price. Its digits before the last group are a phone when there are seven of them or more:
    # "8 900 123-45-67 500 руб" is a number and then a price ("1 250 000 руб" keeps only four).
    number = found[0]
    last = _LAST_GROUP.search(number)
    if last is None or sum(c.isdigit() for c in number[:last.start()]) < 7:
        return number
    return MASK + number[last.start():]
# "12.03.2024", "12/03/24", "2024-03-12": a date in a note is not a phone number ("12-03-24" may be one).
# Bounded by non-digits, not word edges: "12.03.2024г." and "2024-03-12T10:00" are dates too.
_DATE_RE = re.compile(r"(?<!\d)(?:\d{1,2}([./])\d{1,2}\1\d{2,4}|\d{4}([-./])\d{1,2}\2\d{1,2})(?!\d)")
_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
MASK = "***"


def _name_pattern(name: str | None) -> re.Pattern | None:
    """Each part of the name with any case ending: "Анна Петрова" also finds "Анне", "Петровой"."""
    parts = [part for part in re.findall(r"\w+", name or "") if len(part) >= 3 and not part.isdigit()]
    if not parts:
        return None
    stems = sorted({re.escape(part[:-1] if len(part) > 3 else part) for part in parts}, key=len, reverse=True)
    return re.compile(r"\b(?:%s)\w{0,3}\b" % "|".join(stems), re.IGNORECASE)


def mask_contact_details(text: str, name: str | None = None) -> str:
    """``text`` with phone numbers, e-mail addresses and the parts of ``name`` replaced by ***."""
    if not text:
        return text
    text = _EMAIL_RE.sub(MASK, text)
    dates: list[str] = []

    def set_aside(found: re.Match) -> str:
        dates.append(found[0])
        return f"\x00{len(dates) - 1}\x00"

    # Dates are set aside first so that "… 100-00-01 12.03.2024" does not read as one long number.
    text = _PHONE_RE.sub(_mask_phone, _DATE_RE.sub(set_aside, text))
    text = re.sub(r"\x00(\d+)\x00", lambda found: dates[int(found[1])], text)
    pattern = _name_pattern(name)
    return pattern.sub(MASK, text) if pattern else text


def _mask_contacts_in_texts(rows) -> set[int]:
    """Erase the patient's contacts where people copied them: the comment, case notes and contact log.

    Staff write "called Anna on +7 900 …" into a case; the history of who did what and when stays,
    the number and the name go. The comment loses phone numbers and e-mails only: a name in it is
    more often the doctor's. Returns the ids of the responses where something was masked.
    """
    by_id = {row.id: row for row in rows}
    changed: set[int] = set()
    for row in rows:
        values = {}
        masked = mask_contact_details(row.comment or "")
        if masked != (row.comment or ""):
            values["comment"] = masked
        # The answers keep each text question's own copy of what the comment joins together.
        answers = _masked_answers(row.answers)
        if answers is not None:
            values["answers"] = answers
        if values:
            db.session.execute(update(Response).where(Response.id == row.id).values(**values))
            changed.add(row.id)
    cases = db.session.execute(select(Case.id, Case.response_id, Case.resolution)
                               .where(Case.response_id.in_(by_id))).all()
    response_of_case = {case.id: by_id[case.response_id] for case in cases}
    for case in cases:
        masked = mask_contact_details(case.resolution, by_id[case.response_id].contact_name)
        if masked != case.resolution:
            db.session.execute(update(Case).where(Case.id == case.id).values(resolution=masked))
            changed.add(case.response_id)
    if not cases:
        return changed
    events = db.session.execute(select(CaseEvent.id, CaseEvent.case_id, CaseEvent.text)
                                .where(CaseEvent.case_id.in_(response_of_case), CaseEvent.text != "")).all()
    for event in events:
        masked = mask_contact_details(event.text, response_of_case[event.case_id].contact_name)
        if masked != event.text:
            db.session.execute(update(CaseEvent).where(CaseEvent.id == event.id).values(text=masked))
            changed.add(response_of_case[event.case_id].id)
    return changed


def _masked_answers(answers) -> dict | None:
    """The answers with phone numbers and e-mails masked in their texts; None when nothing changed."""
    if not isinstance(answers, dict):
        return None
    masked = {key: mask_contact_details(value) if isinstance(value, str) else value for key, value in answers.items()}
    return masked if masked != answers else None


def forget_old_mail_bodies(now: datetime, days: int = MAIL_BODY_DAYS) -> int:
    """Blank the bodies of the current clinic's e-mails sent or given up more than ``days`` ago.

    Digests and alerts quote comments, and to managers contact details; once delivered, the
    copy in the outbox is only a second place they are kept. Returns how many were blanked.
    """
    cutoff = now - timedelta(days=days)
    done = or_(and_(MailOutbox.status == "sent", MailOutbox.sent_at < cutoff),
               and_(MailOutbox.status == "failed", MailOutbox.created_at < cutoff))
    ids = db.session.scalars(select(MailOutbox.id).where(done, or_(MailOutbox.text_body != "",
                                                                     MailOutbox.html_body != ""))).all()
    for start in range(0, len(ids), RETENTION_BATCH):
        db.session.execute(update(MailOutbox).where(MailOutbox.id.in_(ids[start:start + RETENTION_BATCH]))
                           .values(text_body="", html_body=""))
    return len(ids)
