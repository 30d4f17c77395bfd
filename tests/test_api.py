"""The JSON API: keys, the licence module, scopes, and one clinic per key on every route."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AccessLog, ApiKey, Licence, Visit, VisitImport
from tenants.context import tenant_scope
from tests.conftest import add_member, form_token, login
from tests.factories import issue_api_key, make_response


def grant_api(app, clinic_id: int, **changes) -> None:
    """Add the API module to a clinic's licence (and any other licence changes)."""
    with app.app_context(), tenant_scope(clinic_id):
        licence = db.session.scalar(select(Licence))
        licence.modules = sorted(set(licence.modules or []) | {"api"})
        for name, value in changes.items():
            setattr(licence, name, value)
        db.session.commit()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def visit(patient: str, day: str = "2026-10-01", amount=3500, **extra) -> dict:
    return {"patient": patient, "visited_on": day, "amount": amount, **extra}


def add_reviews(app, clinic_id: int, ratings: list[float], site: str = "prodoctorov") -> None:
    from app.reputation.service import ReviewInput, compute_snapshots, store_reviews

    with app.app_context(), tenant_scope(clinic_id):
        store_reviews([ReviewInput(site=site, site_review_id=f"{site}-{i}", rating=rating, text="Отзыв пациента",
                                   published_on=date.today() - timedelta(days=i)) for i, rating in enumerate(ratings)],
                      origin="scrape")
        compute_snapshots()
        db.session.commit()


def count_visits(app, clinic_id: int) -> int:
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(func.count()).select_from(Visit))


