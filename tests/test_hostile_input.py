"""Every route against hostile input: odd query strings and form values never give a 500.

The field names come from the code itself (every ``args``/``form``/``values`` lookup
under ``app/``), so a new parameter is covered the day it is written. The values are
the ones that have broken web apps before: digits ``int()`` refuses ("²"), huge and
negative numbers, impossible dates, addresses ``urlsplit`` refuses, NUL bytes, markup.
Tests run with exceptions propagated, so a crash shows its traceback here.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.analytics.pdf import chromium_path
from app.extensions import db
from app.parsing import whole_number
from tenants.context import tenant_scope
from tests.conftest import form_token
from tests.factories import OBJECT_FACTORIES

APP_DIR = Path(__file__).resolve().parent.parent / "app"

HOSTILE = [
    "", " ", "²", "١٢", "-1", "0", "99999999999999999999999", "1e309", "nan", "2024-02-30", "9999-99-99",
    "http://[", "\x00", "<script>alert(1)</script>", "' OR 1=1 --", "%", "[]", "x" * 3000, "Ω≈ç√ 😀",
    # The calendar's last day (no day follows it) and a page position past any integer column.
    "9999-12-31", "9999-12-30..9999-12-30", "9999-12-31..9999-12-31", "1_99999999999999999999",
]

_LOOKUP = re.compile(r"""\b(?:args|form|values)\s*(?:\.get(?:list)?\(\s*|\[\s*)["']([A-Za-z0-9_.\[\]-]{1,40})["']""")


def parameter_names() -> list[str]:
    names = set()
    for path in APP_DIR.rglob("*.py"):
        names.update(_LOOKUP.findall(path.read_text(encoding="utf-8")))
    for path in APP_DIR.rglob("*.html"):
        names.update(re.findall(r'\bname="([A-Za-z0-9_.\[\]-]{1,40})"', path.read_text(encoding="utf-8")))
    names.discard("csrf_token")
    return sorted(names)


@pytest.mark.parametrize(("raw", "expected"), [
    ("42", 42), (" 7 ", 7), ("١٢", 12), ("", None), (None, None), ("²", None), ("-1", None), ("1.5", None),
    ("2147483648", None), ("9" * 30, None), ("0", 0),
])
def test_whole_number(raw, expected):
    assert whole_number(raw) == expected


def test_whole_number_bounds():
    assert whole_number("23", maximum=23) == 23 and whole_number("24", maximum=23) is None
    assert whole_number("0", minimum=1) is None


def _path(app, rule, values):
    from flask import url_for

    with app.test_request_context():
        return url_for(rule.endpoint, **{name: values.get(name, "x") for name in rule.arguments})


def _hit(client, method, path, failures, allowed=(), **kwargs):
    try:
        response = client.open(path, method=method, **kwargs)
    except Exception as exc:  # noqa: BLE001 - collected and reported below
        failures.append(f"{method} {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        return None
    # 409 comes from the database refusing a write (see app/errors.py): one request at a time,
    # it means a form let through something it should have refused with a message.
    if (response.status_code >= 500 or response.status_code == 409) and response.status_code not in allowed:
        failures.append(f"{method} {path}: {response.status_code}")
    return response


def _query_sets(names):
    """One query string per hostile value, every known parameter set to it."""
    return [{name: value for name in names} for value in HOSTILE]


@pytest.fixture(scope="module")
def names():
    found = parameter_names()
    assert {"page", "q", "url", "nps"} <= set(found), found
    return found


def test_workspace_routes_survive_hostile_input(app, tenant, manager_client, names):
    ids = {name: factory(app, tenant.id) for name, factory in OBJECT_FACTORIES.items()} | {"slug": tenant.slug}
    rules = sorted((r for r in app.url_map.iter_rules() if r.endpoint.startswith("workspace.")), key=lambda r: r.rule)
    failures: list[str] = []
    requests = 0
    for rule in rules:
        if "GET" in rule.methods:
            path = _path(app, rule, ids)
            # Without Chromium the PDF route says so with a 503 and points to the printable page.
            allowed = (503,) if rule.endpoint == "workspace.export_report_pdf" and not chromium_path() else ()
            for index, query in enumerate(_query_sets(names)):
                # Every other request as htmx asks for a fragment, with a language header nobody sends.
                headers = {"HX-Request": "true", "Accept-Language": "xx;q=abc, ²;q=-1, *"} if index % 2 else {}
                _hit(manager_client, "GET", path, failures, allowed, query_string=query, headers=headers)
                requests += 1
    token = form_token(manager_client.get(tenant.url("settings/clinic")).get_data(as_text=True))
    # Form posts last, destructive ones too: they may remove what a later post names (404 is fine).
    for rule in rules:
        if "POST" not in rule.methods:
            continue
        path = _path(app, rule, ids)
        for value in HOSTILE:
            data = {name: value for name in names}
            data["csrf_token"] = token
            _hit(manager_client, "POST", path, failures, data=data)
            requests += 1
    assert requests > 1000
    assert not failures, "\n".join(dict.fromkeys(failures))


def test_public_invitation_and_operator_routes_survive_hostile_input(app, tenant, operator_client, names):
    from app.models import CollectionPoint

    from app.accounts import invite, start_password_reset

    with app.app_context(), tenant_scope(tenant.id):
        point_token = db.session.scalar(select(CollectionPoint.token).order_by(CollectionPoint.id))
        _, invitation_token = invite("new.member@example.test", "viewer", ttl_hours=24)
        reset_token = start_password_reset(tenant.owner_email, ttl_minutes=30)
        db.session.commit()
    tokens = {"public.questionnaire": point_token, "public.thanks": point_token,
              "workspace.accept_invitation": invitation_token, "auth.password_reset": reset_token}
    ids = {"tenant_id": tenant.id, "slug": tenant.slug, "source_id": OBJECT_FACTORIES["source_id"](app, tenant.id),
           "ticket": "x", "filename": "x", "token": "x"}
    failures: list[str] = []
    anonymous = app.test_client()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.startswith("workspace.") and rule.endpoint not in tokens:
            continue
        if rule.endpoint == "static" or "logout" in rule.endpoint:
            continue
        client = operator_client if rule.endpoint.startswith("platform.") else anonymous
        actions = ("renew", "plan", "reactivate", "suspend") if "action" in rule.arguments else ("",)
        paths = [_path(app, rule, ids | {"token": tokens.get(rule.endpoint, "x"), "action": action})
                 for action in actions]
        for path, value in ((path, value) for path in paths for value in HOSTILE):
            if "GET" in rule.methods:
                _hit(client, "GET", path, failures, query_string={name: value for name in names})
            if "POST" in rule.methods:
                # The form's own page, or for an action posted from another page, that page.
                form_page = path if "GET" in rule.methods else (
                    f"/platform/clinics/{tenant.id}" if client is operator_client else "/login")
                page = client.get(form_page)
                html = page.get_data(as_text=True) if page.status_code == 200 else ""
                token = re.search(r'name="csrf_token" value="([^"]+)"', html)
                data = {name: value for name in names}
                if token:
                    data["csrf_token"] = token.group(1)
                _hit(client, "POST", path, failures, data=data)
    assert not failures, "\n".join(dict.fromkeys(failures))


def test_a_write_refused_by_the_database_gets_a_clear_409(app, tenant):
    """Two requests can both pass a form's "already exists" check; the loser gets words, not a 500."""
    from sqlalchemy.exc import IntegrityError

    with app.test_request_context(tenant.url("settings/branches"),
                                  headers={"Accept-Language": "en"}):
        app.preprocess_request()  # enters the clinic named in the address, as a real request does
        response = app.make_response(app.handle_user_exception(
            IntegrityError("INSERT INTO branches", {}, Exception("UNIQUE constraint failed"))))
    assert response.status_code == 409
    assert "changed at the same moment" in response.get_data(as_text=True)
