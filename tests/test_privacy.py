"""Privacy: the access log page, and a patient's data found, exported and deleted on request."""
from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from app.extensions import db
from app.models import AccessLog, Case, CaseEvent, Response, ResponseRating
from tenants.context import tenant_scope
from tests.conftest import add_member, form_token, login
from tests.factories import make_response


def _setup(app, tenant, other_tenant):
    mine = [make_response(app, tenant.id, nps=2, risk_level="critical", contact_phone="+7 900 123-45-67",
                          comment="=cmd|calc", open_case=True, ratings={"doctor": 1}),
            make_response(app, tenant.id, nps=8, contact_phone="8 (900) 123 45 67", comment="Better now")]
    make_response(app, tenant.id, nps=9, contact_phone="+7 900 765-43-21", comment="Someone else")
    make_response(app, other_tenant.id, nps=5, contact_phone="+7 900 123-45-67", comment="Other clinic")
    return mine


def _post(client, tenant, path, **data):
    """Patient data requests are POSTed: a phone in the address would stay in history and logs."""
    token = form_token(client.get(tenant.url("privacy")).get_data(as_text=True))
    return client.post(tenant.url(path), data={"csrf_token": token, **data})


def test_find_and_export_a_patients_responses(app, tenant, other_tenant, manager_client):
    mine = _setup(app, tenant, other_tenant)
    page = _post(manager_client, tenant, "privacy", phone="+79001234567")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Better now" in html and "Someone else" not in html and "Other clinic" not in html
    assert 'method="post"' in html and "79001234567" not in manager_client.get(tenant.url("privacy")).get_data(as_text=True)
    exported = _post(manager_client, tenant, "privacy/export", phone="+79001234567", format="json")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    data = exported.json["responses"]
    assert {r["comment"] for r in data} == {"=cmd|calc", "Better now"}
    assert next(r for r in data if r["nps"] == 2)["case_status"] == "new"
    as_csv = _post(manager_client, tenant, "privacy/export", phone="79001234567", format="csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert len(rows) == 2 and "'=cmd|calc" in {r["comment"] for r in rows}  # no spreadsheet formulas
    with app.app_context(), tenant_scope(tenant.id):
        actions = [e.action for e in db.session.scalars(select(AccessLog).order_by(AccessLog.id))]
        assert actions == ["view_contacts", "export", "export"]
        assert set(mine) == set(db.session.scalars(select(Response.id).where(Response.contact_phone.like("%123%45%67"))))


def test_delete_a_patients_responses_for_good(app, tenant, other_tenant, manager_client):
    mine = _setup(app, tenant, other_tenant)
    token = form_token(_post(manager_client, tenant, "privacy", phone="79001234567").get_data(as_text=True))
    refused = manager_client.post(tenant.url("privacy/delete"), data={"csrf_token": token, "phone": "79001234567"})
    assert refused.status_code == 400
    done = manager_client.post(tenant.url("privacy/delete"), data={"csrf_token": token, "phone": "79001234567",
                                                                   "confirm": "yes"})
    assert done.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count(Response.id)).where(Response.id.in_(mine))) == 0
        assert db.session.scalar(select(func.count(ResponseRating.id)).where(ResponseRating.response_id.in_(mine))) == 0
        assert db.session.scalar(select(func.count(Case.id))) == 0
        assert db.session.scalar(select(func.count(CaseEvent.id))) == 0
        assert db.session.scalar(select(func.count(Response.id))) == 1  # the other patient stays
        log = db.session.scalars(select(AccessLog).where(AccessLog.action == "delete")).one()
        assert log.details["count"] == 2 and "123" not in str(log.details)
    with app.app_context(), tenant_scope(other_tenant.id):
        assert db.session.scalar(select(func.count(Response.id))) == 1


def test_bad_patient_queries_are_400(tenant, manager_client):
    assert _post(manager_client, tenant, "privacy", phone="12").status_code == 400
    assert _post(manager_client, tenant, "privacy", phone="79001234567", email="a@b.c").status_code == 400
    assert _post(manager_client, tenant, "privacy/export", email="a@b.c", format="xml").status_code == 400
    assert _post(manager_client, tenant, "privacy/export").status_code == 400
    assert manager_client.get(tenant.url("privacy")).status_code == 200
    assert manager_client.get(tenant.url("privacy/export?phone=79001234567")).status_code == 405


