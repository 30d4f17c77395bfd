"""Ending a clinic: the deletion is scheduled on a suspended clinic, closes the patients' forms, the
API and webhooks at once, and on its day deletes every row of that clinic and nothing of another."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.accounts import accept_invitation, invite
from app.api_keys import issue_key
from app.extensions import db
from app.models import CollectionPoint, Membership, OperatorAction, Tenant, User, utcnow
from jobs.offboarding import delete_due_clinics
from tenants.context import platform_scope, tenant_scope
from tenants.offboarding import OffboardingError, delete_clinic, due_for_deletion, rows_of, tenant_tables
from tenants.onboarding import set_suspended
from tests.conftest import form_token, login
from tests.factories import make_api_key, make_case, make_point, make_response, make_webhook
from tests.test_api import bearer, grant_api


def clinic_id(app, slug: str) -> int | None:
    with app.app_context(), platform_scope():
        return db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))


def suspend(app, tenant_id: int) -> None:
    with app.app_context(), platform_scope():
        set_suspended(db.session.get(Tenant, tenant_id), True, reason="contract ended", actor="test")
        db.session.commit()


def console_action(client, tenant_id: int, action: str, **data):
    page = client.get(f"/platform/clinics/{tenant_id}").get_data(as_text=True)
    data["csrf_token"] = form_token(page)
    return client.post(f"/platform/clinics/{tenant_id}/{action}", data=data)


def rows_left(app, tenant_id: int) -> dict[str, int]:
    """Rows still carrying the clinic's id, in every table that has one, read across clinics."""
    with app.app_context(), platform_scope():
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table)
                                                .where(table.c.tenant_id == tenant_id))
                  for table in tenant_tables()}
    return {name: count for name, count in counts.items() if count}


def test_a_demo_clinic_is_scheduled_closed_and_then_deleted_to_the_last_row(app, runner, other_tenant,
                                                                            operator_client):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    demo = clinic_id(app, "demo")
    # The other clinic has data of every common kind, and the demo's manager is also one of its members.
    make_case(app, other_tenant.id)
    make_response(app, other_tenant.id, comment="Kept")
    make_api_key(app, other_tenant.id)
    with app.app_context(), tenant_scope(other_tenant.id):
        _, invitation = invite("manager@demo-clinic.local", "viewer", ttl_hours=1)
        accept_invitation(invitation, full_name="", password="manager-demo-pass")  # an existing account: its password
        db.session.commit()
    with app.app_context():
        other_rows = rows_of(other_tenant.id)
    demo_rows = rows_left(app, demo)
    assert {"responses", "response_ratings", "cases", "visits", "patients", "external_reviews",
            "metric_snapshots", "memberships", "licences", "consent_texts"} <= set(demo_rows)

    refused = console_action(operator_client, demo, "schedule_deletion", days="0", confirm="demo")
    assert "only a suspended clinic can be deleted" in operator_client.get(refused.headers["Location"]).get_data(as_text=True)
    suspend(app, demo)
    wrong = console_action(operator_client, demo, "schedule_deletion", days="30", confirm="dem0")
    assert "to confirm" in operator_client.get(wrong.headers["Location"]).get_data(as_text=True)
    scheduled = console_action(operator_client, demo, "schedule_deletion", days="30", confirm="demo")
    page = operator_client.get(scheduled.headers["Location"]).get_data(as_text=True)
    assert "will be deleted on" in page and "Cancel the deletion" in page
    assert "deleted on" in operator_client.get("/platform/").get_data(as_text=True)  # the list says so too
    refused = console_action(operator_client, demo, "reactivate")
    assert "cancel the scheduled deletion first" in operator_client.get(refused.headers["Location"]).get_data(as_text=True)

    # From now on: no new answers, no API, and the staff are told when the data goes.
    with app.app_context(), tenant_scope(demo):
        token = db.session.scalar(select(CollectionPoint.token).order_by(CollectionPoint.id))
        key = issue_key("BI", ["read"], None)
        db.session.commit()
    grant_api(app, demo)
    assert app.test_client().get(f"/q/{token}").status_code == 410
    assert app.test_client().get("/api/v1/clinic", headers=bearer(key.token)).status_code == 401
    staff = app.test_client()
    login(staff, "manager@demo-clinic.local", "manager-demo-pass")
    assert "will be deleted on" in staff.get("/c/demo/").get_data(as_text=True)
    assert staff.get("/c/demo/export/responses.csv").status_code == 200  # exports stay open

    # Not yet due: the nightly job leaves it alone.
    demo_rows = rows_left(app, demo)
    with app.app_context():
        assert delete_due_clinics() == 0
    assert rows_left(app, demo) == demo_rows
    with app.app_context(), platform_scope():
        db.session.get(Tenant, demo).delete_after = utcnow() - timedelta(minutes=1)
        db.session.commit()
        assert delete_due_clinics() == 1

    assert clinic_id(app, "demo") is None and rows_left(app, demo) == {}
    with app.app_context():
        assert rows_of(other_tenant.id) == other_rows - 0  # the other clinic lost nothing
        with platform_scope():
            emails = set(db.session.scalars(select(User.email)))
            assert "manager@demo-clinic.local" in emails  # still a member of the other clinic
            assert not {e for e in emails if e.endswith("@demo-clinic.local") and e != "manager@demo-clinic.local"}
            assert db.session.scalar(select(func.count()).select_from(Membership)
                                     .where(Membership.tenant_id == other_tenant.id)) == 2
            [deleted] = db.session.scalars(select(OperatorAction).where(OperatorAction.action == "clinic.deleted"))
            assert deleted.details["slug"] == "demo" and deleted.details["rows"]["responses"] == demo_rows["responses"]
    assert app.test_client().get(f"/q/{token}").status_code == 404
    assert staff.get("/c/demo/").status_code == 404


