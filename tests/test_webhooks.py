"""Webhooks: signed events to a real receiver on loopback, retries, giving up, and one clinic per webhook."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app import webhooks
from app.api.views import OPENAPI_DOCUMENT
from app.extensions import db
from app.models import AccessLog, Case, Response, Webhook, WebhookDelivery, utcnow
from jobs.worker import InlineAppWorker, build_worker
from tenants.context import tenant_scope
from tests.conftest import add_member, form_token, login
from tests.factories import make_response, make_webhook
from tests.feedback_helpers import point_token, submit
from tests.loopback_site import LoopbackSite, Reply
from tests.test_api import _validator, grant_api
from tests.test_reputation_service import _import, add_source, fast_fetch, run_scrape_job  # noqa: F401 (fixture)

PHONE = "+7 900 123-45-67"


def run_worker(app):
    build_worker(app, ["default"], worker_class=InlineAppWorker).work(burst=True)


EVENT_SCHEMAS = {"response.created": "ResponseCreatedEvent", "case.opened": "CaseOpenedEvent",
                 "case.resolved": "CaseResolvedEvent", "review.negative": "ReviewNegativeEvent",
                 "ping": "PingEvent"}


def verified(post, secret: str) -> dict:
    """The event's JSON, after checking its signature as a receiver would, and its shape against the
    OpenAPI document's ``webhooks`` (whose schemas forbid fields they do not name)."""
    _, headers, body = post
    stamp, signed = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["Vernost-Signature"]).groups()
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, signed), "the signature does not match the body"
    event = json.loads(body)
    assert headers["Vernost-Event"] == event["event"] and headers["Vernost-Delivery"] == event["id"]
    document = json.loads(OPENAPI_DOCUMENT.read_text())
    schema = document["webhooks"][event["event"]]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith(EVENT_SCHEMAS[event["event"]])
    problems = [e.message for e in _validator(document, EVENT_SCHEMAS[event["event"]]).iter_errors(event)]
    assert not problems, problems
    return event


def secret_of(app, clinic_id: int, webhook_id: int) -> str:
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.get(Webhook, webhook_id).secret


def deliveries(app, clinic_id: int) -> list[WebhookDelivery]:
    with app.app_context(), tenant_scope(clinic_id):
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        db.session.expunge_all()
        return rows


def test_an_answer_reaches_its_own_clinics_webhook_signed_and_without_contacts(app, tenant, other_tenant, client):
    grant_api(app, tenant.id)
    grant_api(app, other_tenant.id)
    with LoopbackSite({"/mine": Reply(204), "/theirs": Reply(204)}) as receiver:
        mine = make_webhook(app, tenant.id, receiver.url("/mine"))
        make_webhook(app, other_tenant.id, receiver.url("/theirs"))
        token = point_token(app, tenant.id)
        page = client.get(f"/q/{token}?lang=ru").get_data(as_text=True)
        consent = re.search(r'name="consent" value="(\d+)"', page).group(1)
        sent = submit(client, token, {"q_nps": "1", "q_comment": "Нахамили в регистратуре", "contact_name": "Анна",
                                      "contact_phone": PHONE, "consent": consent})
        assert sent.status_code == 302
        run_worker(app)  # the follow-up job announces; the deliveries it promises run in the same burst

        assert {path for path, _, _ in receiver.posts} == {"/mine"}  # the other clinic's receiver hears nothing
        secret = secret_of(app, tenant.id, mine)
        events = {event["event"]: event for event in (verified(post, secret) for post in receiver.posts)}
    assert set(events) == {"response.created", "case.opened"}
    answer = events["response.created"]["data"]["response"]
    assert answer["comment"] == "Нахамили в регистратуре" and answer["nps"] == 1 and answer["contact_left"] is True
    assert answer["sentiment"]["label"] == "negative"  # sent after the follow-up job scored it
    assert events["case.opened"]["data"]["case"]["origin"] == "auto"
    assert events["case.opened"]["clinic"] == tenant.slug
    for event in events.values():
        # The phone in any spelling ("900" alone also turns up in timestamps such as 14.490022).
        body = json.dumps(event, ensure_ascii=False)
        assert "9001234567" not in body.replace(" ", "").replace("-", "") and "123-45-67" not in body
        assert "Анна" not in body
    assert [(d.event, d.state, d.last_status_code) for d in deliveries(app, tenant.id)] == [
        ("response.created", "delivered", 204), ("case.opened", "delivered", 204)]
    # The access log says that the answer left for another system, and where.
    with app.app_context(), tenant_scope(tenant.id):
        logged = db.session.scalars(select(AccessLog).where(AccessLog.action == "webhook_sent")).all()
        assert sorted(entry.details["event"] for entry in logged) == ["case.opened", "response.created"]
        assert {entry.details["host"] for entry in logged} == {"127.0.0.1"}
        assert {entry.subject_id for entry in logged} == {str(answer["id"])}
    with app.app_context(), tenant_scope(other_tenant.id):
        assert db.session.scalars(select(AccessLog).where(AccessLog.action == "webhook_sent")).all() == []


