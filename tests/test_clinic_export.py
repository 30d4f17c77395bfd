"""All of a clinic's data as one ZIP: every table of the demo clinic, row for row, nothing of another
clinic, no secrets, only for owners, and written to the access log."""
from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlalchemy import func, select, text

from app.clinic_export import LEFT_OUT_TABLES, SECRET_COLUMNS
from app.extensions import db
from app.models import AccessLog, Response, Tenant, Webhook
from tenants.context import platform_scope, tenant_scope
from tenants.offboarding import tenant_tables
from tests.conftest import add_member, login
from tests.factories import make_api_key, make_response, make_webhook


def test_the_owner_downloads_everything_of_the_clinic_and_nothing_else(app, runner, other_tenant):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    make_response(app, other_tenant.id, comment="Only the other clinic says this")
    make_webhook(app, other_tenant.id)
    with app.app_context(), platform_scope():
        demo = db.session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
    hook_id = make_webhook(app, demo)
    make_api_key(app, demo)
    formula = make_response(app, demo, comment="=1+2 and the rest")
    with app.app_context(), tenant_scope(demo):
        secret = db.session.get(Webhook, hook_id).secret
        phone = db.session.scalar(select(Response.contact_phone).where(Response.contact_phone.is_not(None)))

    client = app.test_client()
    login(client, "manager@demo-clinic.local", "manager-demo-pass")
    response = client.get("/c/demo/export/everything.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert 'filename="vernost-demo-' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    with app.app_context(), tenant_scope(demo):  # counted after: the download's own access-log line is in it
        expected = {table.name: db.session.scalar(select(func.count()).select_from(table)
                                                  .where(table.c.tenant_id == demo))
                    for table in tenant_tables() if table.name not in LEFT_OUT_TABLES}
    assert archive.testzip() is None
    names = set(archive.namelist())
    assert {"README.txt", "counts.json", "people.csv"} <= names
    assert {f"{table}.csv" for table in expected} <= names
    counts = json.loads(archive.read("counts.json"))
    everything = ""
    for table, rows in expected.items():
        content = archive.read(f"{table}.csv").decode("utf-8")
        everything += content
        records = list(csv.DictReader(io.StringIO(content)))
        assert len(records) == rows == counts[table], table
        assert {record["tenant_id"] for record in records} <= {str(demo)}, table
        assert not SECRET_COLUMNS & set(csv.DictReader(io.StringIO(content)).fieldnames or []), table
    assert expected["responses"] > 100 and expected["cases"] > 0 and expected["visits"] > 0
    assert phone and phone in everything  # contacts left with consent are the clinic's to keep
    answers = {record["id"]: record for record in csv.DictReader(io.StringIO(archive.read("responses.csv").decode()))}
    assert answers[str(formula)]["comment"] == "'=1+2 and the rest"  # shown by a spreadsheet, never run
    assert "take it off when loading" in archive.read("README.txt").decode()
    assert secret not in everything and "Only the other clinic says this" not in everything
    people = list(csv.DictReader(io.StringIO(archive.read("people.csv").decode("utf-8"))))
    assert [person["email"] for person in people] == ["manager@demo-clinic.local"]
    assert "password" not in archive.read("people.csv").decode("utf-8")
    with app.app_context(), tenant_scope(demo):
        logged = db.session.scalar(select(AccessLog).where(AccessLog.subject_type == "clinic"))
        assert logged.action == "export" and logged.details == {"what": "everything"}


def test_only_owners_download_everything(app, tenant, manager_client):
    manager = add_member(app, tenant, "manager@clinic.test", "manager")
    client = app.test_client()
    login(client, manager)
    assert client.get(tenant.url("export/everything.zip")).status_code == 403
    assert "Download everything" not in client.get(tenant.url("settings/licence")).get_data(as_text=True)
    assert "Download everything" in manager_client.get(tenant.url("settings/licence")).get_data(as_text=True)
    response = manager_client.get(tenant.url("export/everything.zip"))
    assert response.status_code == 200 and zipfile.ZipFile(io.BytesIO(response.get_data())).testzip() is None


def test_a_download_cut_short_leaves_no_transaction_open(app, tenant, manager_client):
    """A client that goes away mid-download: the server closes the stream, and the read it held ends."""
    for _ in range(3):
        make_response(app, tenant.id)
    response = manager_client.get(tenant.url("export/everything.zip"))
    chunks = iter(response.response)
    assert next(chunks)  # the first part of the archive
    response.close()  # what a WSGI server does when the client disconnects
    with app.app_context():
        if app.config["DIALECT"] == "postgresql":
            idle = db.session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"))
            assert idle == 0
        with tenant_scope(tenant.id):  # and the clinic's tables can be written at once
            make_response(app, tenant.id)
