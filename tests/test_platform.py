"""The operators' console and the `flask tenants` commands."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Licence, OperatorAction, Tenant
from tenants.context import platform_scope
from tests.conftest import form_token


def _licence(app, slug):
    with app.app_context(), platform_scope():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        return db.session.scalar(select(Licence).where(Licence.tenant_id == tenant.id)), tenant


def test_operator_onboards_a_clinic_and_sees_it_listed(app, operator_client):
    page = operator_client.get("/platform/clinics/new").get_data(as_text=True)
    response = operator_client.post("/platform/clinics/new", data={
        "name": "Клиника Здоровье", "slug": "zdorovie", "owner_email": "Boss@Zdorovie.test", "plan": "network",
        "licence_days": "30", "timezone": "Asia/Yekaterinburg", "language": "ru", "csrf_token": form_token(page)})
    assert response.status_code == 200
    link = re.search(r'id="invitation-url">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert link.startswith("http://localhost/c/zdorovie/invite/")
    listing = operator_client.get("/platform/").get_data(as_text=True)
    assert "Клиника Здоровье" in listing and "0/50" in listing
    licence, tenant = _licence(app, "zdorovie")
    assert licence.plan == "network" and licence.ends_on == date.today() + timedelta(days=30)
    assert tenant.timezone == "Asia/Yekaterinburg"
    with app.app_context():
        actions = db.session.scalars(select(OperatorAction.action)).all()
    assert actions == ["clinic.onboarded"]


def test_onboarding_rejects_bad_input_and_creates_nothing(app, operator_client):
    page = operator_client.get("/platform/clinics/new").get_data(as_text=True)
    for bad in ({"slug": "Bad Slug!"}, {"timezone": "Mars/Olympus"}, {"owner_email": "not-an-email"},
                {"plan": "platinum"}, {"licence_days": "many"}):
        data = {"name": "X", "slug": "good-slug", "owner_email": "a@b.test", "plan": "basic", "licence_days": "30",
                "timezone": "UTC", "language": "en", "csrf_token": form_token(page)} | bad
        assert operator_client.post("/platform/clinics/new", data=data).status_code == 400, bad
    with app.app_context():
        assert db.session.scalar(select(Tenant)) is None


def test_renew_change_plan_suspend_and_reactivate(app, tenant, operator_client):
    page = operator_client.get(f"/platform/clinics/{tenant.id}").get_data(as_text=True)
    token = form_token(page)
    before, _ = _licence(app, tenant.slug)
    operator_client.post(f"/platform/clinics/{tenant.id}/renew", data={"days": "90", "csrf_token": token})
    after, _ = _licence(app, tenant.slug)
    assert after.ends_on == before.ends_on + timedelta(days=90)
    operator_client.post(f"/platform/clinics/{tenant.id}/plan",
                         data={"plan": "basic", "seats": "4", "module_api": "on", "csrf_token": token})
    changed, _ = _licence(app, tenant.slug)
    assert (changed.plan, changed.seats, changed.modules) == ("basic", 4, ["api"])
    operator_client.post(f"/platform/clinics/{tenant.id}/suspend", data={"reason": "unpaid", "csrf_token": token})
    assert _licence(app, tenant.slug)[0].suspended
    assert "suspended" in operator_client.get("/platform/").get_data(as_text=True)
    operator_client.post(f"/platform/clinics/{tenant.id}/reactivate", data={"csrf_token": token})
    assert not _licence(app, tenant.slug)[0].suspended
    audit = operator_client.get("/platform/audit").get_data(as_text=True)
    for action in ("licence.renewed", "licence.plan_changed", "clinic.suspended", "clinic.reactivated"):
        assert action in audit


def test_clinic_page_shows_its_usage_and_no_other_clinics(app, tenant, other_tenant, operator_client):
    from app.models import MailOutbox, utcnow
    from tenants.context import tenant_scope
    from tests.factories import make_response

    now = utcnow()
    month = now.strftime("%Y-%m")
    for _ in range(3):
        make_response(app, tenant.id, submitted_at=now - timedelta(minutes=5))
    make_response(app, tenant.id, submitted_at=now - timedelta(days=95))
    make_response(app, tenant.id, nps=2, risk_level="at_risk", open_case=True, submitted_at=now - timedelta(days=10))
    for _ in range(7):  # the other clinic's activity must not show
        make_response(app, other_tenant.id, submitted_at=now - timedelta(minutes=5))
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(MailOutbox(kind="digest", dedupe_key="d1", recipient="m@clinic.test", subject="Digest",
                                  text_body="", html_body="", status="sent", message_id="<1@vernost>", sent_at=now))
        db.session.commit()
    from tests.factories import issue_api_key

    issue_api_key(app, tenant.id)
    revoked, _token = issue_api_key(app, tenant.id, name="Old BI")
    with app.app_context(), tenant_scope(tenant.id):
        from app.models import ApiKey

        db.session.get(ApiKey, revoked).revoked_at = now
        db.session.commit()
    from tests.factories import make_webhook

    hook = make_webhook(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        from app.models import WebhookDelivery

        db.session.add_all([WebhookDelivery(webhook_id=hook, event="ping", dedupe_key=f"p{n}", state=state)
                            for n, state in enumerate(["delivered", "delivered", "failed", "pending"])])
        db.session.commit()
    page = operator_client.get(f"/platform/clinics/{tenant.id}").get_data(as_text=True)
    assert re.search(r"<dt>Webhooks</dt><dd>1 .*2 delivered, 1 failed", page)
    assert "Responses by month, 5 in all" in page
    assert re.search(r"<dt>API keys</dt><dd>1\b", page)  # revoked keys are not counted
    this_month = 3 + ((now - timedelta(days=10)).month == now.month)
    assert f"{month}: {this_month}" in page  # the bar of this month, in the chart's description
    assert "1 open, 1 overdue" in page  # an at-risk case is due in 72 hours: 10 days on, it is overdue
    assert "1 sent, 0 failed" in page and "1 of 10 seats" in page
    assert "web reputation" in page  # modules by name, not by code
    other = operator_client.get(f"/platform/clinics/{other_tenant.id}").get_data(as_text=True)
    assert "Responses by month, 7 in all" in other and "0 sent, 0 failed" in other
    assert re.search(r"<dt>API keys</dt><dd>0\b", other)
    assert re.search(r"<dt>Webhooks</dt><dd>0 .*0 delivered, 0 failed", other)


def test_unknown_clinic_and_action_are_not_found(app, operator_client):
    assert operator_client.get("/platform/clinics/999").status_code == 404


def test_cli_create_prints_json_and_the_invitation_works(app, runner):
    result = runner.invoke(args=["tenants", "create", "smile", "--name", "Smile Dental", "--owner", "o@smile.test",
                                 "--plan", "basic", "--timezone", "Asia/Kathmandu", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["slug"] == "smile" and payload["workspace_url"] == "http://localhost/c/smile/"
    assert isinstance(payload["id"], int)
    path = payload["invitation_url"].removeprefix("http://localhost")
    assert app.test_client().get(path).status_code == 200


def test_cli_list_suspend_renew(app, runner, tenant):
    listed = json.loads(runner.invoke(args=["tenants", "list", "--json"]).output)
    assert [c["slug"] for c in listed] == ["alpha"] and listed[0]["licence"] == "active"
    assert runner.invoke(args=["tenants", "suspend", "alpha", "--reason", "test"]).exit_code == 0
    assert json.loads(runner.invoke(args=["tenants", "list", "--json"]).output)[0]["licence"] == "suspended"
    assert runner.invoke(args=["tenants", "suspend", "alpha", "--undo"]).exit_code == 0
    before, _ = _licence(app, "alpha")
    result = runner.invoke(args=["tenants", "renew", "alpha", "--days", "10"])
    assert result.exit_code == 0 and (before.ends_on + timedelta(days=10)).isoformat() in result.output


def test_cli_errors_are_clear(app, runner, tenant):
    duplicate = runner.invoke(args=["tenants", "create", "alpha", "--name", "Again", "--owner", "x@y.test"])
    assert duplicate.exit_code != 0 and "taken" in duplicate.output
    assert "no clinic" in runner.invoke(args=["tenants", "suspend", "nope"]).output


def test_cli_creates_an_operator_who_can_log_in(app, runner):
    result = runner.invoke(args=["operators", "create", "new-op@vernost.test", "--password", "operator-pass-123"])
    assert result.exit_code == 0, result.output
    c = app.test_client()
    token = form_token(c.get("/platform/login").get_data(as_text=True))
    assert c.post("/platform/login", data={"email": "new-op@vernost.test", "password": "operator-pass-123",
                                           "csrf_token": token}).status_code == 302


def test_a_licence_starts_and_renews_on_the_clinics_own_calendar(app):
    """A clinic onboarded while its date is behind (or ahead of) the server's can log in at once, and a
    lapsed licence renews from the clinic's today, whatever the hour."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tenants.onboarding import renew_licence
    from tenants.resolve import clinic_licence_status
    from tests.conftest import make_clinic

    for slug, zone in (("behind", "Etc/GMT+12"), ("ahead", "Pacific/Kiritimati")):
        clinic = make_clinic(app, slug, timezone=zone)
        local_today = datetime.now(ZoneInfo(zone)).date()
        with app.app_context(), platform_scope():
            licence = db.session.scalar(select(Licence).where(Licence.tenant_id == clinic.id))
            tenant = db.session.get(Tenant, clinic.id)
            if local_today != datetime.now(ZoneInfo(zone)).date():
                pytest.skip("the clinic's midnight passed during the test")
            assert licence.starts_on == local_today
            assert clinic_licence_status(tenant, licence).state.value == "active"
            licence.ends_on = local_today - timedelta(days=30)
            renewed = renew_licence(tenant, days=10, actor="test")
            assert renewed.ends_on == local_today + timedelta(days=10)
            db.session.rollback()