def test_a_failing_receiver_is_retried_then_given_up_and_the_webhook_paused(app, tenant, monkeypatch):
    grant_api(app, tenant.id)
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 2)
    with LoopbackSite({"/flaky": [Reply(500), Reply(200)], "/down": Reply(503)}) as receiver:
        flaky = make_webhook(app, tenant.id, receiver.url("/flaky"), events=["response.created"])
        response_id = make_response(app, tenant.id)
        with app.app_context(), tenant_scope(tenant.id):
            [job] = webhooks.announce("response.created", response_id, f"response:{response_id}")
            db.session.commit()
            delivery_id = db.session.scalar(select(WebhookDelivery.id))
            now = utcnow()
            assert webhooks.deliver(delivery_id, now) == "retry"
            assert webhooks.deliver(delivery_id, now) == "not_claimed"  # not due before its backoff
            assert webhooks.due_deliveries(now + timedelta(seconds=59)) == []
            assert webhooks.due_deliveries(now + timedelta(minutes=1)) == [(tenant.id, delivery_id)]
            assert webhooks.deliver(delivery_id, now + timedelta(minutes=1)) == "delivered"
            row = db.session.get(WebhookDelivery, delivery_id)
            assert (row.attempts, row.last_status_code, row.last_error) == (2, 200, "")

            # A receiver that stays down: each delivery is given up after MAX_ATTEMPTS, and after
            # DISABLE_AFTER given up in a row the webhook is paused, with the reason.
            db.session.delete(db.session.get(Webhook, flaky))
            down = webhooks.create_webhook(receiver.url("/down"), ["response.created"], None)
            db.session.commit()
            for n in range(webhooks.DISABLE_AFTER):
                webhooks.announce("response.created", response_id, f"again:{n}")
                db.session.commit()
                [(_, delivery_id)] = webhooks.due_deliveries(utcnow() + timedelta(minutes=1))
                moment = utcnow()
                outcomes = [webhooks.deliver(delivery_id, moment + timedelta(hours=attempt))
                            for attempt in range(webhooks.MAX_ATTEMPTS)]
                assert outcomes == ["retry"] * (webhooks.MAX_ATTEMPTS - 1) + ["failed"]
            down = db.session.get(Webhook, down.id)
            assert not down.active and "HTTP 503" in down.disabled_reason
            assert webhooks.announce("response.created", response_id, "after-pause") == []
    assert receiver.hits["/down"] == webhooks.DISABLE_AFTER * webhooks.MAX_ATTEMPTS