def test_requests_without_a_working_key_are_refused(app, tenant, manager_client):
    grant_api(app, tenant.id)
    key_id, token = issue_api_key(app, tenant.id)
    prefix, public_id, secret = token.split("_", 2)
    wrong_secret = f"{prefix}_{public_id}_{'A' * len(secret)}"
    unknown = f"{prefix}_{'0' * 12}_{secret}"
    client = app.test_client()
    for headers in ({}, {"Authorization": f"Basic {token}"}, bearer(""), bearer("not-a-key"), bearer(wrong_secret),
                    bearer(unknown), bearer(token + "x")):
        refused = client.get("/api/v1/clinic", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json["error"] == "unauthorized" and refused.headers["WWW-Authenticate"].startswith("Bearer")
    # A workspace session is not a key: the API takes no cookies (and so needs no CSRF).
    assert manager_client.get("/api/v1/clinic").status_code == 401
    assert client.get("/api/v1/clinic", headers=bearer(token)).status_code == 200
    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(ApiKey, key_id).revoked_at = db.func.now()
        db.session.commit()
    assert client.get("/api/v1/clinic", headers=bearer(token)).status_code == 401


def test_the_api_is_a_licensed_module(app, tenant):
    _, token = issue_api_key(app, tenant.id)  # the standard plan has no API
    refused = app.test_client().get("/api/v1/clinic", headers=bearer(token))
    assert refused.status_code == 403 and refused.json["error"] == "module_not_licensed"
    grant_api(app, tenant.id)
    answer = app.test_client().get("/api/v1/clinic", headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json["clinic"]["slug"] == tenant.slug and "api" in answer.json["licence"]["modules"]
    assert answer.json["key"] == {"name": "CRM", "scopes": ["read", "visits"]}


def test_each_key_opens_its_own_clinic_only_on_every_route(app, tenant, other_tenant):
    from jobs.worker import InlineAppWorker, build_worker

    for clinic in (tenant, other_tenant):
        grant_api(app, clinic.id)
    mine = make_response(app, tenant.id, nps=9, comment="Alpha's own comment")
    theirs = make_response(app, other_tenant.id, nps=1, comment="Beta's private comment", risk_level="critical")
    add_reviews(app, tenant.id, [5.0, 4.0])
    add_reviews(app, other_tenant.id, [1.0] * 6, site="beta-site")
    _, token = issue_api_key(app, tenant.id)
    _, other_token = issue_api_key(app, other_tenant.id)
    client = app.test_client()
    assert client.post("/api/v1/visits", headers=bearer(other_token),
                       json={"visits": [visit("B-1")]}).status_code == 201

    calls = {
        "api.clinic": lambda: client.get("/api/v1/clinic", headers=bearer(token)),
        "api.responses": lambda: client.get("/api/v1/responses", headers=bearer(token)),
        "api.metrics": lambda: client.get("/api/v1/metrics?period=2026-10", headers=bearer(token)),
        "api.push_visits": lambda: client.post("/api/v1/visits", headers=bearer(token),
                                               json={"visits": [visit("A-1"), visit("A-2")]}),
        "api.reputation": lambda: client.get("/api/v1/reputation", headers=bearer(token)),
        "api.openapi": lambda: client.get("/api/v1/openapi.json"),  # public, and about no clinic
    }
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert routes == set(calls), "a new API route needs its isolation check here"
    bodies = {}
    for endpoint, call in calls.items():
        answer = call()
        assert answer.status_code in (200, 201), (endpoint, answer.json)
        bodies[endpoint] = answer.get_data(as_text=True)
        assert "Beta" not in bodies[endpoint] and other_tenant.slug not in bodies[endpoint], endpoint
    assert [r["id"] for r in client.get("/api/v1/responses", headers=bearer(token)).json["responses"]] == [mine]
    assert [r["id"] for r in client.get("/api/v1/responses", headers=bearer(other_token)).json["responses"]] == \
        [theirs]
    assert (count_visits(app, tenant.id), count_visits(app, other_tenant.id)) == (2, 1)

    reputation = client.get("/api/v1/reputation", headers=bearer(token)).json
    assert [(s["scope"], s["reviews"]) for s in reputation["scopes"]][0] == ("clinic", 2)
    assert [s["name"] for s in reputation["scopes"] if s["scope"] == "clinic"] == ["Clinic alpha"]
    assert client.get("/api/v1/reputation", headers=bearer(other_token)).json["scopes"][0]["reviews"] == 6
    # What moves each index: the clinic's own reviews only (beta's six one-star reviews pull only beta's down).
    assert {r["site"] for r in reputation["drivers"]["reviews_up"]} == {"prodoctorov"}
    assert reputation["drivers"]["reviews_down"] == [] and reputation["drivers"]["above_neutral"] > 0
    theirs_moves = client.get("/api/v1/reputation", headers=bearer(other_token)).json["drivers"]
    assert {r["site"] for r in theirs_moves["reviews_down"]} == {"beta-site"} and theirs_moves["reviews_up"] == []

    # The recompute the push asked for runs in its own clinic: the metrics now count alpha's two patients.
    build_worker(app, ["metrics"], worker_class=InlineAppWorker).work(burst=True)
    figures = client.get("/api/v1/metrics?period=2026-10", headers=bearer(token)).json
    assert figures["clinic"] == tenant.slug and figures["patients"] == 2 and figures["visits"] == 2
    assert client.get("/api/v1/metrics?period=2026-10", headers=bearer(other_token)).json["patients"] == 1


def test_responses_come_page_by_page_without_contact_details(app, tenant):
    from app.models import utcnow

    grant_api(app, tenant.id)
    now = utcnow()
    ids = [make_response(app, tenant.id, nps=n, comment=f"Comment {n}", submitted_at=now - timedelta(days=10 - n),
                         contact_phone="+7 900 111-22-33" if n == 2 else None, ratings={"doctor": 5},
                         risk_level="critical" if n == 1 else "ok", open_case=n == 1)
           for n in range(1, 6)]
    _, token = issue_api_key(app, tenant.id, scopes=("read",))
    client = app.test_client()
    seen, after = [], 0
    while after is not None:
        page = client.get(f"/api/v1/responses?limit=2&after={after}", headers=bearer(token))
        assert page.status_code == 200
        seen.extend(page.json["responses"])
        after = page.json["next_after"]
    assert [r["id"] for r in seen] == ids
    text = str(seen)
    assert "111-22-33" not in text and "contact_phone" not in text
    first, second = seen[0], seen[1]
    assert first["case"]["status"] == "new" and first["risk_level"] == "critical" and first["urgent"] is True
    assert second["contact_left"] is True and second["ratings"] == {"doctor": 5} and second["comment"] == "Comment 2"
    assert first["submitted_at"].endswith("Z")

    since = (now - timedelta(days=6)).isoformat()
    recent = client.get("/api/v1/responses", query_string={"since": since}, headers=bearer(token)).json
    assert [r["nps"] for r in recent["responses"]] == [4, 5] and recent["next_after"] is None
    for bad in ("after=-1", "after=x", "limit=0", "limit=501", "since=yesterday",
                "since=9999-12-31T23:59:59-12:00", "since=0001-01-01T00:00:00%2B14:00", "after=%00",
                "since=2026-01-01%01"):
        refused = client.get(f"/api/v1/responses?{bad}", headers=bearer(token))
        assert refused.status_code == 400 and refused.json["error"] == "bad_parameter", bad
    for period in ("2026-13", "0001-01", "1989-12", "2000-01-01..2026-01-01", "2026-01-01..2025-01-01", "%00",
                   "9999-12", "9999-12-30..9999-12-30", "9999-12-31..9999-12-31", "3000"):
        refused = client.get(f"/api/v1/metrics?period={period}", headers=bearer(token))
        assert refused.status_code == 400 and refused.json["error"] == "bad_parameter", period

    # Reading comments is written to the access log, under the key's name; an empty page is not.
    with app.app_context(), tenant_scope(tenant.id):
        entries = db.session.scalars(select(AccessLog).where(AccessLog.action == "api_read")).all()
    assert [e.details["count"] for e in entries] == [2, 2, 1, 2]
    assert all(e.details["key"] == "CRM" and e.user_id is None for e in entries)


def test_visits_are_pushed_all_or_nothing_and_counted_once(app, tenant):
    grant_api(app, tenant.id)
    _, token = issue_api_key(app, tenant.id, scopes=("visits",))
    client = app.test_client()
    batch = [visit("P-1", amount=3500, gender="F", first_visit="yes"), visit("P-1", "2026-10-20", "1 200,50"),
             visit("P-2", "15.10.2026", 0)]
    created = client.post("/api/v1/visits", headers=bearer(token), json={"visits": batch})
    assert created.status_code == 201
    assert created.json | {"import_id": 0} == {"import_id": 0, "received": 3, "imported": 3, "duplicates": 0}
    again = client.post("/api/v1/visits", headers=bearer(token), json={"visits": batch + [visit("P-3")]})
    assert (again.json["imported"], again.json["duplicates"]) == (1, 3)
    assert count_visits(app, tenant.id) == 4

    bad = client.post("/api/v1/visits", headers=bearer(token), json={"visits": [
        visit("P-4"), visit("P-5", amount="a lot"), visit("", "2099-01-01"), {"patient": "P-6", "colour": "red"}, 7]})
    assert bad.status_code == 422 and bad.json["error"] == "invalid_visits"
    problems = {(e["index"], e["field"]) for e in bad.json["errors"]}
    assert {(1, "amount"), (2, "patient"), (2, "visited_on"), (3, "colour"), (3, "visited_on"), (3, "amount"),
            (4, None)} <= problems  # P-6 has no amount: required, not a free visit
    assert (0, "patient") not in problems
    assert count_visits(app, tenant.id) == 4  # nothing of the bad batch was written

    for body in ("not json", {"visits": []}, {"visits": "P-1"}, ["P-1"]):
        sent = (client.post("/api/v1/visits", headers=bearer(token), data=body, content_type="application/json")
                if isinstance(body, str) else client.post("/api/v1/visits", headers=bearer(token), json=body))
        assert sent.status_code == 400 and "visits" in sent.json["message"]
    too_many = client.post("/api/v1/visits", headers=bearer(token), json={"visits": [visit("P")] * 1001})
    assert too_many.status_code == 413
    # This key may push visits but not read.
    assert client.get("/api/v1/responses", headers=bearer(token)).json["error"] == "scope_missing"
    with app.app_context(), tenant_scope(tenant.id):
        imports = db.session.scalars(select(VisitImport).order_by(VisitImport.id)).all()
    assert [(i.filename, i.status, i.imported_rows, i.duplicate_rows) for i in imports] == \
        [("API: CRM", "done", 3, 0), ("API: CRM", "done", 1, 3)]
    # The pushes are listed with the file imports, and each one's page opens.
    owner = app.test_client()
    login(owner, tenant.owner_email)
    assert "API: CRM" in owner.get(tenant.url("visits/imports")).get_data(as_text=True)
    detail = owner.get(tenant.url(f"visits/imports/{imports[0].id}"))
    assert detail.status_code == 200 and "API: CRM" in detail.get_data(as_text=True)


def test_a_read_only_licence_reads_but_refuses_changes(app, tenant):
    grant_api(app, tenant.id, suspended=True)
    _, token = issue_api_key(app, tenant.id)
    client = app.test_client()
    assert client.get("/api/v1/responses", headers=bearer(token)).status_code == 200
    refused = client.post("/api/v1/visits", headers=bearer(token), json={"visits": [visit("P-1")]})
    assert refused.status_code == 403 and refused.json["error"] == "read_only"
    assert count_visits(app, tenant.id) == 0


def test_a_key_is_rate_limited(app, tenant, monkeypatch):
    grant_api(app, tenant.id)
    _, token = issue_api_key(app, tenant.id)
    _, second = issue_api_key(app, tenant.id, name="BI")
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 3)
    client = app.test_client()
    codes = [client.get("/api/v1/clinic", headers=bearer(token)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/clinic", headers=bearer(token))
    assert limited.json["error"] == "rate_limited" and limited.headers["Retry-After"] == "60"
    assert client.get("/api/v1/clinic", headers=bearer(second)).status_code == 200  # each key its own budget


def test_unknown_api_addresses_answer_in_json(app, tenant):
    grant_api(app, tenant.id)
    _, token = issue_api_key(app, tenant.id)
    client = app.test_client()
    # The API speaks English with a short code, even to a client whose language is Russian.
    russian = {**bearer(token), "Accept-Language": "ru"}
    missing = client.get("/api/v1/nothing-here", headers=russian)
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
    assert "openapi.json" in missing.json["message"]
    wrong_method = client.delete("/api/v1/visits", headers=russian)
    assert wrong_method.status_code == 405 and wrong_method.json["error"] == "method_not_allowed"
    # RFC 9110: a 405 says which methods the address does accept.
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"POST"}
    assert "GET" in client.open("/api/v1/clinic", method="TRACE", headers=bearer(token)).headers["Allow"]
    # The same for the web pages, whose error page stays in the visitor's language.
    page = client.put("/platform/login", headers={"Accept-Language": "ru"})
    assert page.status_code == 405 and "GET" in page.headers["Allow"] and "Метод" in page.get_data(as_text=True)


def test_the_owner_makes_uses_and_revokes_a_key(app, tenant, manager_client):
    page = manager_client.get(tenant.url("settings/api-keys")).get_data(as_text=True)
    assert "does not include the API" in page and "Make the key" not in page
    grant_api(app, tenant.id)
    page = manager_client.get(tenant.url("settings/api-keys")).get_data(as_text=True)
    token = form_token(page)
    for bad, message in (({"name": " ", "scopes": ["read"]}, "Give the key a name"),
                         ({"name": "CRM"}, "Choose what the key may do"),
                         ({"name": "CRM", "scopes": ["read", "admin"]}, "Choose what the key may do")):
        refused = manager_client.post(tenant.url("settings/api-keys"), data={"csrf_token": token, **bad})
        assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    made = manager_client.post(tenant.url("settings/api-keys"),
                               data={"csrf_token": token, "name": "Clinic CRM", "scopes": ["read"]})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    key = re.search(r'id="issued-token" type="text" readonly value="(vnk_[^"]+)"', made.get_data(as_text=True))[1]
    client = app.test_client()
    assert client.get("/api/v1/clinic", headers=bearer(key)).json["key"] == {"name": "Clinic CRM", "scopes": ["read"]}
    make_response(app, tenant.id, comment="Read by the CRM")
    assert client.get("/api/v1/responses", headers=bearer(key)).status_code == 200

    listing = manager_client.get(tenant.url("settings/api-keys")).get_data(as_text=True)
    assert "Clinic CRM" in listing and key not in listing  # shown once, never again
    assert key[:len("vnk_") + 13] + "…" in listing  # its public part tells keys apart
    log = manager_client.get(tenant.url("settings/access-log")).get_data(as_text=True)
    assert "API key “Clinic CRM”" in log and "read responses through the API" in log
    with app.app_context(), tenant_scope(tenant.id):
        key_id = db.session.scalar(select(ApiKey.id))
        assert db.session.get(ApiKey, key_id).last_used_at is not None
    revoked = manager_client.post(tenant.url(f"settings/api-keys/{key_id}/revoke"), data={"csrf_token": token})
    assert revoked.status_code == 302
    assert client.get("/api/v1/clinic", headers=bearer(key)).status_code == 401
    assert "revoked" in manager_client.get(tenant.url("settings/api-keys")).get_data(as_text=True)


@pytest.mark.parametrize("role", ["manager", "viewer"])
def test_only_owners_manage_keys(app, tenant, role):
    grant_api(app, tenant.id)
    email = add_member(app, tenant, f"{role}@alpha.test", role)
    client = app.test_client()
    login(client, email)
    assert client.get(tenant.url("settings/api-keys")).status_code == 403
    assert "API keys" not in client.get(tenant.url("settings/clinic")).get_data(as_text=True)


def test_hostile_parameters_and_values_get_a_clear_answer(app, tenant):
    from tests.test_hostile_input import HOSTILE

    grant_api(app, tenant.id)
    make_response(app, tenant.id)
    _, token = issue_api_key(app, tenant.id)
    client = app.test_client()
    for value in HOSTILE:
        for path, name in (("/api/v1/responses", "after"), ("/api/v1/responses", "limit"),
                           ("/api/v1/responses", "since"), ("/api/v1/metrics", "period")):
            answer = client.get(path, query_string={name: value}, headers=bearer(token))
            assert answer.status_code in (200, 400) and answer.is_json, (path, name, value, answer.status_code)
        for field in ("patient", "visited_on", "amount", "branch", "birth_year", "first_visit"):
            sent = client.post("/api/v1/visits", headers=bearer(token),
                               json={"visits": [visit("P-1") | {field: value}]})
            assert sent.status_code in (201, 422) and sent.is_json, (field, value, sent.status_code)
    nested = client.post("/api/v1/visits", headers=bearer(token),
                         json={"visits": [visit("P-9") | {"patient": {"id": 1}, "amount": [1]}]})
    assert nested.status_code == 422
    assert {(e["field"], e["message"]) for e in nested.json["errors"]} >= {
        ("patient", "must be a string or a number"), ("amount", "must be a string or a number")}


def _validator(document: dict, name: str):
    """A JSON Schema validator for one of the document's component schemas."""
    from jsonschema import Draft202012Validator

    schemas = json.loads(json.dumps(document["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/"))
    return Draft202012Validator({"$defs": schemas, "$ref": f"#/$defs/{name}"})


def test_the_openapi_document_is_valid_and_matches_what_the_api_answers(app, tenant):
    from openapi_spec_validator import validate

    from jobs.worker import InlineAppWorker, build_worker

    client = app.test_client()
    served = client.get("/api/v1/openapi.json")  # no key needed
    assert served.status_code == 200
    document = served.json
    validate(document)
    described = {(f"/api/v1{path}", method.upper()) for path, item in document["paths"].items() for method in item}
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == routes, "the OpenAPI document and the routes differ"

    grant_api(app, tenant.id)
    make_response(app, tenant.id, nps=2, comment="Rude", risk_level="critical", contact_phone="+7 900 000-00-00",
                  ratings={"doctor": 1, "waiting": 2}, open_case=True)
    make_response(app, tenant.id, nps=10, comment="")
    _, token = issue_api_key(app, tenant.id)
    batch = {"visits": [visit("P-1", gender="F", first_visit=True, birth_year=1980), visit("P-2", amount="1 200,50")]}
    assert not list(_validator(document, "VisitBatch").iter_errors(batch))
    answers = {
        "ClinicInfo": client.get("/api/v1/clinic", headers=bearer(token)),
        "ResponsePage": client.get("/api/v1/responses?limit=1", headers=bearer(token)),
        "ImportResult": client.post("/api/v1/visits", headers=bearer(token), json=batch),
        "VisitErrors": client.post("/api/v1/visits", headers=bearer(token), json={"visits": [{"patient": ""}]}),
        "Error": client.get("/api/v1/responses?limit=0", headers=bearer(token)),
    }
    build_worker(app, ["metrics"], worker_class=InlineAppWorker).work(burst=True)
    answers["Overview"] = client.get("/api/v1/metrics?period=2026-10", headers=bearer(token))
    add_reviews(app, tenant.id, [5.0, 4.0, 1.0, 5.0, 4.0, 5.0])
    answers["Reputation"] = client.get("/api/v1/reputation", headers=bearer(token))
    answers["ResponsePage (last)"] = client.get("/api/v1/responses?after=1&limit=5", headers=bearer(token))
    for name, answer in answers.items():
        problems = [e.message for e in _validator(document, name.split(" ")[0]).iter_errors(answer.json)]
        assert not problems, (name, problems)
    assert answers["Overview"].json["visits"] == 2  # a real overview, not an empty one
    assert answers["Reputation"].json["trend"] and answers["Reputation"].json["scopes"][0]["reviews"] == 6
    moves = answers["Reputation"].json["drivers"]
    clinic = answers["Reputation"].json["scopes"][0]
    assert moves["reviews_up"] and moves["reviews_down"]  # five and four stars up, one star down
    assert moves["above_neutral"] == pytest.approx(clinic["index"] - 50, abs=0.051)  # the index to a tenth


def test_reputation_needs_its_own_module_too(app, tenant):
    grant_api(app, tenant.id, modules=["api"])  # no web reputation
    _, token = issue_api_key(app, tenant.id)
    refused = app.test_client().get("/api/v1/reputation", headers=bearer(token))
    assert refused.status_code == 403 and "web reputation" in refused.json["message"]


def test_metrics_say_how_the_periods_cases_were_handled(app, tenant, other_tenant, client):
    """The overview's ``cases``: the period's cases of this clinic only, with the share resolved by the deadline
    and the median hours, as the report and the metrics CSV give them."""
    from datetime import datetime, timezone

    from app import cases as case_rules
    from app.models import Case
    from tests.factories import make_case

    opened = datetime(2026, 10, 5, 9, 0, tzinfo=timezone.utc)
    for clinic_id, count in ((tenant.id, 2), (other_tenant.id, 3)):
        grant_api(app, clinic_id)
        for hours in range(count):
            case_id = make_case(app, clinic_id)
            with app.app_context(), tenant_scope(clinic_id):
                case = db.session.get(Case, case_id)
                case.created_at, case.deadline_at = opened, opened + timedelta(hours=12)
                if hours == 0:
                    case_rules.log_contact(case, "reached", "", None, now=opened + timedelta(hours=1))
                    case_rules.resolve_case(case, "Called back", None, now=opened + timedelta(hours=20))
                db.session.commit()
    _, token = issue_api_key(app, tenant.id, ("read",))
    figures = client.get("/api/v1/metrics?period=2026-10", headers=bearer(token)).json
    assert figures["cases"] == {"opened": 2, "resolved": 1, "resolved_on_time": 0.0, "hours_to_resolve": 20.0,
                                "hours_to_first_contact": 1.0}
    assert client.get("/api/v1/metrics?period=2026-09", headers=bearer(token)).json["cases"] == {
        "opened": 0, "resolved": 0, "resolved_on_time": None, "hours_to_resolve": None, "hours_to_first_contact": None}