def test_the_console_judges_a_licence_on_the_clinics_own_calendar(app, operator_client):
    """Near midnight the console must say what the clinic's workspace says.

    Kiritimati runs 14 hours ahead of UTC, Etc/GMT+12 twelve behind: at any hour at least one of
    them is on another date than the server, so a console using the server's date gets one wrong.
    """
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tests.conftest import make_clinic

    ahead, behind = make_clinic(app, "ahead", timezone="Pacific/Kiritimati"), \
        make_clinic(app, "behind", timezone="Etc/GMT+12")
    local_today = {slug: datetime.now(ZoneInfo(tz)).date() for slug, tz in
                   (("ahead", "Pacific/Kiritimati"), ("behind", "Etc/GMT+12"))}
    with app.app_context(), platform_scope():
        # "ahead" ended yesterday on its calendar; "behind" ends today on its own.
        db.session.scalar(select(Licence).where(Licence.tenant_id == ahead.id)).ends_on = \
            local_today["ahead"] - timedelta(days=1)
        db.session.scalar(select(Licence).where(Licence.tenant_id == behind.id)).ends_on = local_today["behind"]
        db.session.commit()
    html = operator_client.get("/platform/").get_data(as_text=True)
    state = {slug: re.search(rf'<div class="muted small">{slug}</div></td>\s*<td[^>]*><span class="badge (\w+)"', html)[1]
             for slug in ("ahead", "behind")}
    assert state == {"ahead": "grace", "behind": "active"}
    for clinic, expected in ((ahead, "grace"), (behind, "active")):
        page = operator_client.get(f"/platform/clinics/{clinic.id}").get_data(as_text=True)
        assert f'badge {expected}' in page
    listed = {row["slug"]: row for row in json.loads(app.test_cli_runner().invoke(
        args=["tenants", "list", "--json"]).output)}
    assert (listed["ahead"]["licence"], listed["behind"]["licence"]) == ("grace", "active")
