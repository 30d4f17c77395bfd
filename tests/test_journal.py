"""The review journal: filters, keyset pages, the live endpoints, role visibility and the widget."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AccessLog, Response, utcnow
from tenants.context import tenant_scope
from tests.conftest import add_member, form_token, login
from tests.factories import make_branch, make_doctor, make_response
from tests.feedback_helpers import point_token, submit


def _ids(html: str) -> list[int]:
    import re

    return [int(x) for x in re.findall(r'<article class="entry[^"]*" id="r-(\d+)"', html)]


def test_journal_lists_newest_first_with_entry_details(app, tenant, manager_client):
    branch = make_branch(app, tenant.id, "North")
    doctor = make_doctor(app, tenant.id, "Dr Petrova")
    now = utcnow()
    old = make_response(app, tenant.id, submitted_at=now - timedelta(hours=2), comment="Fine visit")
    new = make_response(app, tenant.id, submitted_at=now - timedelta(minutes=5), nps=3, risk_level="at_risk",
                        comment="Waited an hour", branch_id=branch, doctor_id=doctor, ratings={"waiting": 1},
                        open_case=True)
    html = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    assert _ids(html) == [new, old]
    assert "Waited an hour" in html and "North" in html and "Dr Petrova" in html
    assert "at risk" in html and "Case" in html


@pytest.mark.parametrize("query, expected", [
    ("risk=at_risk", {"late"}),
    ("nps=promoter", {"praise", "silent"}),
    ("nps=detractor", {"late"}),
    ("comment=no", {"silent"}),
    ("q=HOUR", {"late"}),
    ("q=50%25", set()),
    ("case=open", {"late"}),
    ("case=none", {"praise", "silent", "old"}),
    ("period=today&nps=promoter", {"praise", "silent"}),
    ("period=7d", {"praise", "silent", "late"}),
    ("period=custom&date_from=2020-01-01&date_to=2020-01-31", {"old"}),
])
def test_filters_combine(app, tenant, manager_client, query, expected):
    now = utcnow()
    names = {
        make_response(app, tenant.id, nps=10, comment="Great doctor", submitted_at=now - timedelta(minutes=1)): "praise",
        make_response(app, tenant.id, nps=9, comment="", submitted_at=now - timedelta(minutes=2)): "silent",
        make_response(app, tenant.id, nps=4, comment="Waited an hour", risk_level="at_risk",
                      submitted_at=now - timedelta(minutes=3), open_case=True): "late",
        make_response(app, tenant.id, nps=8, comment="ok", submitted_at=datetime(2020, 1, 15, 12, tzinfo=timezone.utc)): "old",
    }
    response = manager_client.get(tenant.url(f"journal?{query}"))
    assert response.status_code == 200
    assert {names[i] for i in _ids(response.get_data(as_text=True))} == expected


def test_text_search_ignores_case_in_cyrillic(app, tenant, manager_client):
    match = make_response(app, tenant.id, comment="Врач Очень внимательный")
    make_response(app, tenant.id, comment="Долго ждали")
    for query in ("ВРАЧ", "очень", "Внимательный"):
        html = manager_client.get(tenant.url("journal"), query_string={"q": query}).get_data(as_text=True)
        assert _ids(html) == [match], query


def test_text_search_has_a_trigram_index_on_postgresql(app):
    from sqlalchemy import text

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the trigram index is PostgreSQL's")
        definition = db.session.scalar(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_responses_comment_trgm'"))
    assert "gin" in definition and "lower(comment) gin_trgm_ops" in definition


def test_branch_doctor_and_point_filters(app, tenant, manager_client):
    north, south = make_branch(app, tenant.id, "North"), make_branch(app, tenant.id, "South")
    doctor = make_doctor(app, tenant.id, "Dr Lee")
    a = make_response(app, tenant.id, branch_id=north, doctor_id=doctor)
    b = make_response(app, tenant.id, branch_id=south)
    assert _ids(manager_client.get(tenant.url(f"journal?branch={north}")).get_data(as_text=True)) == [a]
    assert _ids(manager_client.get(tenant.url(f"journal?branch={south}")).get_data(as_text=True)) == [b]
    assert _ids(manager_client.get(tenant.url(f"journal?doctor={doctor}&branch={north}")).get_data(as_text=True)) == [a]
    with app.app_context(), tenant_scope(tenant.id):
        point = db.session.get(Response, a).collection_point_id
    assert set(_ids(manager_client.get(tenant.url(f"journal?point={point}")).get_data(as_text=True))) == {a, b}


@pytest.mark.parametrize("query", ["risk=bad", "branch=x", "period=forever", "date_from=2020-13-01",
                                   "date_from=2020-02-01&date_to=2020-01-01", "cursor=garbage", "nps=11"])
def test_bad_filters_are_a_clear_400(tenant, manager_client, query):
    response = manager_client.get(tenant.url(f"journal?{query}"))
    assert response.status_code == 400


def test_keyset_pages_cover_everything_once(app, tenant, manager_client):
    now = utcnow()
    same_moment = now - timedelta(minutes=30)
    ids = [make_response(app, tenant.id, submitted_at=same_moment if i % 3 == 0 else now - timedelta(seconds=i))
           for i in range(60)]
    seen, url = [], tenant.url("journal")
    for _ in range(10):
        html = manager_client.get(url).get_data(as_text=True)
        seen += _ids(html)
        import re

        match = re.search(r'href="([^"]*cursor=[^"]+)"', html)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_load_more_keeps_filters_in_the_url(app, tenant, manager_client):
    for _ in range(30):
        make_response(app, tenant.id, nps=10, comment="Great")
    html = manager_client.get(tenant.url("journal?nps=promoter&comment=yes")).get_data(as_text=True)
    assert "nps=promoter" in html and "comment=yes" in html and "cursor=" in html


def _live_data(html: str) -> dict:
    import re

    return dict(re.findall(r'data-(marker-url|updates-url|marker|after)="([^"]*)"', html))


def test_live_marker_answers_204_until_something_changes(app, tenant, client, manager_client):
    html = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    live = _live_data(html)
    marker_url = live["marker-url"]
    # An anonymous request with the ticket is enough: nothing but a counter is revealed.
    unchanged = client.get(f"{marker_url}?m={live['marker']}&after={live['after']}")
    assert unchanged.status_code == 204 and unchanged.data == b""
    token = point_token(app, tenant.id)
    assert submit(app.test_client(), token, {"q_nps": "10", "q_comment": "Lovely staff"}, lang="en").status_code == 302
    changed = client.get(f"{marker_url}?m={live['marker']}&after={live['after']}")
    assert changed.status_code == 200 and changed.json["m"] != live["marker"]
    again = client.get(f"{marker_url}?m={changed.json['m']}&after={live['after']}")
    assert again.status_code == 204


def test_live_updates_return_only_new_entries_and_204_otherwise(app, tenant, manager_client):
    first = make_response(app, tenant.id, comment="First")
    html = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    after = int(_live_data(html)["after"])
    assert after == first
    old = utcnow() - timedelta(minutes=5)
    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(Response, first).submitted_at = old
        db.session.commit()
    assert manager_client.get(tenant.url(f"journal/updates?after={after}")).status_code == 204
    second = make_response(app, tenant.id, comment="Second", nps=10)
    from app.live import mark_changed

    with app.app_context():
        mark_changed(tenant.id)  # as the public form does after every submission
    response = manager_client.get(tenant.url(f"journal/updates?after={after}"), headers={"HX-Request": "true"})
    assert response.status_code == 200 and _ids(response.get_data(as_text=True)) == [second]
    assert response.headers["Cache-Control"] == "no-store"
    # Filters apply to live entries too.
    assert manager_client.get(tenant.url(f"journal/updates?after={after}&nps=detractor")).status_code == 204
    assert manager_client.get(tenant.url("journal/updates?after=x")).status_code == 400


def test_a_catch_up_with_more_than_it_carries_asks_the_page_to_reload(app, tenant, manager_client):
    """A tab asleep through 100+ answers must not jump its position past the ones it was not sent."""
    from app.journal import MAX_PAGE_SIZE

    after = make_response(app, tenant.id, comment="Seen before the nap")
    for n in range(5):
        make_response(app, tenant.id, comment=f"Few {n}")
    few = manager_client.get(tenant.url(f"journal/updates?after={after}")).get_data(as_text=True)
    assert len([i for i in _ids(few) if i > after]) == 5 and "journal-reload" not in few
    for n in range(MAX_PAGE_SIZE):
        make_response(app, tenant.id, comment=f"Many {n}")
    from app.live import mark_changed

    with app.app_context():
        mark_changed(tenant.id)  # as every submission does
    many = manager_client.get(tenant.url(f"journal/updates?after={after}")).get_data(as_text=True)
    assert 'id="journal-reload"' in many and len(_ids(many)) == MAX_PAGE_SIZE


def test_live_updates_bring_back_shown_entries_whose_case_changed(app, tenant, manager_client):
    from app.models import Case

    old = utcnow() - timedelta(hours=3)
    with_case = make_response(app, tenant.id, comment="Nobody called back", nps=2, risk_level="at_risk",
                              submitted_at=old, open_case=True)
    make_response(app, tenant.id, comment="Fine", submitted_at=old)
    newest = make_response(app, tenant.id, comment="Newest", submitted_at=old + timedelta(minutes=1))
    with app.app_context(), tenant_scope(tenant.id):
        case = db.session.scalar(select(Case).where(Case.response_id == with_case))
        case.updated_at = old
        db.session.commit()
        case_id = case.id
    assert manager_client.get(tenant.url(f"journal/updates?after={newest}")).status_code == 204
    page = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    changed = manager_client.post(tenant.url(f"cases/{case_id}/status"),
                                  data={"status": "in_progress", "csrf_token": form_token(page)})
    assert changed.status_code == 302
    response = manager_client.get(tenant.url(f"journal/updates?after={newest}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and _ids(html) == [with_case]  # only the changed one, redrawn
    assert "in progress" in html and 'data-version="' in html
    # Filters still apply: a view of positive answers does not get it.
    assert manager_client.get(tenant.url(f"journal/updates?after={newest}&nps=promoter")).status_code == 204


def test_marker_hands_out_the_shared_fragment_after_one_catch_up(app, tenant, client, manager_client):
    live = _live_data(manager_client.get(tenant.url("journal")).get_data(as_text=True))
    new_id = make_response(app, tenant.id, comment="Shared once", nps=10)
    from app.live import mark_changed

    with app.app_context():
        mark_changed(tenant.id)
    poll = f"{live['marker-url']}?m={live['marker']}&after={live['after']}"
    first = client.get(poll)
    assert first.status_code == 200 and "html" not in first.json  # nobody rendered it yet
    caught_up = manager_client.get(tenant.url(f"journal/updates?after={live['after']}"))
    assert _ids(caught_up.get_data(as_text=True)) == [new_id]
    assert caught_up.headers["X-Live-Ticket"]
    second = client.get(poll).json
    assert second["m"] == first.json["m"] and _ids(second["html"]) == [new_id]
    # Other filters are another question: not answered from this fragment.
    assert "html" not in client.get(poll + "&nps=detractor").json
    # An expired ticket is refused; the page then gets a fresh one from its catch-up.
    import time as _time

    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    from app.live import TICKET_SALT

    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self):
            return int(_time.time()) - 7200

    stale = URLSafeTimedSerializer(app.secret_key, salt=TICKET_SALT, signer=TwoHoursAgo).dumps([tenant.id, 1, 1, "en"])
    assert client.get(f"/live/{stale}?m=0&after=0").status_code == 404


def test_live_marker_falls_back_to_the_database_without_redis(app, tenant, client, manager_client):
    live = _live_data(manager_client.get(tenant.url("journal")).get_data(as_text=True))
    import redis

    saved = app.extensions.get("vernost_redis")
    # Nothing listens on port 1: every Redis call fails like a Redis outage.
    app.extensions["vernost_redis"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        assert client.get(f"{live['marker-url']}?m=0&after={live['after']}").status_code == 204
        make_response(app, tenant.id)
        assert client.get(f"{live['marker-url']}?m=0&after={live['after']}").status_code == 200
    finally:
        app.extensions["vernost_redis"] = saved


def test_live_ticket_of_one_clinic_is_useless_elsewhere(app, tenant, other_tenant, client, manager_client):
    live = _live_data(manager_client.get(tenant.url("journal")).get_data(as_text=True))
    ticket = live["marker-url"].rsplit("/", 1)[1]
    assert client.get(f"/live/{ticket[:-2]}xx?m=0").status_code == 404
    assert client.get("/live/forged?m=0").status_code == 404
    # Bumping the other clinic's marker does not change this clinic's answer.
    from app.live import mark_changed

    with app.app_context():
        mark_changed(other_tenant.id)
    assert client.get(f"{live['marker-url']}?m={live['marker']}&after=0").status_code == 204


def test_viewer_reads_but_cannot_see_contacts_or_handle_cases(app, tenant):
    response_id = make_response(app, tenant.id, nps=2, risk_level="critical", contact_phone="+7 900 111-22-33",
                                open_case=True)
    viewer = app.test_client()
    login(viewer, add_member(app, tenant, "viewer@alpha.test", "viewer"))
    html = viewer.get(tenant.url("journal")).get_data(as_text=True)
    assert "111-22-33" not in html and "The patient left contact details." in html
    detail = viewer.get(tenant.url(f"journal/{response_id}")).get_data(as_text=True)
    assert "111-22-33" not in detail
    assert viewer.get(tenant.url(f"journal/{response_id}/contact")).status_code == 403
    token = form_token(detail)
    assert viewer.post(tenant.url(f"journal/{response_id}/case"), data={"csrf_token": token}).status_code == 403
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(AccessLog)) is None


def test_manager_sees_contacts_on_request_and_it_is_logged(app, tenant, manager_client):
    response_id = make_response(app, tenant.id, nps=2, risk_level="critical", contact_phone="+7 900 111-22-33")
    html = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    assert "111-22-33" not in html and "Show contact details" in html
    shown = manager_client.get(tenant.url(f"journal/{response_id}/contact"), headers={"HX-Request": "true"})
    assert shown.status_code == 200 and "+7 900 111-22-33" in shown.get_data(as_text=True)
    with app.app_context(), tenant_scope(tenant.id):
        log = db.session.scalars(select(AccessLog)).all()
        assert [(e.action, e.subject_type, e.subject_id) for e in log] == [("view_contacts", "response", str(response_id))]


def test_opening_a_response_marks_it_seen_once(app, tenant, manager_client):
    response_id = make_response(app, tenant.id)
    assert manager_client.get(tenant.url(f"journal/{response_id}")).status_code == 200
    with app.app_context(), tenant_scope(tenant.id):
        first = db.session.get(Response, response_id).seen_at
    assert first is not None
    manager_client.get(tenant.url(f"journal/{response_id}"))
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Response, response_id).seen_at == first


def test_published_praise_appears_on_the_embeddable_widget(app, tenant, manager_client, client):
    praise = make_response(app, tenant.id, nps=10, comment="Thank you, Dr Lee!", publish_consent=True,
                           contact_phone="+7 900 555-66-77")
    private = make_response(app, tenant.id, nps=10, comment="Nice but private", publish_consent=False)
    widget = client.get(f"/w/{tenant.slug}/reviews")
    assert widget.status_code == 200 and "Thank you" not in widget.get_data(as_text=True)
    etag = widget.headers["ETag"]
    assert "X-Frame-Options" not in widget.headers and "frame-ancestors *" in widget.headers["Content-Security-Policy"]
    assert "public" in widget.headers["Cache-Control"]
    assert client.get(f"/w/{tenant.slug}/reviews", headers={"If-None-Match": etag}).status_code == 304

    token = form_token(manager_client.get(tenant.url(f"journal/{praise}")).get_data(as_text=True))
    assert manager_client.post(tenant.url(f"journal/{praise}/publish"), data={"csrf_token": token, "publish": "yes"}).status_code == 302
    assert manager_client.post(tenant.url(f"journal/{private}/publish"), data={"csrf_token": token, "publish": "yes"}).status_code == 400
    widget = client.get(f"/w/{tenant.slug}/reviews", headers={"If-None-Match": etag})
    body = widget.get_data(as_text=True)
    assert widget.status_code == 200 and "Thank you, Dr Lee!" in body
    assert "555-66-77" not in body and "Nice but private" not in body
    # The words shown change (contacts masked at the end of retention, the clinic renamed): not "not modified".
    etag = widget.headers["ETag"]
    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(Response, praise).comment = "Thank you, Dr ***!"
        db.session.commit()
    widget = client.get(f"/w/{tenant.slug}/reviews", headers={"If-None-Match": etag})
    assert widget.status_code == 200 and "Thank you, Dr ***!" in widget.get_data(as_text=True)
    etag = widget.headers["ETag"]
    with app.app_context():
        from app.models import Tenant

        db.session.get(Tenant, tenant.id).name = "Clinic Alpha Plus"
        db.session.commit()
    assert client.get(f"/w/{tenant.slug}/reviews", headers={"If-None-Match": etag}).status_code == 200
    assert client.get("/w/nope/reviews").status_code == 404
    # Everywhere else framing stays forbidden.
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


def test_rated_aspects_read_as_the_questionnaire_names_them(app, tenant, manager_client):
    from app.models import Questionnaire, QuestionnaireVersion

    with app.app_context(), tenant_scope(tenant.id):
        extra = Questionnaire(name="Parking survey")
        db.session.add(extra)
        db.session.flush()
        rating = {"key": "rating_parking", "type": "rating", "required": False, "aspect": "parking"}
        db.session.add_all([
            QuestionnaireVersion(questionnaire_id=extra.id, number=1, status="published",
                                 questions=[rating | {"label": {"ru": "Парковка", "en": "Parking"}}]),
            # A draft's wording was never shown to a patient.
            QuestionnaireVersion(questionnaire_id=extra.id, number=2, status="draft",
                                 questions=[rating | {"label": {"ru": "Стоянка", "en": "Car park"}}])])
        db.session.commit()
    response_id = make_response(app, tenant.id, nps=4, risk_level="at_risk", open_case=True,
                                ratings={"cleanliness": 2, "prices": 4, "parking": 1, "retired_aspect": 3})
    from app.analytics.refresh import full_recompute
    from app.models import Tenant

    with app.app_context(), tenant_scope(tenant.id):
        full_recompute(db.session.get(Tenant, tenant.id))
    pages = [tenant.url("journal"), tenant.url(f"journal/{response_id}"), tenant.url("dashboard")]
    english = [manager_client.get(page).get_data(as_text=True) for page in pages]
    for html in english[:2]:
        assert "Cleanliness <b>2</b>" in html and "Clarity of prices <b>4</b>" in html
        assert "Parking <b>1</b>" in html and "Car park" not in html
        assert "retired_aspect <b>3</b>" in html  # no questionnaire names it any more: the key is shown
        # In the order the questionnaires ask them (the newest first), unknown ones last.
        chips = [html.index(name) for name in ("Parking <b>", "Cleanliness <b>", "Clarity of prices <b>",
                                                "retired_aspect <b>")]
        assert chips == sorted(chips)
    assert '<th scope="row">Cleanliness</th>' in english[2]
    rows = [english[2].index(f'<th scope="row">{name}</th>') for name in ("Parking", "Cleanliness", "Clarity of prices")]
    assert rows == sorted(rows)
    page = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    manager_client.post(tenant.url("language"), data={"lang": "ru", "csrf_token": form_token(page)})
    russian = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    assert "Чистота <b>2</b>" in russian and "Понятность цен <b>4</b>" in russian and "Парковка <b>1</b>" in russian


def test_the_nps_circle_says_what_it_means_to_a_screen_reader(app, tenant, manager_client):
    from app.models import Case

    make_response(app, tenant.id, nps=3, risk_level="critical", open_case=True)
    make_response(app, tenant.id, nps=None, comment="Без оценки")
    journal = manager_client.get(tenant.url("journal")).get_data(as_text=True)
    assert '<span aria-hidden="true">3</span><span class="sr-only">Would recommend: 3 of 10</span>' in journal
    assert '<span class="sr-only">No NPS answer</span>' in journal
    with app.app_context(), tenant_scope(tenant.id):
        case_id = db.session.scalar(select(Case.id))
    case = manager_client.get(tenant.url(f"cases/{case_id}")).get_data(as_text=True)
    assert '<span class="sr-only">Would recommend: 3 of 10</span>' in case