def test_access_log_is_for_owners_only(app, tenant, manager_client):
    response_id = make_response(app, tenant.id, contact_phone="+7 900 000-11-22")
    manager = app.test_client()
    login(manager, add_member(app, tenant, "manager@alpha.test", "manager"))
    assert manager.get(tenant.url(f"journal/{response_id}/contact")).status_code == 200
    assert manager.get(tenant.url("settings/access-log")).status_code == 403
    viewer = app.test_client()
    login(viewer, add_member(app, tenant, "viewer@alpha.test", "viewer"))
    assert viewer.get(tenant.url("privacy")).status_code == 403
    page = manager_client.get(tenant.url("settings/access-log"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "viewed contact data" in html and "Manager" in html
    assert "000-11-22" not in html
    assert manager_client.get(tenant.url("settings/access-log?before=x")).status_code == 400


def test_access_log_masks_secret_links_and_query_strings(tmp_path):
    """gunicorn's own access-log machinery, with our logger class: no token or search text gets written."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from app.access_log import RedactingLogger

    log_file = tmp_path / "access.log"
    config = Config()
    config.set("accesslog", str(log_file))
    logger = RedactingLogger(config)
    secrets = {"/s/StatusTok3n": "/s/…", "/c/alpha/invite/Inv1teTok": "/c/alpha/invite/…",
               "/password/reset/Res3tTok": "/password/reset/…", "/live/T1cket.sig": "/live/…"}
    for path, masked in secrets.items():
        environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"{path}?q=Ivanova+phone", "PATH_INFO": path,
                   "QUERY_STRING": "q=Ivanova+phone", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1",
                   "HTTP_REFERER": f"https://vernost.example{path}", "HTTP_USER_AGENT": "test"}
        request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
        logger.access(SimpleNamespace(status="200 OK", sent=12, headers=[]), request, environ,
                      timedelta(milliseconds=3))
        line = log_file.read_text().splitlines()[-1]
        assert f"GET {masked}?… HTTP/1.1" in line and f"https://vernost.example{masked}" in line, line
        assert path.rsplit("/", 1)[1] not in line and "Ivanova" not in line
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/q/poster1", "PATH_INFO": "/q/poster1", "QUERY_STRING": "",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1"}
    logger.access(SimpleNamespace(status="200 OK", sent=1, headers=[]), SimpleNamespace(headers=[]), environ,
                  timedelta(milliseconds=1))
    assert "GET /q/poster1 HTTP/1.1" in log_file.read_text().splitlines()[-1]  # a poster's code is public


def test_database_errors_and_logs_carry_no_values(app, tenant):
    """A failed statement is reported with its SQL but without the values (a phone, a comment)."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from app.models import Branch

    with app.app_context(), tenant_scope(tenant.id):
        db.session.add_all([Branch(name="+7 900 111-22-33"), Branch(name="+7 900 111-22-33")])
        with pytest.raises(IntegrityError) as failure:
            db.session.flush()
        db.session.rollback()
    assert "branches" in str(failure.value) and "111-22-33" not in str(failure.value)


def test_contact_details_are_erased_after_the_retention_period(app, tenant, other_tenant, manager_client):
    from datetime import timedelta

    from app.models import Tenant, utcnow
    from jobs.privacy import nightly_retention
    from jobs.worker import InlineAppWorker, build_worker
    from tenants.settings import update_settings

    long_ago = utcnow() - timedelta(days=400)
    old = make_response(app, tenant.id, submitted_at=long_ago, contact_phone="+7 900 100-00-01", comment="Old")
    old_open = make_response(app, tenant.id, submitted_at=long_ago, contact_phone="+7 900 100-00-02",
                             risk_level="critical", open_case=True)
    recent = make_response(app, tenant.id, submitted_at=utcnow() - timedelta(days=20), contact_phone="+7 900 100-00-03")
    elsewhere = make_response(app, other_tenant.id, submitted_at=long_ago, contact_phone="+7 900 100-00-04")
    with app.app_context():
        with tenant_scope(tenant.id):
            update_settings(db.session.get(Tenant, tenant.id), contact_retention_months=12)
            db.session.commit()
        assert nightly_retention() == 2  # one job per clinic
    build_worker(app, ["default"], worker_class=InlineAppWorker).work(burst=True)

    with app.app_context(), tenant_scope(tenant.id):
        phones = {r.id: r.contact_phone for r in db.session.scalars(select(Response))}
        kept = db.session.get(Response, old)
        assert kept.comment == "Old" and kept.consent_at is not None  # the answer and the consent record stay
        entry = db.session.scalar(select(AccessLog).where(AccessLog.action == "erase_contacts"))
        assert entry.user_id is None and entry.details["count"] == 1
        assert entry.details["references"] == [kept.reference] and "100-00" not in str(entry.details)
    assert phones == {old: None, old_open: "+7 900 100-00-02", recent: "+7 900 100-00-03"}
    with app.app_context(), tenant_scope(other_tenant.id):
        # The other clinic keeps the default of 24 months: its 400-day-old contact stays.
        assert db.session.get(Response, elsewhere).contact_phone == "+7 900 100-00-04"
    log_page = manager_client.get(tenant.url("settings/access-log")).get_data(as_text=True)
    assert "Vernost, automatically" in log_page and "erased contact details" in log_page
    assert "older than the retention period of 12 months" in log_page


def test_retention_period_is_a_clinic_setting(app, tenant, manager_client):
    from app.models import Tenant
    from tenants.settings import clinic_settings

    page = manager_client.get(tenant.url("settings/clinic")).get_data(as_text=True)
    assert 'name="contact_retention_months" type="number" value="24"' in page
    form = {"csrf_token": form_token(page), "name": "Clinic alpha", "timezone": "Europe/Moscow", "language": "ru",
            "nps_risk_max": "6", "aspect_risk_max": "2", "critical_case_hours": "12", "min_sample": "30",
            "lost_after_months": "12"}
    for bad in ("0", "121", "²", ""):
        refused = manager_client.post(tenant.url("settings/clinic"), data=form | {"contact_retention_months": bad})
        assert refused.status_code == 400 and "a whole number from 1 to 120" in refused.get_data(as_text=True)
    saved = manager_client.post(tenant.url("settings/clinic"), data=form | {"contact_retention_months": "6"})
    assert saved.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        assert clinic_settings(db.session.get(Tenant, tenant.id)).contact_retention_months == 6


def test_sent_mail_keeps_its_body_for_30_days(app, tenant, other_tenant):
    from datetime import timedelta

    from app.models import MailOutbox, utcnow
    from jobs.privacy import apply_retention

    now = utcnow()
    rows = {"sent_long_ago": ("sent", now - timedelta(days=40)), "sent_lately": ("sent", now - timedelta(days=5)),
            "failed_long_ago": ("failed", now - timedelta(days=40)), "pending": ("pending", now - timedelta(days=40))}

    def add_mail(clinic_id, key, status, when):
        with app.app_context(), tenant_scope(clinic_id):
            db.session.add(MailOutbox(kind="digest", dedupe_key=key, recipient="m@clinic.test", subject="Digest",
                                      text_body="Call +7 900 555-00-11", html_body="<p>Call</p>", status=status,
                                      message_id=f"<{clinic_id}.{key}@vernost>", created_at=when,
                                      sent_at=when if status == "sent" else None))
            db.session.commit()

    for key, (status, when) in rows.items():
        add_mail(tenant.id, key, status, when)
    add_mail(other_tenant.id, "sent_long_ago", "sent", now - timedelta(days=40))
    with app.app_context():
        assert apply_retention(tenant.id) == {"contacts": 0, "mail_bodies": 2}
    with app.app_context(), tenant_scope(tenant.id):
        bodies = {m.dedupe_key: (m.subject, m.text_body, m.html_body) for m in db.session.scalars(select(MailOutbox))}
    assert bodies == {"sent_long_ago": ("Digest", "", ""), "failed_long_ago": ("Digest", "", ""),
                      "sent_lately": ("Digest", "Call +7 900 555-00-11", "<p>Call</p>"),
                      "pending": ("Digest", "Call +7 900 555-00-11", "<p>Call</p>")}
    with app.app_context(), tenant_scope(other_tenant.id):
        assert db.session.scalar(select(MailOutbox.text_body)) == "Call +7 900 555-00-11"  # its own job, its own night


def test_retention_also_erases_contacts_copied_into_case_notes_and_the_comment(app, tenant, other_tenant):
    from datetime import timedelta

    from app.cases import add_note, log_contact, open_case, resolve_case
    from app.models import Case, CaseEvent, Tenant, utcnow
    from jobs.privacy import apply_retention
    from tenants.settings import clinic_settings

    long_ago = utcnow() - timedelta(days=800)
    note = "Позвонила Анне Петровой на +7 900 100-00-07 12.03.2024, просила писать на anna.p@mail.test"

    def handled_case(clinic_id, name, phone, comment, submitted_at):
        response_id = make_response(app, clinic_id, submitted_at=submitted_at, contact_phone=phone, comment=comment,
                                    nps=3, risk_level="at_risk")
        with app.app_context(), tenant_scope(clinic_id):
            response = db.session.get(Response, response_id)
            response.contact_name = name
            response.answers = {"nps": 3, "comment": comment}
            case = open_case(response, clinic_settings(db.session.get(Tenant, clinic_id)), now=submitted_at)
            add_note(case, note, None, now=submitted_at)
            log_contact(case, "reached", "Анна довольна, ждёт звонка на 8 (900) 100-00-07", None, now=submitted_at)
            resolve_case(case, "Перезвонили Петровой, вопрос решён", None, now=submitted_at)
            db.session.commit()
        return response_id

    old = handled_case(tenant.id, "Анна Петрова", "+7 900 100-00-07", "Звоните мне: 89001000007. Врач Смирнова хорошая",
                       long_ago)
    recent = handled_case(tenant.id, "Анна Петрова", "+7 900 100-00-07", "Звоните: 89001000007", utcnow())
    elsewhere = handled_case(other_tenant.id, "Анна Петрова", "+7 900 100-00-07", "Звоните: 89001000007", long_ago)
    with app.app_context():
        assert apply_retention(tenant.id)["contacts"] == 1

    def texts(clinic_id, response_id):
        with app.app_context(), tenant_scope(clinic_id):
            response = db.session.get(Response, response_id)
            case = db.session.scalar(select(Case).where(Case.response_id == response_id))
            events = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                        .order_by(CaseEvent.id)).all()
            return (response.comment, case.resolution, [(e.kind, e.text) for e in events if e.text],
                    [e.kind for e in events])

    comment, resolution, notes, kinds = texts(tenant.id, old)
    assert comment == "Звоните мне: ***. Врач Смирнова хорошая"  # the doctor's name is the feedback
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Response, old).answers == {"nps": 3, "comment": comment}  # the answers' copy too
    assert resolution == "Перезвонили ***, вопрос решён"
    assert notes == [("note", "Позвонила *** *** на *** 12.03.2024, просила писать на ***"),
                     ("contact", "*** довольна, ждёт звонка на ***"),
                     ("resolution", "Перезвонили ***, вопрос решён")]
    assert kinds.count("status") >= 1 and "created" in kinds  # the history of who did what stays
    assert texts(tenant.id, recent)[0] == "Звоните: 89001000007"
    assert texts(tenant.id, recent)[2][0] == ("note", note)
    assert texts(other_tenant.id, elsewhere)[2][0] == ("note", note)  # another clinic, its own period


