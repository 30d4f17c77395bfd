"""A patient's own link: taking back their consents, or deleting their feedback, without asking anyone.

The link is shown on the thank-you page whenever the patient gave a consent (contact details,
publishing) or pressed the red button. What it does reaches every copy of the contact details
(the comment, the case's notes, the clinic's e-mails), records who did it in the access log,
and never touches another clinic.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AccessLog, Case, CaseEvent, DirtyPeriod, MailOutbox, PublishedReview, Response
from tenants.context import tenant_scope
from tests.digest_helpers import run_worker
from tests.feedback_helpers import point_token, submit
from tests.smtp_sink import parts, smtp_sink  # noqa: F401  (fixture)

PHONE = "+7 900 123-45-67"


def _consent_id(client, token, lang="ru"):
    return re.search(r'name="consent" value="(\d+)"', client.get(f"/q/{token}?lang={lang}").get_data(as_text=True))[1]


def _submit_with_link(client, token, answers, lang="ru"):
    """Submit like a patient; returns (reference, the private link's path) from the thank-you page."""
    posted = submit(client, token, answers, lang=lang)
    assert posted.status_code == 302, posted.get_data(as_text=True)[:500]
    thanks = client.get(posted.headers["Location"]).get_data(as_text=True)
    reference = re.search(r'id="reference">([^<]+)<', thanks)
    link = re.search(r'id="status-link" href="https?://[^/]+(/s/[^"]+)"', thanks)
    return (reference[1] if reference else None), (link[1] if link else None), thanks


def _csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def _stored(app, clinic_id, reference):
    with app.app_context(), tenant_scope(clinic_id):
        response = db.session.scalar(select(Response).where(Response.reference == reference))
        if response is None:
            return None
        case = db.session.scalar(select(Case).where(Case.response_id == response.id))
        events = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
                                    ).all() if case else []
        return {"response": response, "case": case, "events": [(e.kind, e.text) for e in events]}


def _counts(app, clinic_id):
    with app.app_context(), tenant_scope(clinic_id):
        return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Response, Case, CaseEvent, MailOutbox, AccessLog, PublishedReview)}


def test_only_a_patient_who_gave_something_gets_a_link(app, tenant, client):
    token = point_token(app, tenant.id)
    reference, link, thanks = _submit_with_link(client, token, {"q_nps": "9", "q_comment": "Всё хорошо"})
    assert (reference, link) == (None, None) and "Спасибо" in thanks
    reference, link, thanks = _submit_with_link(client, token, {"q_nps": "10", "q_comment": "Отличный врач",
                                                                "publish_consent": "yes"})
    assert reference and link and "Отозвать согласие или удалить отзыв" in thanks
    page = client.get(link).get_data(as_text=True)
    assert "для публикации на её странице без имени" in page and "Отозвать согласие" in page
    assert "Обращение" not in page  # not an urgent request: no progress steps