def test_the_sweep_sends_what_redis_lost_and_a_deleted_answer_is_not_sent(app, tenant):
    grant_api(app, tenant.id)
    with LoopbackSite({"/hook": Reply(200)}) as receiver:
        make_webhook(app, tenant.id, receiver.url("/hook"), events=["response.created"])
        kept, erased = make_response(app, tenant.id), make_response(app, tenant.id)
        with app.app_context(), tenant_scope(tenant.id):
            for response_id in (kept, erased):  # announced, but the promised jobs never reach Redis
                webhooks.announce("response.created", response_id, f"response:{response_id}")
            db.session.delete(db.session.get(Response, erased))  # erased on the patient's request
            db.session.commit()
        with app.app_context():
            assert webhooks.sweep() == 0  # too fresh: their own jobs may still come
            assert webhooks.sweep(utcnow() + webhooks.FIRST_SEND_GRACE + timedelta(seconds=1)) == 2
        run_worker(app)
        [post] = receiver.posts
    assert json.loads(post[2])["data"]["response"]["id"] == kept
    states = {d.subject_id: (d.state, d.last_error) for d in deliveries(app, tenant.id)}
    assert states == {kept: ("delivered", ""), erased: ("skipped", "the answer or case no longer exists")}


def test_addresses_must_be_public_https(app, tenant, monkeypatch):
    refused = ["", "ftp://example.org/x", "https://", "https://user:secret@93.184.216.34/hook",
               "http://93.184.216.34/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook",
               "https://[::1]/hook", "https://169.254.169.254/latest", "https://" + "a" * 500 + ".ru/",
               "https://exämple..com/x", "https://xn--a.com/"]  # hosts the sender itself cannot parse
    for url in refused:
        with pytest.raises(webhooks.WebhookError):
            webhooks.check_destination(url, allow_private=False)
    assert webhooks.check_destination(" https://93.184.216.34/hook ", allow_private=False) == \
        "https://93.184.216.34/hook"
    # A webhook saved while local addresses were allowed is not called once they are not.
    grant_api(app, tenant.id)
    with LoopbackSite({"/hook": Reply(200)}) as receiver:
        make_webhook(app, tenant.id, receiver.url("/hook"), events=["response.created"])
        response_id = make_response(app, tenant.id)
        monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
        with app.app_context(), tenant_scope(tenant.id):
            webhooks.announce("response.created", response_id, "r")
            db.session.commit()
            assert webhooks.deliver(db.session.scalar(select(WebhookDelivery.id))) == "failed"
        assert receiver.posts == []
    [row] = deliveries(app, tenant.id)
    assert "https://" in row.last_error

    # One saved before such hosts were refused fails for good, instead of crashing its job each minute.
    hook_id = make_webhook(app, tenant.id, "https://93.184.216.34/hook", events=["response.created"])
    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(Webhook, hook_id).url = "https://xn--a.com/"
        webhooks.announce("response.created", response_id, "r2")
        db.session.commit()
        delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id))
        assert webhooks.deliver(delivery.id) == "failed"
        db.session.refresh(delivery)
        assert delivery.state == "failed" and delivery.next_attempt_at is None