def test_retention_reaches_numbers_typed_into_comments_without_consent_once(app, tenant, other_tenant,
                                                                           manager_client):
    from datetime import timedelta

    from app.cases import add_note, resolve_case
    from app.models import Tenant, utcnow
    from jobs.privacy import apply_retention
    from tenants.settings import clinic_settings

    long_ago = utcnow() - timedelta(days=800)
    typed = "Перезвоните 8 900 100-00-09 или pishite@mail.test, приём был 12.03.2024"
    no_consent = make_response(app, tenant.id, submitted_at=long_ago, comment=typed)
    plain = make_response(app, tenant.id, submitted_at=long_ago, comment="Ждали 40 минут, цена 3500")
    still_open = make_response(app, tenant.id, submitted_at=long_ago, comment=typed, risk_level="critical",
                               open_case=True)
    consented = make_response(app, tenant.id, submitted_at=long_ago, contact_phone="+7 900 100-00-08")
    elsewhere = make_response(app, other_tenant.id, submitted_at=long_ago, comment=typed)
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.scalar(select(Case).where(Case.response_id == still_open))
        add_note(case, "Номер из комментария: 8 900 100-00-09", None, now=long_ago)
        db.session.commit()
    with app.app_context():
        first = apply_retention(tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        comments = {r.id: r.comment for r in db.session.scalars(select(Response))}
        handled = {r.id: r.retention_applied_at is not None for r in db.session.scalars(select(Response))}
        references = {r.id: r.reference for r in db.session.scalars(select(Response))}
        entry = db.session.scalar(select(AccessLog).where(AccessLog.action == "erase_contacts"))
    assert first["contacts"] == 2  # the typed number and the consented contact; the plain comment had none
    assert sorted(entry.details["references"]) == sorted([references[no_consent], references[consented]])
    assert comments[no_consent] == "Перезвоните *** или ***, приём был 12.03.2024"
    assert comments[plain] == "Ждали 40 минут, цена 3500"
    assert comments[still_open] == typed  # a manager may still be calling back
    assert handled == {no_consent: True, plain: True, still_open: False, consented: True}
    with app.app_context(), tenant_scope(other_tenant.id):
        assert db.session.get(Response, elsewhere).comment == typed

    with app.app_context():
        assert apply_retention(tenant.id)["contacts"] == 0  # each response is handled once
    with app.app_context(), tenant_scope(tenant.id):
        resolve_case(db.session.scalar(select(Case).where(Case.response_id == still_open)), "Перезвонили", None)
        db.session.commit()
    with app.app_context():
        assert apply_retention(tenant.id)["contacts"] == 1  # once its case is closed
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Response, still_open).comment == "Перезвоните *** или ***, приём был 12.03.2024"
        case = db.session.scalar(select(Case).where(Case.response_id == still_open))
        notes = db.session.scalars(select(CaseEvent.text).where(CaseEvent.case_id == case.id,
                                                                CaseEvent.kind == "note")).all()
        assert notes == ["Номер из комментария: ***"]
        assert clinic_settings(db.session.get(Tenant, tenant.id)).contact_retention_months == 24

    page = manager_client.get(tenant.url(f"journal/{consented}")).get_data(as_text=True)
    assert "Contact details were erased on" in page and "100-00-08" not in page


