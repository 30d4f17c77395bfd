"""Random fields and values against the public form and the editor: a 4xx at worst, never a 500."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.extensions import db
from app.models import CollectionPoint, Questionnaire
from tenants.context import tenant_scope
from tests.conftest import form_token

FIELD_NAMES = st.one_of(
    st.sampled_from(["q_nps", "q_rating_doctor", "q_rating_waiting", "q_would_return", "q_comment", "consent",
                     "contact_name", "contact_phone", "contact_email", "urgent", "publish_consent", "website",
                     "submission_key", "csrf_token", "action", "key", "type", "aspect", "label_ru", "label_en",
                     "required", "opt_key_0", "opt_ru_0", "opt_en_0", "opt_ru_3", "name", "kind",
                     "questionnaire_id", "branch_id", "doctor_id", "active", "language", "text", "name_0",
                     "url_0", "lang", "ref", "version", "size"]),
    st.text(min_size=1, max_size=20),
)
FIELD_VALUES = st.one_of(
    st.sampled_from(["", "0", "5", "10", "11", "-1", "yes", "no", "on", "nps", "rating", "single", "multiple",
                     "yesno", "text", "add", "update", "remove", "up", "down", "publish", "discard", "rename",
                     "comment", "rating_doctor", "nps", "ru", "en", "de", "1", "99999999999999999999",
                     "https://example.org/", "javascript:alert(1)", "<script>", "\x00", "%s%n", "🙂" * 30]),
    st.text(max_size=300),
)
FIELDS = st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=12)

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def fuzz_target(app, tenant, manager_client, monkeypatch):
    # Many posts come from one test client: lift the per-client limit so the deep paths are reached.
    monkeypatch.setitem(app.config, "PUBLIC_FORM_CLIENT_LIMIT", 100_000)
    monkeypatch.setitem(app.config, "PUBLIC_FORM_POINT_LIMIT", 100_000)
    with app.app_context(), tenant_scope(tenant.id):
        point_id, token = db.session.execute(select(CollectionPoint.id, CollectionPoint.token)).one()
        questionnaire_id = db.session.scalar(select(Questionnaire.id))
    return {"token": token, "point_id": point_id, "questionnaire_id": questionnaire_id}


def _with_real_tokens(pairs, csrf, submission_key, use_tokens):
    data = list(pairs)
    if use_tokens:
        data = [(k, v) for k, v in data if k not in ("csrf_token", "submission_key")]
        data += [("csrf_token", csrf), ("submission_key", submission_key)]
    return data


@given(pairs=FIELDS, use_tokens=st.booleans(), query=st.dictionaries(st.sampled_from(["lang", "ref", "x"]),
                                                                       st.text(max_size=30), max_size=2))
@FUZZ
def test_public_endpoints_never_fail(app, fuzz_target, pairs, use_tokens, query):
    from werkzeug.datastructures import MultiDict

    patient = app.test_client()
    token = fuzz_target["token"]
    html = patient.get(f"/q/{token}").get_data(as_text=True)
    csrf = form_token(html)
    key = re.search(r'name="submission_key" value="([^"]+)"', html).group(1)
    data = MultiDict(_with_real_tokens(pairs, csrf, key, use_tokens))
    posted = patient.post(f"/q/{token}", data=data, query_string=query)
    assert posted.status_code in (302, 400, 413, 422, 429), posted.status_code
    thanks = patient.get(f"/q/{token}/thanks", query_string=query)
    assert thanks.status_code == 200
    junk = "".join(v for _, v in pairs)[:80] or "x"
    for path in (f"/s/{junk}", f"/q/{junk}", f"/q/{junk}/thanks"):
        response = patient.get(path.replace("?", "%3F").replace("#", "%23"), query_string=query)
        assert response.status_code in (200, 301, 302, 308, 404), (path, response.status_code)
    assert patient.post(f"/s/{token}", data=data).status_code in (404, 405)


@given(pairs=FIELDS, target=st.sampled_from(["questionnaires", "editor", "points", "point", "consent", "reviews",
                                              "preview", "poster"]))
@FUZZ
def test_editor_endpoints_never_fail(app, tenant, manager_client, fuzz_target, pairs, target):
    from werkzeug.datastructures import MultiDict

    paths = {"questionnaires": "questionnaires", "editor": f"questionnaires/{fuzz_target['questionnaire_id']}",
             "points": "points", "point": f"points/{fuzz_target['point_id']}", "consent": "settings/consent",
             "reviews": "settings/review-sites",
             "preview": f"questionnaires/{fuzz_target['questionnaire_id']}/preview",
             "poster": f"points/{fuzz_target['point_id']}/poster"}
    path = tenant.url(paths[target])
    if target in ("preview", "poster"):
        response = manager_client.get(path, query_string=MultiDict(pairs))
        assert response.status_code in (200, 404), response.status_code
        return
    csrf = form_token(manager_client.get(tenant.url("questionnaires")).get_data(as_text=True))
    data = MultiDict([(k, v) for k, v in pairs if k != "csrf_token"] + [("csrf_token", csrf)])
    response = manager_client.post(path, data=data)
    assert response.status_code in (302, 400), (target, response.status_code)
    # Whatever was posted, the pages still render.
    assert manager_client.get(path).status_code == 200
