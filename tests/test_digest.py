"""The daily digest's content, parts and languages, personal data, quiet days, commands and pages."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import DigestRun, Membership, User
from jobs.digests import dispatch
from tenants.context import platform_scope, tenant_scope
from tests.conftest import add_member, form_token, login
from tests.digest_helpers import add_response, ready_for_clock, run_worker
from tests.smtp_sink import parts, smtp_sink  # noqa: F401  (fixture)

UTC = timezone.utc
NOON_UTC = datetime(2027, 5, 10, 9, 0, tzinfo=UTC)  # noon in Moscow


def _set_language(app, email, language):
    with app.app_context(), platform_scope():
        db.session.execute(update(User).where(User.email == email).values(language=language))
        db.session.commit()


def _risky_day(app, clinic_id, marker):
    before = NOON_UTC - timedelta(hours=3)
    ids = {
        "ok": add_response(app, clinic_id, submitted_at=before, nps=10, comment=f"{marker} all good",
                           ratings={"staff": 5}),
        "at_risk": add_response(app, clinic_id, submitted_at=before - timedelta(hours=1), risk="at_risk", nps=6,
                                comment=f"{marker} waited an hour\nsecond line\nthird line\nfourth line hidden",
                                ratings={"waiting": 2}),
        "critical": add_response(app, clinic_id, submitted_at=before - timedelta(hours=2), risk="critical", nps=1,
                                 urgent=True, phone="+7 900 111-22-33", comment=f"{marker} rude at reception",
                                 ratings={"staff": 1}),
    }
    # Yesterday's and last week's answers for the day-over-day and week-over-week changes.
    add_response(app, clinic_id, submitted_at=NOON_UTC - timedelta(hours=30), nps=10, ratings={"staff": 5})
    add_response(app, clinic_id, submitted_at=NOON_UTC - timedelta(days=9), nps=3, risk="at_risk",
                 ratings={"staff": 2})
    return ids


def test_digest_content_parts_languages_and_contacts(app, tenant, other_tenant, smtp_sink):
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    ready_for_clock(app, other_tenant.id, "Europe/Moscow")
    viewer = add_member(app, tenant, "viewer@alpha.test", "viewer")
    _set_language(app, viewer, "en")
    ids = _risky_day(app, tenant.id, "ALPHA")
    _risky_day(app, other_tenant.id, "BETA-SECRET")
    with app.app_context():
        assert dispatch(NOON_UTC) == 2
    run_worker(app)

    [owner_mail] = smtp_sink.to(tenant.owner_email)
    [viewer_mail] = smtp_sink.to(viewer)
    assert len(smtp_sink.to(other_tenant.owner_email)) == 1
    assert len(smtp_sink.messages) == 3
    for message in (owner_mail, viewer_mail):
        assert message.get_content_type() == "multipart/alternative"
        text, html = parts(message)
        assert text and html.lstrip().startswith("<!doctype html>")
        # Nothing of the other clinic, and no external assets.
        assert "BETA" not in text and "BETA" not in html
        assert "<link" not in html and "<img" not in html and "<script" not in html
        assert 'style="' in html and "<table" in html
        # Ranked by severity: the critical one before the at-risk one; the fine one not listed.
        assert text.index("rude at reception") < text.index("waited an hour")
        assert "all good" not in text
        # First lines of the comment only.
        assert "third line" in text and "fourth line hidden" not in text
        for kind in ("critical", "at_risk"):
            assert f"http://localhost/c/alpha/journal/{ids[kind]}" in text
            assert f'href="http://localhost/c/alpha/journal/{ids[kind]}"' in html
        assert message["Message-ID"]
    owner_text, owner_html = parts(owner_mail)
    viewer_text, viewer_html = parts(viewer_mail)
    # The owner (Russian) may see the patient's phone; the viewer (English) may not.
    assert "+7 900 111-22-33" in owner_text and "+7 900 111-22-33" in owner_html
    assert "+7 900 111-22-33" not in viewer_text and "+7 900 111-22-33" not in viewer_html
    assert "Patient Name" not in viewer_text
    assert "Сводка рисков" in owner_html and "ОЦЕНКИ В ЗОНЕ РИСКА" in owner_text
    assert "Daily risk digest" in viewer_html and "RATINGS AT RISK" in viewer_text
    assert "2 at risk, 1 critical" in viewer_mail["Subject"]
    # Open cases (opened automatically for the risky answers) and metric changes.
    assert "OPEN CASES (3" in viewer_text or "OPEN CASES (2" in viewer_text
    opened = int(re.search(r"OPEN CASES \((\d+)", viewer_text)[1])
    # Cases opened automatically have nobody assigned yet: the digest says how many.
    assert f"of {opened} open; {opened} with nobody assigned." in viewer_text
    assert f"без исполнителя: {opened}" in owner_text and f"with nobody assigned: {opened}" in viewer_html
    assert re.search(r"NPS, last 24 h: −?\d+", viewer_text)
    assert re.search(r"CSAT, last 7 days: \d+%", viewer_text)
    # A share's change is in percentage points, named as the dashboard names them.
    assert re.search(r"CSAT, last 7 days: \d+% \([+−±][\d.]+\u00a0pp; n=", viewer_text)
    assert re.search(r"CSAT за 7 дней: \d+% \([+−±][\d.]+\u00a0п\.\u00a0п\.; n=", owner_text)
    assert re.search(r"[+−±]\d+&nbsp;pp</td>", viewer_html) and re.search(r"[+−±]\d+&nbsp;п\.\u00a0п\.</td>", owner_html)


def test_quiet_day_short_digest_or_none_per_member(app, tenant, smtp_sink):
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    quiet_one = add_member(app, tenant, "noquiet@alpha.test", "manager")
    with app.app_context(), tenant_scope(tenant.id):
        user_id = db.session.scalar(select(User.id).where(User.email == quiet_one))
        db.session.execute(update(Membership).where(Membership.user_id == user_id).values(digest_when_quiet=False))
        db.session.commit()
    add_response(app, tenant.id, submitted_at=NOON_UTC - timedelta(hours=2), nps=10)
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)
    assert smtp_sink.to(quiet_one) == []
    [message] = smtp_sink.to(tenant.owner_email)
    text, _ = parts(message)
    assert "рисков нет" in message["Subject"] and "Рисков нет" in text


def test_digest_off_means_no_digest(app, tenant, smtp_sink):
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    with app.app_context(), tenant_scope(tenant.id):
        db.session.execute(update(Membership).values(digest_enabled=False))
        db.session.commit()
    _risky_day(app, tenant.id, "ALPHA")
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)
    assert smtp_sink.messages == []
    with app.app_context(), platform_scope():
        assert db.session.scalar(select(DigestRun.note)) == "no subscribed members"


def test_late_digest_says_so(app, tenant, smtp_sink):
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    _risky_day(app, tenant.id, "ALPHA")
    with app.app_context():
        dispatch(NOON_UTC + timedelta(hours=5))
    run_worker(app)
    [message] = smtp_sink.messages
    assert "с опозданием" in message["Subject"]


def test_web_reputation_section(app, tenant, other_tenant, smtp_sink):
    """The digest gives the web reputation index with its week's change and lists the new negative
    reviews; a clinic whose licence has no reputation module gets no such section."""
    from app import digest
    from app.models import ExternalReview
    from app.reputation.service import index_drivers, index_overview
    from tests.conftest import make_clinic

    basic = make_clinic(app, "gamma", plan="basic")
    for clinic in (tenant.id, other_tenant.id, basic.id):
        ready_for_clock(app, clinic, "Europe/Moscow")
    with app.app_context(), tenant_scope(tenant.id):
        assert digest._reputation(NOON_UTC - timedelta(days=1), NOON_UTC, "Europe/Moscow", "") == (
            {"index": None, "week_delta": None, "reviews": 0, "url": "/reputation", "pulling_down": []}, [])
    for clinic, words, topics in ((tenant.id, "Rude staff, long queue", {"reception": -0.8, "waiting": -0.6}),
                                  (other_tenant.id, "OTHER-CLINIC review", {"prices": -0.9})):
        with app.app_context(), tenant_scope(clinic):
            db.session.add(ExternalReview(key=f"k{clinic}", site="prodoctorov", author="Ivan", rating=1.0,
                                          text=words, url="https://reviews.example/1", sentiment_label="negative",
                                          first_seen_at=NOON_UTC - timedelta(hours=5), topics=topics))
            db.session.add(ExternalReview(key=f"old{clinic}", site="import", rating=5.0, text="",
                                          published_on=(NOON_UTC - timedelta(days=40)).date(),
                                          first_seen_at=NOON_UTC - timedelta(days=40)))
            db.session.commit()
    with app.app_context(), tenant_scope(tenant.id):
        expected = index_overview((NOON_UTC + timedelta(hours=3)).date(), clinic_only=True)[0]
        pulling = {a.aspect: a.impact for a in index_drivers(today=(NOON_UTC + timedelta(hours=3)).date()).aspects_down}
    reception, waiting = (f"{pulling[a]:+.1f}".replace("-", "−") for a in ("reception", "waiting"))
    add_response(app, basic.id, submitted_at=NOON_UTC - timedelta(hours=2), risk="critical", nps=1,
                 comment="BASIC complaint")
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)
    [message] = smtp_sink.to(tenant.owner_email)
    text, html = parts(message)
    assert expected.index is not None and expected.week_delta is not None
    delta = f"{expected.week_delta:+.1f}".replace("-", "−")
    assert f"РЕПУТАЦИЯ В ИНТЕРНЕТЕ\n- Индекс: {expected.index:.0f} / 100 ({delta} за неделю; отзывов: 2)" in text
    assert f"/c/{tenant.slug}/reputation" in text and "Индекс веб-репутации" in html
    assert "НОВЫЕ НЕГАТИВНЫЕ ОТЗЫВЫ" in text and "Rude staff, long queue" in text and "prodoctorov" in html
    assert "OTHER-CLINIC" not in text and "OTHER-CLINIC" not in html
    # What pulls the index down, from this clinic's reviews only (the other clinic's is about prices).
    assert (f"- Тянут вниз сильнее всего: Регистратура и администраторы ({reception}), "
            f"Ожидание и очереди ({waiting})\n") in text
    assert "Тянут вниз сильнее всего:" in html and "Регистратура и администраторы" in html
    assert "Цены" not in text and "Цены" not in html
    # Without the module: neither the index nor the reviews' section.
    [unlicensed] = smtp_sink.to(basic.owner_email)
    text, html = parts(unlicensed)
    assert "BASIC complaint" in text and "РЕПУТАЦИЯ" not in text and "НЕГАТИВНЫЕ ОТЗЫВЫ" not in text
    assert "Индекс веб-репутации" not in html
    with app.app_context(), tenant_scope(basic.id):
        assert digest._reputation(NOON_UTC - timedelta(days=1), NOON_UTC, "Europe/Moscow", "") == (None, None)


def test_preview_and_send_commands(app, tenant, smtp_sink):
    runner = app.test_cli_runner()
    # Just now: inside the next digest's period whatever the time of day (it starts at the last noon).
    add_response(app, tenant.id, submitted_at=datetime.now(UTC), risk="critical", nps=0,
                 comment="Previewed complaint", phone="+7 900 000-00-01")
    result = runner.invoke(args=["digest", "preview", "--tenant", tenant.slug, "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "Previewed complaint" in result.output and "+7 900 000-00-01" not in result.output
    assert "Recipients: 1 of 1" in result.output and "Goes out: " in result.output
    assert smtp_sink.messages == []
    # A date of its own: that day's digest, covering the day before its hour.
    dated = runner.invoke(args=["digest", "preview", "--tenant", tenant.slug, "--lang", "en", "--date", "2026-01-15",
                                "--with-contacts"])
    assert dated.exit_code == 0, dated.output
    assert "Goes out: 2026-01-15 12:00" in dated.output
    assert "Covers: 2026-01-14 12:00 – 2026-01-15 12:00" in dated.output
    assert "Previewed complaint" not in dated.output
    contacts = runner.invoke(args=["digest", "preview", "--tenant", tenant.slug, "--with-contacts"])
    assert "+7 900 000-00-01" in contacts.output
    bad = runner.invoke(args=["digest", "preview", "--tenant", tenant.slug, "--date", "10-05-2027"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
    assert runner.invoke(args=["digest", "preview", "--tenant", "nope"]).exit_code != 0

    sent = runner.invoke(args=["digest", "send", "--tenant", tenant.slug])
    assert sent.exit_code == 0, sent.output
    assert f"{tenant.owner_email}: sent" in sent.output
    assert len(smtp_sink.messages) == 1
    again = runner.invoke(args=["digest", "send", "--tenant", tenant.slug])
    assert again.exit_code != 0 and "already sent" in again.output
    assert len(smtp_sink.messages) == 1


def test_digests_page_shows_each_digest_and_its_recipients(app, tenant, other_tenant, manager_client, smtp_sink):
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    ready_for_clock(app, other_tenant.id, "Europe/Moscow")
    _risky_day(app, tenant.id, "ALPHA")
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)
    page = manager_client.get(tenant.url("digests"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2027-05-10" in html and tenant.owner_email in html and "sent" in html
    assert other_tenant.owner_email not in html
    # Among the settings for those who may read them.
    assert f'href="{tenant.url("digests")}"' in manager_client.get(tenant.url("settings/clinic")).get_data(as_text=True)
    viewer = add_member(app, tenant, "viewer2@alpha.test", "viewer")
    c = app.test_client()
    login(c, viewer)
    assert c.get(tenant.url("digests")).status_code == 403
    assert f'href="{tenant.url("digests")}"' not in c.get(tenant.url("settings/clinic")).get_data(as_text=True)


def test_each_member_sets_their_own_preferences(app, tenant, manager_client):
    page = manager_client.get(tenant.url("settings/notifications"))
    assert page.status_code == 200
    token = form_token(page.get_data(as_text=True))
    saved = manager_client.post(tenant.url("settings/notifications"), data={
        "csrf_token": token, "digest_enabled": "on", "alerts_enabled": "on",
        "quiet_hours_start": "22", "quiet_hours_end": "7"})
    assert saved.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        m = db.session.scalar(select(Membership))
        assert (m.digest_enabled, m.digest_when_quiet, m.alerts_enabled) == (True, False, True)
        assert (m.quiet_hours_start, m.quiet_hours_end) == (22, 7)
    for bad in ({"quiet_hours_start": "25", "quiet_hours_end": "7"}, {"quiet_hours_start": "x", "quiet_hours_end": ""},
                {"quiet_hours_start": "5", "quiet_hours_end": ""}, {"quiet_hours_start": "5", "quiet_hours_end": "5"}):
        response = manager_client.post(tenant.url("settings/notifications"), data={"csrf_token": token, **bad})
        assert response.status_code == 400
    assert manager_client.post(tenant.url("settings/notifications"), data={"quiet_hours_start": "1"}).status_code == 400
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(Membership.quiet_hours_start)) == 22
    # Cleared quiet hours.
    manager_client.post(tenant.url("settings/notifications"), data={"csrf_token": token, "digest_enabled": "on"})
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(Membership.quiet_hours_start)) is None


def test_a_member_of_a_read_only_clinic_can_still_turn_e_mails_off(app, tenant, manager_client):
    from datetime import date

    from app.models import Licence

    with app.app_context(), platform_scope():
        db.session.execute(update(Licence).where(Licence.tenant_id == tenant.id).values(
            starts_on=date(2020, 1, 1), ends_on=date(2021, 1, 1)))
        db.session.commit()
    token = form_token(manager_client.get(tenant.url("settings/notifications")).get_data(as_text=True))
    response = manager_client.post(tenant.url("settings/notifications"), data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context(), tenant_scope(tenant.id):
        m = db.session.scalar(select(Membership))
        assert not m.digest_enabled and not m.alerts_enabled


def test_next_digest_preview_follows_the_schedule(app, tenant, smtp_sink):
    from app.digest import preview_next_digest
    from app.models import Tenant

    ready_for_clock(app, tenant.id, "Europe/Moscow")
    _risky_day(app, tenant.id, "ALPHA")
    with app.app_context():
        dispatch(NOON_UTC - timedelta(days=1))  # yesterday's digest went out
    run_worker(app)
    sent_before = len(smtp_sink.messages)
    after_noon = NOON_UTC + timedelta(hours=1)
    with app.app_context(), tenant_scope(tenant.id):
        clinic = db.session.get(Tenant, tenant.id)
        due = preview_next_digest(clinic, "en", True, now=after_noon)
        # Noon has passed and today's is not claimed yet: it is the next, due now, from yesterday's end.
        assert (due.local_date.isoformat(), due.scheduled_for) == ("2027-05-10", NOON_UTC)
        assert due.period_start == NOON_UTC - timedelta(days=1) and due.period_end == after_noon
        assert "ALPHA rude at reception" in due.text and "+7 900 111-22-33" in due.text and due.with_contacts
        assert due.subject.startswith(f"{clinic.name}: 2 at risk, 1 critical")
        assert (due.recipients, due.subscribed, due.sends, due.quiet) == (1, 1, True, False)
        hidden = preview_next_digest(clinic, "ru", False, now=after_noon)
        assert "+7 900 111-22-33" not in hidden.text + hidden.html and not hidden.with_contacts
        assert "ЧТО СДЕЛАТЬ" in hidden.text
        assert db.session.scalar(select(func.count(DigestRun.id))) == 1
    assert len(smtp_sink.messages) == sent_before
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)
    assert len(smtp_sink.messages) == sent_before + 1
    with app.app_context(), tenant_scope(tenant.id):
        clinic = db.session.get(Tenant, tenant.id)
        run = db.session.scalar(select(DigestRun).order_by(DigestRun.local_date.desc()))
        later = preview_next_digest(clinic, "en", True, now=after_noon)
        # Sent today: the next is tomorrow's, covering what came since today's ended: no new rating yet.
        assert later.local_date.isoformat() == "2027-05-11" and later.scheduled_for == NOON_UTC + timedelta(days=1)
        assert later.period_start == run.period_end and "ALPHA" not in later.text
        assert "0 risky rating(s)" in later.text and "1 overdue case(s) of 3 open; 3 with nobody assigned" in later.text
        from app.models import Case
        db.session.execute(update(Case).values(assignee_user_id=db.session.scalar(select(User.id))))
        assert "1 overdue case(s) of 3 open." in preview_next_digest(clinic, "en", True, now=after_noon).text
        db.session.rollback()
        assert not later.quiet and later.recipients == 1
        run.status = "failed"
        db.session.commit()
        # A digest given up on covered nothing: the next one takes its hours over.
        retried = preview_next_digest(clinic, "en", True, now=after_noon)
        assert retried.local_date.isoformat() == "2027-05-11" and retried.period_start == NOON_UTC - timedelta(days=1)
        assert "ALPHA rude at reception" in retried.text
    ready_for_clock(app, tenant.id, suspended=True)
    with app.app_context(), tenant_scope(tenant.id):
        assert not preview_next_digest(db.session.get(Tenant, tenant.id), "en", True, now=after_noon).sends
    assert len(smtp_sink.messages) == sent_before + 1


def test_next_digest_preview_page(app, tenant, other_tenant, manager_client, smtp_sink):
    from app.models import AccessLog

    now = datetime.now(UTC)  # inside the next digest's period whatever the time of day (it starts at the last noon)
    add_response(app, tenant.id, submitted_at=now, risk="critical", nps=0, urgent=True,
                 comment="Previewed ALPHA complaint", phone="+7 900 000-00-02")
    add_response(app, other_tenant.id, submitted_at=now, risk="critical", nps=0,
                 comment="BETA-SECRET complaint", phone="+7 900 000-00-03")
    listing = manager_client.get(tenant.url("digests")).get_data(as_text=True)
    assert tenant.url("digests/preview") in listing

    page = manager_client.get(tenant.url("digests/preview?lang=en"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "1 at risk, 1 critical" in html and "1 of 1 subscribed members" in html
    assert f'src="{tenant.url("digests/preview/mail?lang=en")}"' in html and 'sandbox="allow-popups' in html
    assert "BETA-SECRET" not in html

    mail = manager_client.get(tenant.url("digests/preview/mail?lang=en"))
    body = mail.get_data(as_text=True)
    assert mail.status_code == 200 and mail.mimetype == "text/html"
    assert "Previewed ALPHA complaint" in body and "+7 900 000-00-02" in body and "BETA-SECRET" not in body
    assert '<base target="_blank">' in body
    policy = mail.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert mail.headers["X-Frame-Options"] == "SAMEORIGIN"

    text = manager_client.get(tenant.url("digests/preview?lang=ru&part=text")).get_data(as_text=True)
    assert "Previewed ALPHA complaint" in text and "ЧТО СДЕЛАТЬ" in text and "BETA-SECRET" not in text
    # An unknown language or part is not an error: the reader's language, the formatted mail.
    assert manager_client.get(tenant.url("digests/preview?lang=xx&part=zz")).status_code == 200

    with app.app_context(), tenant_scope(tenant.id):
        viewed = db.session.scalars(select(AccessLog).where(AccessLog.subject_type == "digest_preview")).all()
        assert len(viewed) == 2 and {v.action for v in viewed} == {"view_contacts"}
    assert smtp_sink.messages == []
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count(DigestRun.id))) == 0

    viewer = add_member(app, tenant, "viewer3@alpha.test", "viewer")
    c = app.test_client()
    login(c, viewer)
    assert c.get(tenant.url("digests/preview")).status_code == 403
    assert c.get(tenant.url("digests/preview/mail")).status_code == 403
    assert app.test_client().get(tenant.url("digests/preview")).status_code in (302, 401)


def test_a_clinic_created_after_its_digest_hour_starts_with_the_next_day(app, tenant):
    from app.digest import next_digest_date
    from app.models import Tenant

    ready_for_clock(app, tenant.id, "Asia/Kathmandu")  # +05:45: noon there is 06:15 UTC
    with app.app_context(), tenant_scope(tenant.id):
        clinic = db.session.get(Tenant, tenant.id)
        noon = datetime(2027, 5, 10, 6, 15, tzinfo=UTC)
        assert next_digest_date(clinic, noon - timedelta(minutes=1)).isoformat() == "2027-05-09"
        assert next_digest_date(clinic, noon).isoformat() == "2027-05-10"
        clinic.created_at = noon + timedelta(minutes=5)
        assert next_digest_date(clinic, noon + timedelta(hours=1)).isoformat() == "2027-05-11"
        db.session.rollback()


def test_a_sent_digest_can_be_read_again(app, tenant, other_tenant, manager_client, smtp_sink):
    from app.models import AccessLog, MailOutbox
    from tests.factories import make_digest_message

    ready_for_clock(app, tenant.id, "Europe/Moscow")
    viewer = add_member(app, tenant, "viewer4@alpha.test", "viewer")
    _risky_day(app, tenant.id, "ALPHA")
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)
    [owner_mail] = smtp_sink.to(tenant.owner_email)
    with app.app_context(), tenant_scope(tenant.id):
        copies = {m.recipient: m.id for m in db.session.scalars(select(MailOutbox))}
    listing = manager_client.get(tenant.url("digests")).get_data(as_text=True)
    assert tenant.url(f"digests/messages/{copies[tenant.owner_email]}") in listing
    assert tenant.url(f"digests/messages/{copies[viewer]}") in listing

    page = manager_client.get(tenant.url(f"digests/messages/{copies[tenant.owner_email]}"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "2027-05-10" in html and owner_mail["Subject"] in html
    assert "reading it is recorded in the access log" in html
    mail = manager_client.get(tenant.url(f"digests/messages/{copies[tenant.owner_email]}/mail"))
    # The very mail that went out, contacts included for the owner's copy; the viewer's copy has none.
    shown = mail.get_data(as_text=True).replace('<head><base target="_blank">', "<head>")
    assert shown.strip() == parts(owner_mail)[1].replace("\r\n", "\n").strip()
    assert "+7 900 111-22-33" in mail.get_data(as_text=True)
    assert mail.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "script-src" not in mail.headers["Content-Security-Policy"]
    text = manager_client.get(tenant.url(f"digests/messages/{copies[viewer]}?part=text")).get_data(as_text=True)
    assert "ALPHA rude at reception" in text and "+7 900 111-22-33" not in text
    with app.app_context(), tenant_scope(tenant.id):
        logged = db.session.scalars(select(AccessLog).where(AccessLog.subject_type == "digest_message")).all()
        assert [entry.subject_id for entry in logged] == [str(copies[tenant.owner_email])]

    # A copy sent as plain text only is shown as text.
    plain = make_digest_message(app, tenant.id, body="Plain digest, nothing at risk.")
    with app.app_context(), tenant_scope(tenant.id):
        db.session.execute(update(MailOutbox).where(MailOutbox.id == plain).values(html_body=""))
        db.session.commit()
    shown = manager_client.get(tenant.url(f"digests/messages/{plain}")).get_data(as_text=True)
    assert "Plain digest, nothing at risk." in shown and "<iframe" not in shown and "Plain-text part" not in shown

    # Another clinic's digest, and a message that is not a digest, are not found; a viewer may not read digests.
    theirs = make_digest_message(app, other_tenant.id, body="BETA-SECRET digest")
    assert manager_client.get(tenant.url(f"digests/messages/{theirs}")).status_code == 404
    assert manager_client.get(tenant.url(f"digests/messages/{theirs}/mail")).status_code == 404
    with app.app_context(), tenant_scope(tenant.id):
        db.session.execute(update(MailOutbox).where(MailOutbox.id == copies[viewer]).values(kind="alert"))
        db.session.commit()
    assert manager_client.get(tenant.url(f"digests/messages/{copies[viewer]}")).status_code == 404
    c = app.test_client()
    login(c, viewer)
    assert c.get(tenant.url(f"digests/messages/{copies[tenant.owner_email]}")).status_code == 403