def test_masking_contact_details_keeps_dates_and_prices():
    from app.privacy import mask_contact_details

    assert mask_contact_details("Called John on (020) 7946 0958; visit 2024-03-12 at 10:30, paid 15 000",
                                "John Smith") == "Called *** on ***; visit 2024-03-12 at 10:30, paid 15 000"
    assert mask_contact_details("+7 900 12-03-24, 12/03/24, чек 3500 руб.") == "***, 12/03/24, чек 3500 руб."
    assert mask_contact_details("") == "" and mask_contact_details("Ни слова о контактах", "Ян") == \
        "Ни слова о контактах"
    # Dates run into letters and times, dotted ISO dates, and prices of seven digits stay as they are.
    for kept in ("Перезвонили 12.03.2024г.", "приём 2024-03-12T10:00", "2024.03.12", "стоимость 1 250 000 руб",
                 "paid 1250000₽", "итого 2 500 000 р."):
        assert mask_contact_details(kept) == kept, kept
    assert mask_contact_details("Звоните 8 (900) 123 45 67 после 12.03.2024г.") == "Звоните *** после 12.03.2024г."
    # A number written straight before a price is still a number; the price stays.
    assert mask_contact_details("Звоните 8 900 123-45-67 500 руб за приём") == "Звоните *** 500 руб за приём"
    assert mask_contact_details("89001234567 3500₽") == "*** 3500₽"
    assert mask_contact_details("+7 (900) 123-45-67 1 500 р.") == "*** 500 р."  # the number goes first


def test_a_short_number_finds_only_that_number_not_every_number_ending_in_it(app, tenant, other_tenant,
                                                                              manager_client):
    _setup(app, tenant, other_tenant)
    make_response(app, tenant.id, nps=7, contact_phone="123-45-67", comment="A city number")
    found = _post(manager_client, tenant, "privacy", phone="123-45-67").get_data(as_text=True)
    assert "A city number" in found and "Better now" not in found
    assert _post(manager_client, tenant, "privacy/delete", phone="123 45 67", confirm="yes").status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        left = set(db.session.scalars(select(Response.comment)))
    assert "A city number" not in left and {"Better now", "=cmd|calc", "Someone else"} <= left
