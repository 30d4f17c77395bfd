"""The public questionnaire: answers, consent, the red button, abuse and outages."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import CollectionPoint, PendingJob, Response, ResponseRating
from tenants.context import platform_scope, tenant_scope
from tests.feedback_helpers import form_fields, point_token, submit


def _responses(app, clinic_id):
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalars(select(Response).order_by(Response.id)).all()


def test_form_renders_in_both_languages(app, tenant, client):
    token = point_token(app, tenant.id)
    ru = client.get(f"/q/{token}?lang=ru").get_data(as_text=True)
    assert "порекомендуете" in ru and 'lang="ru"' in ru
    en = client.get(f"/q/{token}?lang=en").get_data(as_text=True)
    assert "recommend our clinic" in en and 'lang="en"' in en
    # The choice is remembered for the next page.
    assert "recommend our clinic" in client.get(f"/q/{token}").get_data(as_text=True)


def test_a_full_answer_is_stored_with_ratings_and_risk(app, tenant, client):
    token = point_token(app, tenant.id)
    response = submit(client, token, {"q_nps": "9", "q_rating_doctor": "5", "q_rating_waiting": "2",
                                       "q_would_return": "yes", "q_comment": "Врач замечательный, ждали долго."})
    assert response.status_code == 302 and "/thanks" in response.headers["Location"]
    [stored] = _responses(app, tenant.id)
    assert (stored.nps, stored.would_return, stored.min_rating) == (9, True, 2)
    assert stored.comment == "Врач замечательный, ждали долго."
    assert stored.risk_level == "at_risk" and stored.risk_reasons == ["aspect:waiting:2"]
    assert not stored.has_contact and stored.consent_text_id is None
    from jobs.worker import InlineAppWorker, build_worker

    build_worker(app, ["default"], worker_class=InlineAppWorker).work(burst=True)
    with app.app_context():
        from app.collection import flush_scans

        assert flush_scans() == 1
    with app.app_context(), tenant_scope(tenant.id):
        ratings = {r.aspect: r.score for r in db.session.scalars(select(ResponseRating))}
        point = db.session.scalar(select(CollectionPoint))
        assert (point.scans, point.completions) == (1, 1)
    assert ratings == {"doctor": 5, "waiting": 2}


def test_required_answer_and_bad_values_keep_what_was_entered(app, tenant, client):
    token = point_token(app, tenant.id)
    response = submit(client, token, {"q_nps": "", "q_rating_doctor": "7", "q_comment": "Мой длинный отзыв"},
                      lang="en")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Please answer this question." in html and "Please choose one of the options." in html
    assert "Мой длинный отзыв" in html
    assert _responses(app, tenant.id) == []


def test_contact_data_needs_consent(app, tenant, client):
    token = point_token(app, tenant.id)
    refused = submit(client, token, {"q_nps": "8", "contact_name": "Анна", "contact_phone": "+7 900 123-45-67"})
    assert refused.status_code == 422 and "согласие" in refused.get_data(as_text=True)
    assert "+7 900 123-45-67" in refused.get_data(as_text=True)
    assert _responses(app, tenant.id) == []
    consent_id = re.search(r'name="consent" value="(\d+)"', refused.get_data(as_text=True)).group(1)
    accepted = submit(client, token, {"q_nps": "8", "contact_name": "Анна", "contact_phone": "+7 900 123-45-67",
                                       "consent": consent_id})
    assert accepted.status_code == 302
    [stored] = _responses(app, tenant.id)
    assert stored.contact_phone == "+7 900 123-45-67" and stored.consent_text_id == int(consent_id)
    assert stored.consent_at is not None


def test_control_characters_are_dropped_not_the_answer(app, tenant, client):
    """PostgreSQL refuses NUL in text; the comment is kept without it."""
    token = point_token(app, tenant.id)
    response = submit(client, token, {"q_nps": "8", "q_comment": "Всё\x00 хорошо\x07\nспасибо"})
    assert response.status_code == 302
    [stored] = _responses(app, tenant.id)
    assert stored.comment == "Всё хорошо\nспасибо"


def test_a_patients_visit_costs_few_queries(app, tenant, client):
    """The public form is the hot path: 3 reads to show it, 6 statements to store an answer."""
    from sqlalchemy import event

    token = point_token(app, tenant.id)
    submit(client, token, {"q_nps": "9"})  # the first scan of a session is counted; later ones are not
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "set_config" not in statement:  # PostgreSQL's per-transaction clinic setting, not a table
            statements.append(statement.split(None, 1)[0])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        page = client.get(f"/q/{token}")
        shown = len(statements)
        response = client.post(f"/q/{token}", data=form_fields(page.get_data(as_text=True)) | {
            "q_nps": "7", "q_rating_doctor": "4", "q_comment": "Хорошо"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 302
    # point and clinic, published version, consent text; then the duplicate check, the version,
    # the response, its rating, its follow-up jobs, and nothing re-read after the commit.
    assert shown == 3 and len(statements) - shown == 6, statements


def test_anonymous_submission_stores_no_contact(app, tenant, client):
    token = point_token(app, tenant.id)
    submit(client, token, {"q_nps": "10", "consent": "1"})
    [stored] = _responses(app, tenant.id)
    assert stored.contact_name is None and stored.contact_phone is None and stored.consent_text_id is None


def test_red_button_is_critical_with_a_private_status_page(app, tenant, client):
    token = point_token(app, tenant.id)
    page = client.get(f"/q/{token}?lang=en").get_data(as_text=True)
    consent_id = re.search(r'name="consent" value="(\d+)"', page).group(1)
    response = submit(client, token, {"q_nps": "3", "urgent": "yes", "contact_phone": "+79001234567",
                                       "consent": consent_id, "q_comment": "Нагрубили в регистратуре"}, lang="en")
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    reference = re.search(r'id="reference">([^<]+)<', thanks).group(1)
    status_url = re.search(r'id="status-link" href="([^"]+)"', thanks).group(1)
    [stored] = _responses(app, tenant.id)
    assert stored.reference == reference and stored.risk_level == "critical" and stored.urgent
    assert stored.risk_reasons == ["urgent", "nps:3"]
    with app.app_context(), platform_scope():
        jobs = {j.func for j in db.session.scalars(select(PendingJob))}
    assert "jobs.alerts.alert_critical_response" in jobs
    status = app.test_client().get(status_url.replace("http://localhost", ""))
    assert status.status_code == 200 and reference in status.get_data(as_text=True)
    assert "received" in status.get_data(as_text=True).lower() or "получено" in status.get_data(as_text=True).lower()
    # Another patient's browser never sees the reference on the thank-you page.
    other = app.test_client().get(response.headers["Location"]).get_data(as_text=True)
    assert reference not in other


def test_red_button_needs_a_phone(app, tenant, client):
    token = point_token(app, tenant.id)
    response = submit(client, token, {"q_nps": "2", "urgent": "yes"}, lang="en")
    assert response.status_code == 422 and "leave a phone number" in response.get_data(as_text=True)


def test_double_submit_creates_one_response(app, tenant, client):
    token = point_token(app, tenant.id)
    page = client.get(f"/q/{token}").get_data(as_text=True)
    data = form_fields(page) | {"q_nps": "7"}
    first = client.post(f"/q/{token}", data=data)
    second = client.post(f"/q/{token}", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(_responses(app, tenant.id)) == 1


def test_a_reference_already_taken_is_drawn_again_and_the_answer_kept(app, tenant, other_tenant, client,
                                                                     monkeypatch):
    """References are random (32^6); at millions of answers a draw is sometimes taken, even in another clinic."""
    import app.feedback as feedback

    taken_id = make_response_with_reference(app, other_tenant.id, "VR-TAKEN1")
    draws = iter(["VR-TAKEN1", "VR-TAKEN1", "VR-FRESH2"])
    monkeypatch.setattr(feedback, "new_reference", lambda: next(draws))
    token = point_token(app, tenant.id)
    response = submit(client, token, {"q_nps": "3", "q_comment": "Долго ждали"})
    assert response.status_code == 302 and "ref=VR-FRESH2" in response.headers["Location"]
    stored = _responses(app, tenant.id)
    assert [(r.reference, r.nps, r.comment) for r in stored] == [("VR-FRESH2", 3, "Долго ждали")]
    with app.app_context(), tenant_scope(other_tenant.id):
        assert db.session.get(Response, taken_id).reference == "VR-TAKEN1"  # the other clinic's is untouched


def make_response_with_reference(app, clinic_id: int, reference: str) -> int:
    from tests.factories import make_response

    response_id = make_response(app, clinic_id)
    with app.app_context(), tenant_scope(clinic_id):
        db.session.get(Response, response_id).reference = reference
        db.session.commit()
    return response_id


def test_honeypot_is_answered_politely_and_stores_nothing(app, tenant, client):
    token = point_token(app, tenant.id)
    response = submit(client, token, {"q_nps": "10", "website": "http://spam.example"})
    assert response.status_code == 302
    assert _responses(app, tenant.id) == []


def test_expired_session_keeps_everything(app, tenant, client):
    token = point_token(app, tenant.id)
    page = client.get(f"/q/{token}?lang=en").get_data(as_text=True)
    data = form_fields(page) | {"csrf_token": "expired", "q_nps": "6", "q_comment": "Keep me"}
    response = client.post(f"/q/{token}?lang=en", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Everything you entered is kept" in html and "Keep me" in html and 'value="6" checked' in html


def test_rate_limit_per_client_keeps_answers(app, tenant, client, monkeypatch):
    monkeypatch.setattr("app.public.views.CLIENT_LIMIT", 2)
    token = point_token(app, tenant.id)
    for _ in range(2):
        assert submit(client, token, {"q_nps": "9"}).status_code == 302
    limited = submit(client, token, {"q_nps": "9", "q_comment": "третий"})
    assert limited.status_code == 429 and "третий" in limited.get_data(as_text=True)
    # Another client in the same clinic is not affected.
    other = app.test_client()
    assert submit(other, token, {"q_nps": "9"}, fields={}).status_code in (302, 429)
    assert len(_responses(app, tenant.id)) == 2 or len(_responses(app, tenant.id)) == 3


def test_redis_down_saves_the_response_and_its_jobs_run_later(app, tenant, client):
    from jobs.periodic import sweep_outbox
    from jobs.worker import InlineAppWorker, build_worker

    token = point_token(app, tenant.id)
    page = client.get(f"/q/{token}").get_data(as_text=True)
    good = app.config["REDIS_URL"]
    app.extensions.pop("vernost_redis", None)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        response = client.post(f"/q/{token}", data=form_fields(page) | {"q_nps": "4", "q_comment": "Очень долго ждали"})
        assert response.status_code == 302
        [stored] = _responses(app, tenant.id)
        assert stored.sentiment_label is None
        with app.app_context(), platform_scope():
            assert db.session.scalar(select(PendingJob)).enqueued_at is None
    finally:
        app.config["REDIS_URL"] = good
        app.extensions.pop("vernost_redis", None)
    with app.app_context():
        assert sweep_outbox(older_than_seconds=0) == 1
    build_worker(app, ["default"], worker_class=InlineAppWorker).work(burst=True)
    [scored] = _responses(app, tenant.id)
    assert scored.sentiment_label == "negative" and "waiting" in scored.topics


def _scans(app, tenant_id):
    with app.app_context(), tenant_scope(tenant_id):
        return db.session.scalar(select(CollectionPoint.scans))


def test_page_opens_are_counted_in_redis_and_written_by_the_flush(app, tenant, other_tenant, client):
    from app.collection import SCANS_KEY, flush_scans
    from app.extensions import redis_client
    from jobs.periodic import flush_scans as flush_job

    token = point_token(app, tenant.id)
    client.get(f"/q/{token}")
    client.get(f"/q/{token}")  # the same patient again: one open
    for _ in range(3):
        app.test_client().get(f"/q/{token}")
    assert _scans(app, tenant.id) == 0  # nothing written on the patient's path
    with app.app_context():
        assert redis_client().hget(SCANS_KEY, f"{tenant.id}:{_point_id(app, tenant.id)}") == b"4"
    with app.app_context():
        from app.collection import SCANS_FLUSH_LOCK

        held = redis_client().lock(SCANS_FLUSH_LOCK, timeout=30)
        assert held.acquire(blocking=False)  # a flush still writing on another worker
        assert flush_job() == 0  # this one stays out of its way: the batch is written once
        held.release()
    assert _scans(app, tenant.id) == 0
    with app.app_context():
        assert flush_job() == 4  # what the scheduler runs
    assert _scans(app, tenant.id) == 4
    with app.app_context():
        assert flush_scans() == 0 and not redis_client().exists(SCANS_KEY)
    assert _scans(app, tenant.id) == 4 and _scans(app, other_tenant.id) == 0


def _point_id(app, tenant_id):
    with app.app_context(), tenant_scope(tenant_id):
        return db.session.scalar(select(CollectionPoint.id))


def test_a_counter_naming_another_clinics_point_changes_nothing(app, tenant, other_tenant):
    from app.collection import SCANS_KEY, flush_scans
    from app.extensions import redis_client

    theirs = _point_id(app, other_tenant.id)
    with app.app_context():
        # A field that pairs this clinic with the other clinic's point is written in this clinic's scope.
        redis_client().hset(SCANS_KEY, mapping={f"{tenant.id}:{theirs}": 7, "garbage": 1})
        flush_scans()
        assert not redis_client().exists(SCANS_KEY)
    assert _scans(app, other_tenant.id) == 0


def test_a_flush_that_died_is_finished_by_the_next_one(app, tenant):
    from app.collection import SCANS_FLUSHING_KEY, SCANS_KEY, flush_scans
    from app.extensions import redis_client

    point = _point_id(app, tenant.id)
    with app.app_context():
        client = redis_client()
        client.hset(SCANS_FLUSHING_KEY, f"{tenant.id}:{point}", 2)  # left by a flush killed mid-way
        client.hset(SCANS_KEY, f"{tenant.id}:{point}", 5)  # opens since
        assert flush_scans() == 2
        assert flush_scans() == 5
    assert _scans(app, tenant.id) == 7


def test_page_opens_go_to_the_row_when_redis_is_down(app, tenant, client):
    token = point_token(app, tenant.id)
    good = app.config["REDIS_URL"]
    app.extensions.pop("vernost_redis", None)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        assert client.get(f"/q/{token}").status_code == 200
    finally:
        app.config["REDIS_URL"] = good
        app.extensions.pop("vernost_redis", None)
    assert _scans(app, tenant.id) == 1


def test_unknown_or_inactive_point_is_not_found(app, tenant, client):
    assert client.get("/q/doesnotexist").status_code == 404
    token = point_token(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        db.session.scalar(select(CollectionPoint)).active = False
        db.session.commit()
    assert client.get(f"/q/{token}").status_code == 404


def test_responses_go_to_the_points_clinic_only(app, tenant, other_tenant, client):
    submit(client, point_token(app, other_tenant.id), {"q_nps": "5"})
    assert _responses(app, tenant.id) == []
    assert len(_responses(app, other_tenant.id)) == 1


def test_database_down_is_a_503_that_says_to_send_again(redis_url, tmp_path):
    """Nothing listens on the database's port: the patient is told nothing was saved and when to retry."""
    from app import create_app

    down = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://nobody@127.0.0.1:1/none",
                       "REDIS_URL": redis_url, "SERVER_NAME": None, "INSTANCE_DIR": str(tmp_path)})
    client = down.test_client()
    english = {"Accept-Language": "en"}
    for response in (client.get("/q/abcdefghij", headers=english),
                     client.post("/q/abcdefghij", data={"q_nps": "9"}, headers=english)):
        page = response.get_data(as_text=True)
        assert response.status_code == 503 and response.headers["Retry-After"] == "30"
        assert "nothing was saved" in page and "send it again in a minute" in page
        assert "data-back" in page and "javascript:" not in page  # the page's own CSP forbids javascript: links
    russian = client.get("/q/abcdefghij", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "ничего не сохранилось" in russian