def test_withdrawing_consent_erases_every_copy_of_the_contact_details(app, tenant, other_tenant, client,
                                                                      manager_client, smtp_sink):
    token = point_token(app, tenant.id)
    # The same patient in another clinic: nothing done here may reach it.
    other_token = point_token(app, other_tenant.id)
    other_ref, other_link, _ = _submit_with_link(
        app.test_client(), other_token, {"q_nps": "2", "urgent": "yes", "contact_name": "Анна Петрова",
                                         "contact_phone": PHONE, "consent": _consent_id(app.test_client(), other_token),
                                         "q_comment": "Звоните 89001234567"})

    reference, link, thanks = _submit_with_link(client, token, {
        "q_nps": "2", "urgent": "yes", "contact_name": "Анна Петрова", "contact_phone": PHONE,
        "contact_email": "anna.p@mail.test", "consent": _consent_id(client, token),
        "q_comment": "Нахамили в регистратуре. Звоните 89001234567"}, lang="en")
    assert "Your urgent request number" in thanks and "withdraw your consent" in thanks
    run_worker(app)  # the red button's alert goes out and its copy stays in the outbox
    [alert] = smtp_sink.to(tenant.owner_email)
    assert PHONE in parts(alert)[0]
    before = _stored(app, tenant.id, reference)
    with app.app_context(), tenant_scope(tenant.id):
        from app.cases import add_note

        case = db.session.get(Case, before["case"].id)
        add_note(case, "Позвонила Анне Петровой на +7 900 123-45-67, просила писать на anna.p@mail.test", None)
        db.session.commit()
    before_elsewhere = _counts(app, other_tenant.id)

    page = client.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'aria-current="step">Received' in html  # the red button's progress
    assert "А***" in html and "*** 67" in html and "a***@mail.test" in html
    assert PHONE not in html and "Анна Петрова" not in html  # the link shows enough to recognise, not to read off
    assert "will no longer be able to call you back" in html

    # Without the box ticked nothing changes, and the page says so.
    refused = client.post(f"{link}/withdraw", data={"csrf_token": _csrf(html)})
    assert refused.status_code == 400 and "tick the box" in refused.get_data(as_text=True)
    assert _stored(app, tenant.id, reference)["response"].contact_phone == PHONE

    done = client.post(f"{link}/withdraw", data={"csrf_token": _csrf(html), "confirm": "yes"})
    assert done.status_code == 302
    after_page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Your consent is withdrawn" in after_page and "You withdrew your consent on" in after_page

    after = _stored(app, tenant.id, reference)
    response = after["response"]
    assert (response.contact_name, response.contact_phone, response.contact_email) == (None, None, None)
    assert response.consent_withdrawn_at is not None
    assert response.consent_at == before["response"].consent_at  # the record of the consent once given stays
    assert response.comment == "Нахамили в регистратуре. Звоните ***"
    assert response.answers["comment"] == "Нахамили в регистратуре. Звоните ***"  # its copy among the answers
    assert response.nps == 2 and response.urgent  # the answers stay, anonymous
    notes = dict(after["events"])
    assert notes["note"] == "Позвонила *** *** на ***, просила писать на ***"
    assert after["events"][-1] == ("withdrawn", "")
    with app.app_context(), tenant_scope(tenant.id):
        bodies = db.session.execute(select(MailOutbox.text_body, MailOutbox.html_body)).all()
        entry = db.session.scalar(select(AccessLog).where(AccessLog.action == "withdraw_consent"))
    assert bodies and all(PHONE not in text + html and "anna.p@mail.test" not in text + html for text, html in bodies)
    assert entry.user_id is None and entry.details["by"] == "patient" and entry.details["references"] == [reference]
    # A second withdrawal is a no-op, not an error.
    assert client.post(f"{link}/withdraw", data={"csrf_token": _csrf(after_page), "confirm": "yes"}).status_code == 302

    # The workspace tells staff not to call; the case and the access log say who did it.
    detail = manager_client.get(tenant.url(f"journal/{response.id}")).get_data(as_text=True)
    assert "withdrew their consent" in detail and PHONE not in detail
    case_page = manager_client.get(tenant.url(f"cases/{after['case'].id}")).get_data(as_text=True)
    assert "do not contact them" in case_page
    log_page = manager_client.get(tenant.url("settings/access-log")).get_data(as_text=True)
    assert "the patient, through their own link" in log_page and "withdrew their consent" in log_page

    # The other clinic's copy of the same patient is untouched.
    assert _counts(app, other_tenant.id) == before_elsewhere
    elsewhere = _stored(app, other_tenant.id, other_ref)["response"]
    assert elsewhere.contact_phone == PHONE and elsewhere.comment == "Звоните 89001234567"
    assert elsewhere.consent_withdrawn_at is None
    with app.app_context(), tenant_scope(other_tenant.id):
        assert all(PHONE in text for text in db.session.scalars(select(MailOutbox.text_body)))


def test_withdrawing_takes_a_comment_off_the_widget(app, tenant, client, manager_client):
    token = point_token(app, tenant.id)
    reference, link, _ = _submit_with_link(client, token, {"q_nps": "10", "q_comment": "Лучшая клиника города",
                                                            "publish_consent": "yes"})
    response_id = _stored(app, tenant.id, reference)["response"].id
    page = manager_client.get(tenant.url(f"journal/{response_id}")).get_data(as_text=True)
    assert manager_client.post(tenant.url(f"journal/{response_id}/publish"),
                               data={"csrf_token": _csrf(page), "publish": "yes"}).status_code in (200, 302)
    assert "Лучшая клиника города" in client.get(f"/w/{tenant.slug}/reviews").get_data(as_text=True)
    html = client.get(link).get_data(as_text=True)
    assert client.post(f"{link}/withdraw", data={"csrf_token": _csrf(html), "confirm": "yes"}).status_code == 302
    assert "Лучшая клиника города" not in client.get(f"/w/{tenant.slug}/reviews").get_data(as_text=True)
    stored = _stored(app, tenant.id, reference)["response"]
    assert stored.publish_consent is False and stored.comment == "Лучшая клиника города"