def test_the_owner_adds_tests_pauses_and_deletes_a_webhook(app, tenant, manager_client):
    grant_api(app, tenant.id)
    page = manager_client.get(tenant.url("settings/webhooks"))
    assert page.status_code == 200 and "No webhooks yet." in page.get_data(as_text=True)
    token = form_token(page.get_data(as_text=True))
    with LoopbackSite({"/hook": Reply(200)}) as receiver:
        bad = manager_client.post(tenant.url("settings/webhooks"),
                                  data={"csrf_token": token, "url": "javascript:alert(1)", "events": "case.opened"})
        assert bad.status_code == 400 and "https://" in bad.get_data(as_text=True)
        made = manager_client.post(tenant.url("settings/webhooks"), data={
            "csrf_token": token, "url": receiver.url("/hook"), "events": ["case.opened", "case.resolved"]})
        assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
        with app.app_context(), tenant_scope(tenant.id):
            hook = db.session.scalar(select(Webhook))
            assert hook.events == ["case.opened", "case.resolved"] and hook.secret in made.get_data(as_text=True)
            secret, hook_id = hook.secret, hook.id
        assert secret not in manager_client.get(tenant.url("settings/webhooks")).get_data(as_text=True)

        assert manager_client.post(tenant.url(f"settings/webhooks/{hook_id}"),
                                   data={"csrf_token": token, "action": "test"}).status_code == 302
        run_worker(app)
        [ping] = receiver.posts
        assert verified(ping, secret)["data"] == {"message": "Vernost can reach this address."}
        listed = manager_client.get(tenant.url("settings/webhooks")).get_data(as_text=True)
        assert "ping" in listed and "delivered" in listed

        # Resolving a case from its page announces it.
        response_id = make_response(app, tenant.id, nps=2, risk_level="at_risk", open_case=True)
        with app.app_context(), tenant_scope(tenant.id):
            case_id = db.session.scalar(select(Case.id).where(Case.response_id == response_id))
        resolved = manager_client.post(tenant.url(f"cases/{case_id}/resolve"),
                                       data={"csrf_token": token, "resolution": "Позвонили, извинились"})
        assert resolved.status_code == 302
        run_worker(app)
        event = verified(receiver.posts[-1], secret)
        assert event["event"] == "case.resolved" and event["data"]["case"]["status"] == "resolved"
        assert "Позвонили" not in json.dumps(event, ensure_ascii=False)  # the resolution text stays inside
        # Correcting the resolution of the resolved case tells the receiver nothing new.
        delivered = len(receiver.posts)
        assert manager_client.post(tenant.url(f"cases/{case_id}/resolve"), data={
            "csrf_token": token, "resolution": "Позвонили, извинились, записали снова"}).status_code == 302
        run_worker(app)
        assert len(receiver.posts) == delivered

        for action in ("pause", "resume", "pause"):
            manager_client.post(tenant.url(f"settings/webhooks/{hook_id}"), data={"csrf_token": token, "action": action})
        with app.app_context(), tenant_scope(tenant.id):
            assert db.session.get(Webhook, hook_id).active is False
        paused_test = manager_client.post(tenant.url(f"settings/webhooks/{hook_id}"),
                                          data={"csrf_token": token, "action": "test"}, follow_redirects=True)
        assert "Nothing was sent" in paused_test.get_data(as_text=True)
        assert manager_client.post(tenant.url(f"settings/webhooks/{hook_id}"),
                                   data={"csrf_token": token, "action": "explode"}).status_code == 400
        manager_client.post(tenant.url(f"settings/webhooks/{hook_id}"), data={"csrf_token": token, "action": "delete"})
    assert deliveries(app, tenant.id) == []  # a webhook's deliveries go with it


def test_only_owners_with_the_module_manage_webhooks(app, tenant, client):
    manager = add_member(app, tenant, "manager@webhooks.test", "manager")
    login(client, manager)
    assert client.get(tenant.url("settings/webhooks")).status_code == 403
    owner = app.test_client()
    login(owner, tenant.owner_email)
    grant_api(app, tenant.id, modules=[])
    page = owner.get(tenant.url("settings/webhooks")).get_data(as_text=True)
    assert "does not include the API and webhooks" in page
    refused = owner.post(tenant.url("settings/webhooks"), data={
        "csrf_token": form_token(page), "url": "https://93.184.216.34/hook", "events": "case.opened"})
    assert refused.status_code == 403
    # Without the module nothing is announced either, even for a webhook made before.
    grant_api(app, tenant.id)
    make_webhook(app, tenant.id)
    grant_api(app, tenant.id, modules=[])
    with app.app_context(), tenant_scope(tenant.id):
        assert webhooks.announce("response.created", 1, "x") == []


def test_a_job_in_one_clinic_cannot_send_another_clinics_delivery(app, tenant, other_tenant):
    grant_api(app, other_tenant.id)
    with LoopbackSite({"/hook": Reply(200)}) as receiver:
        make_webhook(app, other_tenant.id, receiver.url("/hook"), events=["response.created"])
        response_id = make_response(app, other_tenant.id)
        with app.app_context(), tenant_scope(other_tenant.id):
            webhooks.announce("response.created", response_id, "r")
            db.session.commit()
            theirs = db.session.scalar(select(WebhookDelivery.id))
        with app.app_context(), tenant_scope(tenant.id):  # a job that names the wrong clinic
            assert webhooks.deliver(theirs) == "not_claimed"
            assert webhooks.recent_deliveries() == []
        assert receiver.posts == []
    [row] = deliveries(app, other_tenant.id)
    assert (row.state, row.attempts) == ("pending", 0)


