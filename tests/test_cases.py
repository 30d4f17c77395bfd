"""Cases: automatic opening, lifecycle with history, deadlines and overdue in the clinic's time zone, roles."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app import cases as case_rules
from app.extensions import db
from app.journal_status import patient_facing_status
from app.models import Case, CaseEvent, Response, Tenant, User, utcnow
from tenants.context import tenant_scope
from tenants.settings import ClinicSettings, clinic_settings, update_settings
from tests.conftest import add_member, form_token, login, make_clinic
from tests.factories import make_case, make_response
from tests.feedback_helpers import point_token, submit


def test_critical_and_at_risk_submissions_open_a_case_at_once(app, tenant, client):
    token = point_token(app, tenant.id)
    submit(client, token, {"q_nps": "10"}, lang="en")
    submit(app.test_client(), token, {"q_nps": "3"}, lang="en")
    submit(app.test_client(), token, {"q_nps": "8", "urgent": "yes", "contact_phone": "+7 900 123-45-67",
                                      "consent": "1"}, lang="en")
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.session.scalars(select(Response).order_by(Response.id)).all()
        assert [r.risk_level for r in rows] == ["ok", "at_risk", "critical"]
        assert rows[0].case is None
        at_risk, critical = rows[1].case, rows[2].case
        assert at_risk.status == critical.status == "new" and critical.origin == "auto"
        assert critical.deadline_at == critical.created_at + timedelta(hours=12)
        assert at_risk.deadline_at == at_risk.created_at + timedelta(hours=72)
        assert [e.kind for e in critical.events] == ["created"]


def test_deadlines_follow_clinic_settings():
    opened = datetime(2026, 5, 1, 9, tzinfo=timezone.utc)
    settings = ClinicSettings(critical_case_hours=4, at_risk_case_hours=24)
    assert case_rules.case_deadline("critical", opened, settings) == opened + timedelta(hours=4)
    assert case_rules.case_deadline("at_risk", opened, settings) == opened + timedelta(hours=24)
    assert case_rules.case_deadline("ok", opened, settings) == opened + timedelta(hours=24)
    assert case_rules.case_deadline("critical", opened, ClinicSettings(critical_case_hours=0)) is None


def test_deadline_across_a_clock_change_is_twelve_real_hours():
    # Berlin springs forward at 02:00 on 29 March 2026: 12 elapsed hours from 20:00 end at 09:00 local, not 08:00.
    berlin = ZoneInfo("Europe/Berlin")
    opened = datetime(2026, 3, 28, 20, 0, tzinfo=berlin).astimezone(timezone.utc)
    deadline = case_rules.case_deadline("critical", opened, ClinicSettings())
    local = case_rules.local_time(deadline, "Europe/Berlin")
    assert (local.hour, local.minute, local.day) == (9, 0, 29)
    assert deadline - opened == timedelta(hours=12)


def test_overdue_only_while_open_and_past_the_deadline(app, tenant):
    case_id = make_case(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.get(Case, case_id)
        assert not case_rules.is_overdue(case, case.created_at + timedelta(hours=11, minutes=59))
        assert case_rules.is_overdue(case, case.created_at + timedelta(hours=12, seconds=1))
        case_rules.resolve_case(case, "Apologised and rebooked", None)
        assert not case_rules.is_overdue(case, case.created_at + timedelta(days=3))
        assert not case_rules.is_overdue(None)


def test_overdue_is_shown_in_journal_case_list_and_case_page(app, tenant, manager_client):
    long_ago = utcnow() - timedelta(hours=13)
    response_id = make_response(app, tenant.id, nps=1, risk_level="critical", submitted_at=long_ago, open_case=True,
                                contact_phone="+7 900 000-00-01")
    fresh_id = make_response(app, tenant.id, nps=1, risk_level="critical", open_case=True,
                             contact_phone="+7 900 000-00-02")
    with app.app_context(), tenant_scope(tenant.id):
        case_id = db.session.get(Response, response_id).case.id
    journal = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    entry = journal[journal.index(f'id="r-{response_id}"'):]
    assert 'badge overdue' in entry[:entry.index("</article>")]
    fresh = journal[journal.index(f'id="r-{fresh_id}"'):]
    assert 'badge overdue' not in fresh[:fresh.index("</article>")]
    overdue_list = manager_client.get(tenant.url("cases?view=overdue")).get_data(as_text=True)
    assert f'id="case-{case_id}"' in overdue_list and "Overdue (1)" in overdue_list
    assert 'badge overdue' in manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    overdue_journal = manager_client.get(tenant.url("journal?case=overdue")).get_data(as_text=True)
    assert f'id="r-{response_id}"' in overdue_journal and f'id="r-{fresh_id}"' not in overdue_journal


def test_deadline_is_shown_in_the_clinic_time_zone(app):
    clinic = make_clinic(app, "vladivostok", timezone="Asia/Vladivostok")
    opened = datetime(2026, 6, 1, 0, 0, tzinfo=timezone.utc)  # 10:00 in Vladivostok
    make_response(app, clinic.id, nps=1, risk_level="critical", submitted_at=opened, open_case=True)
    c = app.test_client()
    login(c, clinic.owner_email)
    with app.app_context(), tenant_scope(clinic.id):
        case_id = db.session.scalar(select(Case.id))
    html = c.get(clinic.url(f"cases/{case_id}")).get_data(as_text=True)
    # 12 hours after 10:00 local is 22:00 local, written the day-first, 24-hour way in English too.
    assert "01/06/2026, 22:00" in html and "PM" not in html and "Asia/Vladivostok" in html


def test_case_lifecycle_with_history_and_patient_status(app, tenant, manager_client):
    colleague = add_member(app, tenant, "colleague@alpha.test", "manager")
    case_id = make_case(app, tenant.id)
    page = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    token = form_token(page)
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.get(Case, case_id)
        assert case.response.seen_at is not None
        assert patient_facing_status(case.response).step == "seen"
        colleague_id = db.session.scalar(select(User.id).where(User.email == colleague))

    def post(action, **data):
        return manager_client.post(tenant.url(f"cases/{case_id}/{action}"), data={"csrf_token": token, **data})

    assert post("assign", assignee=str(colleague_id)).status_code == 302
    assert post("status", status="in_progress").status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        assert patient_facing_status(db.session.get(Case, case_id).response).step == "in_progress"
    assert post("contact", outcome="no_answer", text="Called at 10:05").status_code == 302
    assert post("status", status="waiting").status_code == 302
    assert post("note", text="Patient prefers evening calls").status_code == 302
    assert post("resolve", resolution="").status_code == 400
    assert post("resolve", resolution="Apologised; free follow-up visit").status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.get(Case, case_id)
        assert case.status == "resolved" and case.resolved_at is not None
        assert case.assignee_user_id == colleague_id
        status = patient_facing_status(case.response)
        assert status.step == "resolved" and status.resolved_at == case.resolved_at
        events = [(e.kind, e.old_value, e.new_value) for e in case.events]
        assert events[0][0] == "created" and ("seen", "", "") in events
        assert ("status", "new", "in_progress") in events and ("status", "waiting", "resolved") in events
        assert ("contact", "", "no_answer") in events and [e.text for e in case.events if e.kind == "note"] == [
            "Patient prefers evening calls"]
        owner_id = db.session.scalar(select(User.id).where(User.email == tenant.owner_email))
        assert all(e.user_id == owner_id for e in case.events if e.kind != "created")
    page = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    assert "called, no answer" in page and "Patient prefers evening calls" in page
    # A resolved case's resolution can be corrected: it stays resolved, from the same moment.
    assert ">Save the resolution<" in page and ">Resolve<" not in page
    assert '<option value="in_progress" selected>' in page  # reopening takes the case up again
    with app.app_context(), tenant_scope(tenant.id):
        resolved_at = db.session.get(Case, case_id).resolved_at
    assert post("resolve", resolution="Apologised; free follow-up visit on 3 March").status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.get(Case, case_id)
        assert (case.status, case.resolved_at) == ("resolved", resolved_at)
        assert [e.text for e in case.events if e.kind == "resolution"][-1].endswith("on 3 March")
    assert post("status", status="in_progress").status_code == 302  # reopening clears the resolution time
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Case, case_id).resolved_at is None


def test_a_form_drawn_before_a_colleague_resolved_the_case_does_not_reopen_it(app, tenant, manager_client):
    colleague = add_member(app, tenant, "colleague@alpha.test", "manager")
    case_id = make_case(app, tenant.id)
    mine = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)  # drawn while "new"
    theirs = app.test_client()
    login(theirs, colleague)
    their_page = theirs.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    assert 'name="expected_status" value="new"' in their_page
    resolved = theirs.post(tenant.url(f"cases/{case_id}/resolve"), data={
        "csrf_token": form_token(their_page), "expected_status": "new", "resolution": "Called back; sorted"})
    assert resolved.status_code == 302

    stale = manager_client.post(tenant.url(f"cases/{case_id}/status"), data={
        "csrf_token": form_token(mine), "expected_status": "new", "status": "in_progress"})
    assert stale.status_code == 409 and "Someone changed this case" in stale.get_data(as_text=True)
    assert "Called back; sorted" in stale.get_data(as_text=True)  # the page shows the case as it is now
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.get(Case, case_id)
        assert (case.status, case.resolution) == ("resolved", "Called back; sorted") and case.resolved_at
        assert [(e.kind, e.old_value, e.new_value) for e in case.events if e.kind == "status"] == \
            [("status", "new", "resolved")]
    # Reopening on purpose, from the page showing it resolved, still works.
    fresh = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    assert ">Reopen<" in fresh
    reopened = manager_client.post(tenant.url(f"cases/{case_id}/status"), data={
        "csrf_token": form_token(fresh), "expected_status": "resolved", "status": "in_progress"})
    assert reopened.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.get(Case, case_id)
        assert case.status == "in_progress" and case.resolved_at is None


@pytest.mark.parametrize("action, data", [
    ("status", {"status": "resolved"}), ("status", {"status": "closed"}), ("assign", {"assignee": "999999"}),
    ("assign", {"assignee": "abc"}), ("contact", {"outcome": "telepathy"}), ("note", {"text": "  "}),
])
def test_bad_case_changes_are_refused_with_400(app, tenant, manager_client, action, data):
    case_id = make_case(app, tenant.id)
    token = form_token(manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True))
    response = manager_client.post(tenant.url(f"cases/{case_id}/{action}"), data={"csrf_token": token, **data})
    assert response.status_code == 400


def test_a_member_of_another_clinic_cannot_be_assigned(app, tenant, other_tenant, manager_client):
    case_id = make_case(app, tenant.id)
    with app.app_context():
        stranger = db.session.scalar(select(User.id).where(User.email == other_tenant.owner_email))
    token = form_token(manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True))
    response = manager_client.post(tenant.url(f"cases/{case_id}/assign"), data={"csrf_token": token,
                                                                                "assignee": str(stranger)})
    assert response.status_code == 400


def test_a_manager_takes_a_case_in_one_click(app, tenant, manager_client):
    case_id = make_case(app, tenant.id)
    page = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    assert 'name="take" value="1"' in page
    # "Take it" wins over whatever the list shows: the case becomes the member's own.
    taken = manager_client.post(tenant.url(f"cases/{case_id}/assign"),
                                data={"csrf_token": form_token(page), "assignee": "", "take": "1"})
    assert taken.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        owner = db.session.scalar(select(User.id).where(User.email == tenant.owner_email))
        assert db.session.get(Case, case_id).assignee_user_id == owner
    page = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    assert 'name="take" value="1"' not in page  # already theirs
    assert manager_client.get(tenant.url("cases?view=mine")).get_data(as_text=True).count(f"cases/{case_id}") >= 1


def test_unassigned_open_cases_have_a_list_of_their_own(app, tenant, manager_client):
    from app import cases as case_rules

    taken, waiting, closed = (make_case(app, tenant.id) for _ in range(3))
    with app.app_context(), tenant_scope(tenant.id):
        owner = db.session.scalar(select(User.id).where(User.email == tenant.owner_email))
        db.session.get(Case, taken).assignee_user_id = owner
        db.session.get(Case, closed).status = "resolved"
        db.session.commit()
        assert case_rules.case_counts(owner).unassigned == 1
    page = manager_client.get(tenant.url("cases?view=unassigned")).get_data(as_text=True)
    assert f"cases/{waiting}" in page and f"cases/{taken}" not in page and f"cases/{closed}" not in page
    assert "Unassigned (1)" in manager_client.get(tenant.url("cases")).get_data(as_text=True)
    home = manager_client.get(tenant.url()).get_data(as_text=True)
    assert f'href="{tenant.url("cases?view=unassigned")}">Unassigned: 1<' in home


def test_manager_makes_any_response_a_case(app, tenant, manager_client):
    from app.live import current_marker

    response_id = make_response(app, tenant.id, nps=9)
    token = form_token(manager_client.get(tenant.url(f"journal/{response_id}")).get_data(as_text=True))
    with app.app_context():
        before = current_marker(tenant.id)
    created = manager_client.post(tenant.url(f"journal/{response_id}/case"), data={"csrf_token": token})
    assert created.status_code == 302 and "/cases/" in created.headers["Location"]
    with app.app_context():
        assert current_marker(tenant.id) != before  # open journals learn of the new case badge
    again = manager_client.post(tenant.url(f"journal/{response_id}/case"), data={"csrf_token": token})
    assert again.headers["Location"] == created.headers["Location"]
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.scalar(select(Case))
        assert case.origin == "manual" and case.response_id == response_id
        assert db.session.scalar(select(CaseEvent.user_id).where(CaseEvent.kind == "created")) is not None


def test_viewer_reads_cases_but_cannot_change_them(app, tenant):
    case_id = make_case(app, tenant.id)
    viewer = app.test_client()
    login(viewer, add_member(app, tenant, "viewer@alpha.test", "viewer"))
    page = viewer.get(tenant.url(f"cases/{case_id}"))
    assert page.status_code == 200 and "Change status" not in page.get_data(as_text=True)
    token = form_token(page.get_data(as_text=True))
    for action in ("status", "assign", "note", "contact", "resolve"):
        assert viewer.post(tenant.url(f"cases/{case_id}/{action}"), data={"csrf_token": token,
                                                                          "status": "in_progress"}).status_code == 403
    assert viewer.get(tenant.url("cases")).status_code == 200


def test_case_lists_and_counts(app, tenant, manager_client):
    make_case(app, tenant.id)
    resolved = make_case(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        case_rules.resolve_case(db.session.get(Case, resolved), "done", None)
        db.session.commit()
        counts = case_rules.case_counts(None)
        assert (counts.open, counts.overdue) == (1, 0)
    assert f'id="case-{resolved}"' in manager_client.get(tenant.url("cases?view=resolved")).get_data(as_text=True)
    assert f'id="case-{resolved}"' not in manager_client.get(tenant.url("cases")).get_data(as_text=True)
    assert manager_client.get(tenant.url("cases?view=nonsense")).status_code == 400
    assert manager_client.get(tenant.url("cases?page=0")).status_code == 400


def test_clinic_settings_change_future_deadlines(app, tenant, client):
    with app.app_context(), tenant_scope(tenant.id):
        update_settings(db.session.get(Tenant, tenant.id), critical_case_hours=2)
        db.session.commit()
    submit(client, point_token(app, tenant.id), {"q_nps": "5", "urgent": "yes", "contact_phone": "+7 900 123-45-67",
                                                 "consent": "1"}, lang="en")
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.scalar(select(Case))
        assert clinic_settings(db.session.get(Tenant, tenant.id)).critical_case_hours == 2
        assert case.deadline_at - case.created_at == timedelta(hours=2)


def test_a_switched_off_account_cannot_be_given_a_case(app, tenant, manager_client):
    colleague = add_member(app, tenant, "leaver@alpha.test", "manager")
    case_id = make_case(app, tenant.id)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == colleague))
        user.is_active, user_id = False, user.id
        db.session.commit()
    page = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    assert f'value="{user_id}"' not in page  # not offered
    refused = manager_client.post(tenant.url(f"cases/{case_id}/assign"),
                                  data={"csrf_token": form_token(page), "assignee": str(user_id)})
    assert refused.status_code == 400 and "must be a member" in refused.get_data(as_text=True)


def test_a_form_naming_no_known_status_is_refused_not_mistaken_for_a_colleagues_change(app, tenant, manager_client):
    case_id = make_case(app, tenant.id)
    page = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    refused = manager_client.post(tenant.url(f"cases/{case_id}/note"), data={
        "csrf_token": form_token(page), "expected_status": "<script>", "text": "Called the patient"})
    assert refused.status_code == 400 and "not one of ours" in refused.get_data(as_text=True)
    with app.app_context(), tenant_scope(tenant.id):
        assert [e.kind for e in db.session.get(Case, case_id).events if e.kind == "note"] == []


def test_how_the_cases_of_a_period_were_handled(app, tenant, other_tenant, manager_client):
    """Opened, resolved, resolved by the deadline, and the median hours to the resolution and to the first
    attempt to reach the patient, for the cases opened in a stretch of time; another clinic's never count."""
    from app.metrics import Period

    now = utcnow()
    plans = {  # days ago opened: (hours to the first contact, hours to the resolution)
        10: (2, 6),      # resolved within its 12 hours
        5: (4, 30),      # resolved late
        2: (None, None),  # still open, nobody called yet
        40: (1, 3),      # before the window
    }
    ids = {days: make_case(app, tenant.id) for days in plans}
    theirs = make_case(app, other_tenant.id)
    with app.app_context():
        for clinic_id, days, case_id in [(tenant.id, d, i) for d, i in ids.items()] + [(other_tenant.id, 3, theirs)]:
            with tenant_scope(clinic_id):
                case = db.session.get(Case, case_id)
                case.created_at = now - timedelta(days=days)
                case.deadline_at = case.created_at + timedelta(hours=12)
                contact, resolve = plans.get(days, (1, 1)) if clinic_id == tenant.id else (1, 1)
                if contact is not None:
                    case_rules.log_contact(case, "reached", "", None, now=case.created_at + timedelta(hours=contact))
                if resolve is not None:
                    case_rules.resolve_case(case, "Sorted", None, now=case.created_at + timedelta(hours=resolve))
                db.session.commit()
        with tenant_scope(tenant.id):
            handled = case_rules.case_handling(now - timedelta(days=30), now)
            nothing = case_rules.case_handling(now - timedelta(days=1), now)
    assert (handled.opened, handled.resolved, handled.resolved_on_time, handled.contacted) == (3, 2, 1, 2)
    assert handled.on_time_share == 0.5
    assert handled.median_hours_to_resolve == pytest.approx(18)  # of 6 and 30
    assert handled.median_hours_to_contact == pytest.approx(3)  # of 2 and 4
    assert nothing == case_rules.CaseHandling(0, 0, 0, None, 0, None) and nothing.on_time_share is None

    page = manager_client.get(tenant.url("cases")).get_data(as_text=True)
    assert "Cases opened in the last 30 days: <strong>3</strong>" in page
    assert "50 % by the deadline" in page and "<strong>18 h</strong>" in page and "<strong>3 h</strong>" in page

    # The periodic report has the period's figures beside the previous period's.
    period = Period.containing(now.date(), "year")
    with app.app_context(), tenant_scope(tenant.id):
        tz = db.session.get(Tenant, tenant.id).timezone
        year = case_rules.case_handling(*period.bounds_utc(tz))
    report = manager_client.get(tenant.url(f"dashboard/report?period={period.label}")).get_data(as_text=True)
    assert "Complaint handling" in report
    assert f'<th scope="row">Cases opened</th><td data-label="{period.label}">{year.opened}</td>' in report