def test_deleting_removes_the_feedback_for_good(app, tenant, other_tenant, client, manager_client):
    token = point_token(app, tenant.id)
    other_ref, _, _ = _submit_with_link(app.test_client(), point_token(app, other_tenant.id),
                                        {"q_nps": "1", "contact_phone": PHONE,
                                         "consent": _consent_id(app.test_client(), point_token(app, other_tenant.id))})
    before_elsewhere = _counts(app, other_tenant.id)
    reference, link, _ = _submit_with_link(client, token, {
        "q_nps": "1", "contact_phone": PHONE, "consent": _consent_id(client, token), "q_comment": "Ужасно"})
    stored = _stored(app, tenant.id, reference)
    assert stored["case"] is not None  # an at-risk answer opened a case
    with app.app_context(), tenant_scope(tenant.id):
        db.session.execute(DirtyPeriod.__table__.delete())
        db.session.commit()

    html = client.get(link).get_data(as_text=True)
    refused = client.post(f"{link}/delete", data={"csrf_token": _csrf(html)})
    assert refused.status_code == 400 and _stored(app, tenant.id, reference) is not None
    deleted = client.post(f"{link}/delete", data={"csrf_token": _csrf(html), "confirm": "yes"})
    assert deleted.status_code == 200 and reference in deleted.get_data(as_text=True)
    assert "?lang=" not in deleted.get_data(as_text=True)  # nothing left to switch the language of

    assert _stored(app, tenant.id, reference) is None
    assert client.get(link).status_code == 404
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0
        entry = db.session.scalar(select(AccessLog).where(AccessLog.subject_type == "patient_request"))
        dirty = set(db.session.scalars(select(DirtyPeriod.period)))
    assert entry.subject_id == reference and entry.user_id is None and entry.details["by"] == "patient"
    assert len(dirty) == 3  # its month, quarter and year are computed again
    log_page = manager_client.get(tenant.url("settings/access-log")).get_data(as_text=True)
    assert f"response {reference}" in log_page
    assert _counts(app, other_tenant.id) == before_elsewhere
    assert _stored(app, other_tenant.id, other_ref)["response"].contact_phone == PHONE
    # The next patient's answer is stored, though SQLite hands it the deleted answer's id.
    next_ref, _, _ = _submit_with_link(app.test_client(), token, {"q_nps": "3", "publish_consent": "yes",
                                                                  "q_comment": "Долго ждали"})
    assert _stored(app, tenant.id, next_ref)["response"].comment == "Долго ждали"


def test_a_link_opens_only_its_own_response(app, tenant, client):
    token = point_token(app, tenant.id)
    _, link, _ = _submit_with_link(client, token, {"q_nps": "8", "publish_consent": "yes", "q_comment": "Хорошо"})
    html = client.get(link).get_data(as_text=True)
    for path in ("/s/" + "x" * 43, "/s/" + "x" * 70, link[:-1] + ("A" if link[-1] != "A" else "B")):
        assert client.get(path).status_code == 404
        assert client.post(f"{path}/delete", data={"csrf_token": _csrf(html), "confirm": "yes"}).status_code == 404
    # Without the form's token nothing happens either.
    assert app.test_client().post(f"{link}/delete", data={"confirm": "yes"}).status_code == 400
    assert client.get(link).status_code == 200


def test_the_widget_never_shows_contact_details_written_into_a_published_comment(app, tenant, client, manager_client):
    token = point_token(app, tenant.id)
    comment = "Отлично! Иван, +7 900 111-22-33, ivan@mail.ru, приём 12.05 за 1500 ₽"
    reference, _, _ = _submit_with_link(client, token, {"q_nps": "10", "q_comment": comment,
                                                         "publish_consent": "yes"})
    response_id = _stored(app, tenant.id, reference)["response"].id
    page = manager_client.get(tenant.url(f"journal/{response_id}")).get_data(as_text=True)
    manager_client.post(tenant.url(f"journal/{response_id}/publish"), data={"csrf_token": _csrf(page), "publish": "yes"})
    widget = client.get(f"/w/{tenant.slug}/reviews").get_data(as_text=True)
    assert "Отлично!" in widget and "12.05" in widget and "1500" in widget
    assert "111-22-33" not in widget and "ivan@mail.ru" not in widget