def test_new_negative_web_reviews_are_announced_once_and_old_ones_not(app, tenant, other_tenant, manager_client,
                                                                      fast_fetch):  # noqa: F811
    grant_api(app, tenant.id)
    grant_api(app, other_tenant.id)
    today = date.today()
    page = json.dumps({"@context": "https://schema.org", "@type": "MedicalClinic", "name": "Clinic", "review": [
        {"@type": "Review", "@id": "r1", "author": "Ирина", "datePublished": (today - timedelta(days=2)).isoformat(),
         "reviewRating": {"ratingValue": 1}, "reviewBody": "Три часа в очереди, в регистратуре нахамили."},
        {"@type": "Review", "@id": "r2", "author": "Олег", "datePublished": (today - timedelta(days=200)).isoformat(),
         "reviewRating": {"ratingValue": 2}, "reviewBody": "Давно это было, но осадок остался."},
        {"@type": "Review", "@id": "r3", "author": "Анна", "datePublished": (today - timedelta(days=1)).isoformat(),
         "reviewRating": {"ratingValue": 5}, "reviewBody": "Прекрасный врач, всё объяснил."}]}, ensure_ascii=False)
    routes = {"/robots.txt": Reply(200, b"User-agent: *\n", {"Content-Type": "text/plain"}),
              "/clinic": Reply(200, f"<html><script type='application/ld+json'>{page}</script></html>".encode()),
              "/mine": Reply(200), "/theirs": Reply(200)}
    with LoopbackSite(routes) as site:
        mine = make_webhook(app, tenant.id, site.url("/mine"), events=["review.negative"])
        make_webhook(app, other_tenant.id, site.url("/theirs"), events=["review.negative"])
        add_source(app, tenant.id, site.url("/clinic"))
        add_source(app, other_tenant.id, site.url("/clinic"))  # the same page, not scraped for this clinic
        run_scrape_job(app, tenant.id)
        run_worker(app)
        run_scrape_job(app, tenant.id)  # a second read adds nothing and announces nothing
        run_worker(app)
        assert {path for path, _, _ in site.posts} == {"/mine"}
        [post] = site.posts  # the review from 200 days ago came with the source: history, not news
        review = verified(post, secret_of(app, tenant.id, mine))["data"]["review"]
        assert review["rating"] == 1.0 and review["sentiment"]["label"] == "negative"
        assert review["text"] == "Три часа в очереди, в регистратуре нахамили."
        assert review["published_on"] == (today - timedelta(days=2)).isoformat()
        assert review["url"] == site.url("/clinic") and review["site"] and review["replied"] is False
        assert "reception" in review["topics"] and "Ирина" not in post[2].decode()
        # Reviews a manager imports are announced too, once they are stored.
        pasted = f"{today.isoformat()} | 1 | Пётр\nНикто не перезвонил, запись потеряли.\n"
        assert _import(manager_client, tenant, pasted=pasted).status_code == 302
        run_worker(app)
        assert len(site.posts) == 2
        imported = verified(site.posts[1], secret_of(app, tenant.id, mine))["data"]["review"]
        assert imported["site"] == "import" and imported["text"] == "Никто не перезвонил, запись потеряли."


def test_nothing_queued_goes_out_once_the_clinics_deletion_is_scheduled(app, tenant):
    from app.models import Tenant

    grant_api(app, tenant.id)
    with LoopbackSite({"/hook": Reply(200)}) as receiver:
        make_webhook(app, tenant.id, receiver.url("/hook"), events=["response.created"])
        response_id = make_response(app, tenant.id)
        with app.app_context(), tenant_scope(tenant.id):
            webhooks.announce("response.created", response_id, "r")
            db.session.commit()
            db.session.get(Tenant, tenant.id).delete_after = utcnow()
            db.session.commit()
            assert webhooks.deliver(db.session.scalar(select(WebhookDelivery.id))) == "skipped"
        assert receiver.posts == []
    [row] = deliveries(app, tenant.id)
    assert row.state == "skipped" and row.last_error == "the clinic is ending"