def test_the_command_line_schedules_cancels_and_deletes_at_once(app, runner, tenant, other_tenant):
    make_response(app, tenant.id)
    make_point(app, tenant.id)
    make_webhook(app, tenant.id)
    result = runner.invoke(args=["tenants", "delete", tenant.slug, "--confirm", tenant.slug])
    assert result.exit_code != 0 and "Suspend the clinic first" in result.output
    suspend(app, tenant.id)
    result = runner.invoke(args=["tenants", "delete", tenant.slug, "--confirm", tenant.slug, "--days", "7"])
    assert result.exit_code == 0 and "will be deleted after" in result.output
    with app.app_context():  # scheduled a week ahead: the deletion itself refuses to run early
        with pytest.raises(OffboardingError):
            delete_clinic(tenant.id, actor="test")
    result = runner.invoke(args=["tenants", "delete", tenant.slug, "--confirm", tenant.slug, "--cancel"])
    assert result.exit_code == 0
    with app.app_context(), platform_scope():
        assert db.session.get(Tenant, tenant.id).delete_after is None
    result = runner.invoke(args=["tenants", "delete", tenant.slug, "--confirm", tenant.slug, "--days", "0"])
    assert result.exit_code == 0  # zero days means due at once, for the next nightly run
    with app.app_context():
        assert due_for_deletion() == [tenant.id]
    runner.invoke(args=["tenants", "delete", tenant.slug, "--confirm", tenant.slug, "--cancel"])
    result = runner.invoke(args=["tenants", "delete", tenant.slug, "--confirm", "other", "--now"])
    assert result.exit_code != 0 and clinic_id(app, tenant.slug) is not None
    result = runner.invoke(args=["tenants", "delete", tenant.slug, "--confirm", tenant.slug, "--now"])
    assert result.exit_code == 0, result.output
    assert clinic_id(app, tenant.slug) is None and rows_left(app, tenant.id) == {}
    assert rows_left(app, other_tenant.id)  # the other clinic is whole
    with app.app_context(), platform_scope():
        assert db.session.scalar(select(User.id).where(User.email == tenant.owner_email)) is None


def test_a_job_left_for_a_deleted_clinic_does_nothing(app, tenant):
    from jobs.feedback import response_received

    response_id = make_response(app, tenant.id)
    suspend(app, tenant.id)
    with app.app_context():
        with platform_scope():
            db.session.get(Tenant, tenant.id).delete_after = utcnow()
            db.session.commit()
        assert delete_due_clinics() == 1
        assert response_received(tenant.id, response_id) is None