def test_an_alert_promised_for_a_deleted_answer_is_not_sent_about_the_next_patient(app, tenant):
    """On SQLite the next answer may get a deleted answer's id: the alert job checks the reference."""
    from jobs.alerts import alert_critical_response
    from tests.digest_helpers import add_response

    calm = add_response(app, tenant.id, submitted_at=datetime.now(timezone.utc), risk="ok", nps=9,
                        phone="+79005550000")
    with app.app_context():
        with tenant_scope(tenant.id):
            reference = db.session.get(Response, calm).reference
        assert alert_critical_response(tenant.id, calm, "VR-SOMEONE-ELSE") == 0
        assert alert_critical_response(tenant.id, calm, reference) == 0  # the same answer, but not critical
    assert _counts(app, tenant.id)["MailOutbox"] == 0
    critical = add_response(app, tenant.id, submitted_at=datetime.now(timezone.utc), risk="critical", nps=0)
    with app.app_context():
        with tenant_scope(tenant.id):
            reference = db.session.get(Response, critical).reference
        assert alert_critical_response(tenant.id, critical, reference) >= 1


def _database_down(*args, **kwargs):
    from sqlalchemy.exc import OperationalError

    raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))


def _a_bug(*args, **kwargs):
    raise RuntimeError("a bug")


@pytest.mark.parametrize("failure, status, line", [
    (_database_down, 503, "database unavailable on GET /s/…: ConnectionError"),
    (_a_bug, 500, "Exception on /s/… [GET]"),
])
def test_a_failure_on_the_private_link_logs_the_path_without_its_secret(app, tenant, client, caplog, monkeypatch,
                                                                        failure, status, line):
    import app.public.views as public_views

    token = point_token(app, tenant.id)
    _, link, _ = _submit_with_link(client, token, {"q_nps": "3", "q_comment": "Долго ждал", "publish_consent": "yes"})
    secret = link.rsplit("/", 1)[1]
    monkeypatch.setattr(public_views, "_own_response", failure)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # as in production: logged, then an error page
    answered = client.get(link)
    assert answered.status_code == status and secret not in answered.get_data(as_text=True)
    logged = [record.getMessage() for record in caplog.records]
    assert line in logged and all(secret not in message for message in logged)


def test_publishing_consent_is_kept_with_its_time_and_the_words_agreed_to(app, tenant, client, manager_client):
    from app.publishing import CURRENT_PUBLISH_WORDING, PUBLISH_CONSENT_WORDINGS

    token = point_token(app, tenant.id)
    wording = PUBLISH_CONSENT_WORDINGS[CURRENT_PUBLISH_WORDING]["en"]
    form = client.get(f"/q/{token}?lang=en").get_data(as_text=True)
    assert f"> {wording}</label>" in form
    before = datetime.now(timezone.utc)
    reference, link, _ = _submit_with_link(client, token, {"q_nps": "10", "q_comment": "Kind and quick",
                                                           "publish_consent": "yes"}, lang="en")
    # Ticked without a comment: there is nothing to publish, so nothing is consented to.
    bare_ref, _, _ = _submit_with_link(app.test_client(), token, {"q_nps": "9", "publish_consent": "yes",
                                                                  "contact_email": "p@example.org",
                                                                  "consent": _consent_id(client, token)})
    stored, bare = _stored(app, tenant.id, reference)["response"], _stored(app, tenant.id, bare_ref)["response"]
    assert stored.publish_consent and stored.publish_consent_version == CURRENT_PUBLISH_WORDING
    assert before <= stored.publish_consent_at <= datetime.now(timezone.utc)
    assert (bare.publish_consent, bare.publish_consent_at, bare.publish_consent_version) == (False, None, None)

    page = manager_client.get(tenant.url(f"journal/{stored.id}")).get_data(as_text=True)
    assert f"“{wording}”" in page and 'id="publish-consent"' in page
    exported = _post_export(manager_client, tenant, reference)
    assert exported["publish_consent"] is True and exported["publish_consent_text"] == wording
    assert exported["publish_consent_at"].startswith(str(stored.publish_consent_at.date()))

    # Withdrawn through the private link: publishing stops, the record of what was agreed stays.
    page = client.get(link).get_data(as_text=True)
    client.post(link.rstrip("/") + "/withdraw", data={"csrf_token": _csrf(page), "confirm": "yes"})
    exported = _post_export(manager_client, tenant, reference)
    assert exported["publish_consent"] is False and exported["consent_withdrawn_at"]
    assert exported["publish_consent_text"] == wording


def _post_export(client, tenant, reference):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(tenant.url("privacy")).get_data(as_text=True))[1]
    exported = client.post(tenant.url("privacy/export"), data={"csrf_token": token, "reference": reference,
                                                               "format": "json"})
    assert exported.status_code == 200
    (record,) = exported.json["responses"]
    return record
