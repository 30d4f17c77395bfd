"""Licence states, the read-only workspace, and seat limits."""
from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

from sqlalchemy import select

from app.accounts import AccountError, invite, seat_usage
from app.extensions import db
from app.models import Branch, Licence
from tenants.context import tenant_scope
from tenants.licensing import LicenceState, licence_status
from tests.conftest import form_token


def _licence(starts, ends, suspended=False):
    return SimpleNamespace(starts_on=starts, ends_on=ends, suspended=suspended)


def test_licence_states_over_time():
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    lic = _licence(start, end)
    assert licence_status(lic, date(2026, 6, 1), 14).state is LicenceState.ACTIVE
    assert licence_status(lic, end, 14).state is LicenceState.ACTIVE
    grace = licence_status(lic, end + timedelta(days=1), 14)
    assert grace.state is LicenceState.GRACE and grace.days_left == 13 and grace.can_write
    last_grace_day = licence_status(lic, end + timedelta(days=14), 14)
    assert last_grace_day.state is LicenceState.GRACE
    lapsed = licence_status(lic, end + timedelta(days=15), 14)
    assert lapsed.state is LicenceState.READ_ONLY and not lapsed.can_write and lapsed.sends_notifications
    suspended = licence_status(_licence(start, end, True), date(2026, 6, 1), 14)
    assert suspended.state is LicenceState.SUSPENDED and not suspended.can_write and not suspended.sends_notifications
    assert licence_status(lic, date(2025, 12, 1), 14).state is LicenceState.NOT_STARTED


def _set_licence_end(app, clinic, ends_on, suspended=False):
    with app.app_context(), tenant_scope(clinic.id):
        licence = db.session.scalar(select(Licence))
        licence.starts_on = ends_on - timedelta(days=365)
        licence.ends_on = ends_on
        licence.suspended = suspended
        db.session.commit()


def _add_branch(client, clinic, name):
    token = form_token(client.get(clinic.url("settings/branches")).get_data(as_text=True))
    return client.post(clinic.url("settings/branches"), data={"name": name, "csrf_token": token})


def test_grace_period_keeps_the_workspace_writable(app, tenant, manager_client):
    _set_licence_end(app, tenant, date.today() - timedelta(days=3))
    page = manager_client.get(tenant.url()).get_data(as_text=True)
    assert "banner grace" in page
    assert _add_branch(manager_client, tenant, "Grace branch").status_code == 302


def test_lapsed_licence_makes_the_workspace_read_only_but_keeps_data(app, tenant, manager_client):
    assert _add_branch(manager_client, tenant, "Before lapse").status_code == 302
    _set_licence_end(app, tenant, date.today() - timedelta(days=30))
    page = manager_client.get(tenant.url("settings/branches"))
    assert page.status_code == 200 and "Before lapse" in page.get_data(as_text=True)
    assert "banner read_only" in page.get_data(as_text=True)
    refused = _add_branch(manager_client, tenant, "After lapse")
    assert refused.status_code == 403
    with app.app_context(), tenant_scope(tenant.id):
        names = db.session.scalars(select(Branch.name)).all()
    assert names == ["Before lapse"]


def test_suspended_clinic_is_read_only(app, tenant, manager_client):
    _set_licence_end(app, tenant, date.today() + timedelta(days=100), suspended=True)
    assert "banner suspended" in manager_client.get(tenant.url()).get_data(as_text=True)
    assert _add_branch(manager_client, tenant, "Nope").status_code == 403


def test_seats_are_enforced_when_inviting(app, tenant, manager_client):
    with app.app_context(), tenant_scope(tenant.id):
        licence = db.session.scalar(select(Licence))
        licence.seats = 2  # the owner holds one
        db.session.commit()
    token = form_token(manager_client.get(tenant.url("settings/users")).get_data(as_text=True))
    ok = manager_client.post(tenant.url("settings/users/invite"),
                             data={"email": "first@example.test", "role": "manager", "csrf_token": token})
    assert ok.status_code == 200 and "/invite/" in ok.get_data(as_text=True)
    full = manager_client.post(tenant.url("settings/users/invite"),
                               data={"email": "second@example.test", "role": "viewer", "csrf_token": token})
    assert full.status_code == 400 and "no free seats" in full.get_data(as_text=True)
    with app.app_context(), tenant_scope(tenant.id):
        usage = seat_usage()
        assert (usage.used, usage.pending, usage.seats, usage.free) == (1, 1, 2, 0)
        try:
            invite("third@example.test", "viewer", ttl_hours=1)
        except AccountError as exc:
            assert "seats" in str(exc)
        else:
            raise AssertionError("invite past the seat limit was accepted")
        db.session.rollback()


def test_patients_feedback_is_stored_whatever_the_licence_state(app, tenant, client):
    from app.models import Response
    from tests.feedback_helpers import point_token, submit

    token = point_token(app, tenant.id)
    for ends_on, suspended in ((date.today() - timedelta(days=60), False), (date.today() + timedelta(days=60), True)):
        _set_licence_end(app, tenant, ends_on, suspended=suspended)
        assert submit(app.test_client(), token, {"q_nps": "8"}).status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        assert len(db.session.scalars(select(Response)).all()) == 2
