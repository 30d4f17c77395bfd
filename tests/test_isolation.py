"""Tenant isolation: every workspace route, the ORM guard, the user loader, and RLS."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from app.extensions import db
from app.models import Branch, Doctor, Membership
from tenants.context import NoTenantError, platform_scope, tenant_scope
from tests.conftest import add_member, form_token, login
from tests.factories import OBJECT_FACTORIES, make_branch, make_doctor


def workspace_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("workspace.")]


def build_path(app, rule, slug, ids):
    with app.test_request_context():
        from flask import url_for

        values = {"slug": slug}
        for name in rule.arguments - {"slug"}:
            values[name] = ids.get(name, "x")
        return url_for(rule.endpoint, **values)


def test_every_object_route_has_a_factory(app):
    """A new workspace route with an object id must come with a cross-tenant test factory."""
    missing = {name for rule in workspace_rules(app) for name in rule.arguments - {"slug", "token", "action"}
               if name not in OBJECT_FACTORIES}
    assert not missing, f"add factories to tests/factories.py for: {sorted(missing)}"


def test_other_clinics_objects_are_not_found_on_every_route(app, tenant, other_tenant, manager_client):
    ids = {name: factory(app, other_tenant.id) for name, factory in OBJECT_FACTORIES.items()}
    token = form_token(manager_client.get(tenant.url("settings/clinic")).get_data(as_text=True))
    checked = 0
    for rule in workspace_rules(app):
        object_args = rule.arguments - {"slug", "token"}
        if not object_args:
            continue
        path = build_path(app, rule, tenant.slug, ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = manager_client.open(path, method=method, data={"csrf_token": token, "action": "remove"})
            assert response.status_code == 404, f"{method} {path} answered {response.status_code}"
            checked += 1
    assert checked >= 6
    # ...and the other clinic's rows are untouched.
    with app.app_context(), tenant_scope(other_tenant.id):
        assert db.session.scalar(select(Branch).where(Branch.id == ids["branch_id"])) is not None
        assert db.session.scalar(select(Membership).where(Membership.id == ids["membership_id"])) is not None


def test_a_session_is_worthless_in_another_workspace(app, tenant, other_tenant, manager_client):
    for rule in workspace_rules(app):
        if rule.arguments - {"slug"} or "GET" not in rule.methods:
            continue
        path = build_path(app, rule, other_tenant.slug, {})
        response = manager_client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_a_clinic_that_does_not_exist_is_a_404_on_every_route(app, tenant, manager_client):
    """Also what a deleted clinic's old links and open tabs meet (tenants/offboarding.py)."""
    anonymous = app.test_client()
    for rule in workspace_rules(app):
        if "GET" not in rule.methods:
            continue
        path = build_path(app, rule, "no-such-clinic", {name: 1 for name in rule.arguments - {"slug"}})
        for client in (anonymous, manager_client):
            assert client.get(path).status_code == 404, path


def test_network_manager_reaches_both_clinics(app, tenant, other_tenant):
    email = add_member(app, tenant, "network@example.test", "manager")
    from app.accounts import accept_invitation, invite

    with app.app_context(), tenant_scope(other_tenant.id):
        _, token = invite(email, "viewer", ttl_hours=1)
        accept_invitation(token, full_name="", password="correct-horse-battery")
        db.session.commit()
    c = app.test_client()
    assert login(c, email).status_code == 200  # two clinics: the chooser is shown
    assert c.get(tenant.url()).status_code == 200
    assert c.get(other_tenant.url()).status_code == 200


def test_orm_refuses_tenant_data_without_a_clinic(app, tenant):
    with app.app_context():
        with pytest.raises(NoTenantError):
            db.session.scalars(select(Branch)).all()
        with pytest.raises(NoTenantError):
            db.session.add(Branch(name="Orphan"))
            db.session.flush()
        db.session.rollback()


def test_orm_filters_to_the_current_clinic(app, tenant, other_tenant):
    make_branch(app, tenant.id, "Alpha branch")
    make_branch(app, other_tenant.id, "Beta branch")
    with app.app_context():
        with tenant_scope(tenant.id):
            assert [b.name for b in db.session.scalars(select(Branch))] == ["Alpha branch"]
            # Joins and aliases are filtered too.
            assert db.session.scalar(select(text("count(*)")).select_from(Branch)) == 1
        with platform_scope():
            assert len(db.session.scalars(select(Branch)).all()) == 2


def test_orm_refuses_writing_into_another_clinic(app, tenant, other_tenant):
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(Doctor(full_name="Intruder", tenant_id=other_tenant.id))
        with pytest.raises(NoTenantError):
            db.session.flush()
        db.session.rollback()


def test_bulk_update_by_primary_key_stays_in_the_clinic(app, tenant, other_tenant):
    """SQLAlchemy's bulk UPDATE by primary key skips loader criteria; the scope adds the clinic itself."""
    from datetime import date

    from sqlalchemy import update

    from app.models import Patient

    ids = {}
    for clinic in (tenant, other_tenant):
        with app.app_context(), tenant_scope(clinic.id):
            patient = Patient(external_id="P-1")
            db.session.add(patient)
            db.session.commit()
            ids[clinic.id] = patient.id
    with app.app_context(), tenant_scope(tenant.id):
        db.session.execute(update(Patient), [{"id": ids[tenant.id], "first_visit_on": date(2025, 1, 1)},
                                             {"id": ids[other_tenant.id], "first_visit_on": date(2025, 1, 1)}])
        db.session.commit()
    with app.app_context(), platform_scope():
        firsts = {p.tenant_id: p.first_visit_on for p in db.session.scalars(select(Patient))}
    assert firsts == {tenant.id: date(2025, 1, 1), other_tenant.id: None}


@pytest.mark.postgres
def test_rls_blocks_raw_sql_under_the_app_role(app, tenant, other_tenant):
    if app.config["DIALECT"] != "postgresql":
        pytest.skip("row-level security exists on PostgreSQL only (set VERNOST_TEST_DATABASE_URL)")
    make_doctor(app, tenant.id, "Dr Alpha")
    other_doctor = make_doctor(app, other_tenant.id, "Dr Beta")
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.begin() as conn:
            role = conn.execute(text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
            assert role[0] == "vernost_app" and not role[1] and not role[2]
            owned = conn.execute(text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")).scalar()
            assert owned == 0
            # No clinic set: nothing visible.
            assert conn.execute(text("SELECT count(*) FROM doctors")).scalar() == 0
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.id)})
            names = conn.execute(text("SELECT full_name FROM doctors")).scalars().all()
            assert names == ["Dr Alpha"]
            # Another clinic's row can be neither changed nor deleted...
            assert conn.execute(text("UPDATE doctors SET full_name = 'hacked' WHERE id = :i"), {"i": other_doctor}).rowcount == 0
            assert conn.execute(text("DELETE FROM doctors WHERE id = :i"), {"i": other_doctor}).rowcount == 0
        # ...nor created.
        with pytest.raises(Exception) as excinfo:
            with engine.begin() as conn:
                conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.id)})
                conn.execute(text("INSERT INTO doctors (tenant_id, full_name, specialty, active, created_at) "
                                  "VALUES (:t, 'Planted', '', true, now())"), {"t": other_tenant.id})
        assert "row-level security" in str(excinfo.value)
    finally:
        engine.dispose()
    with app.app_context(), tenant_scope(other_tenant.id):
        assert db.session.get(Doctor, other_doctor).full_name == "Dr Beta"
