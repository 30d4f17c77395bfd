"""Delivery through the mail outbox: exactly once under duplicates, kills and SMTP outages; instant alerts."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import MailOutbox, Membership
from app.notifications import (LEASE, accepted_marker_key, deliver_outbox_message, in_quiet_hours, quiet_hours_end,
                               sweep_mail)
from jobs.digests import build_digest, dispatch
from jobs.embedded_redis import free_port
from jobs.queues import enqueue
from tenants.context import platform_scope, tenant_scope
from tests.digest_helpers import add_response, ready_for_clock, run_worker
from tests.feedback_helpers import point_token, submit
from tests.smtp_sink import SmtpSink, parts, smtp_sink  # noqa: F401  (fixture)

UTC = timezone.utc
NOON_UTC = datetime(2027, 5, 10, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def _outbox(app):
    with app.app_context(), platform_scope():
        return db.session.scalars(select(MailOutbox).order_by(MailOutbox.id)).all()


def _one_digest(app, tenant):
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    add_response(app, tenant.id, submitted_at=NOON_UTC - timedelta(hours=2), risk="critical", nps=0,
                 comment="Kept waiting")


def test_duplicate_dispatch_and_duplicate_build_jobs_send_once(app, tenant, other_tenant, smtp_sink):
    _one_digest(app, tenant)
    ready_for_clock(app, other_tenant.id, "Europe/Moscow")
    with app.app_context():
        assert dispatch(NOON_UTC) == 2
        assert dispatch(NOON_UTC) == 0
        assert dispatch(NOON_UTC + timedelta(minutes=15)) == 0
        run_id = _outbox_run_id(app, tenant.id)
        # The same build enqueued again under another job id (a retried or replayed job).
        enqueue("digests", build_digest, tenant.id, run_id, job_id=f"t{tenant.id}-digest-replay")
    run_worker(app)
    with app.app_context():
        enqueue("digests", build_digest, tenant.id, run_id, job_id=f"t{tenant.id}-digest-replay-2")
        sweep_mail(datetime.now(UTC) + timedelta(hours=1))
    run_worker(app)
    assert len(smtp_sink.to(tenant.owner_email)) == 1
    assert len(smtp_sink.to(other_tenant.owner_email)) == 1
    assert len(smtp_sink.messages) == 2
    assert {row.status for row in _outbox(app)} == {"sent"}


def _outbox_run_id(app, tenant_id):
    from app.models import DigestRun

    with app.app_context(), tenant_scope(tenant_id):
        return db.session.scalar(select(DigestRun.id))


def test_smtp_down_then_up_delivers_once(app, tenant):
    _one_digest(app, tenant)
    port = free_port()  # nothing listens here yet
    saved = app.config["SMTP_HOST"], app.config["SMTP_PORT"]
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    try:
        with app.app_context():
            dispatch(NOON_UTC)
        run_worker(app)
        [row] = _outbox(app)
        assert row.status == "pending" and row.attempts == 1 and row.last_error
        assert row.next_attempt_at is not None
        # Before the backoff is over the sweep leaves it alone.
        with app.app_context():
            assert sweep_mail(datetime.now(UTC)) == 0
        sink = SmtpSink(port).start()
        try:
            with app.app_context():
                assert sweep_mail(row.next_attempt_at + timedelta(seconds=1)) == 1
            with app.app_context(), tenant_scope(tenant.id):
                # The send job runs at its due time (the clock is passed in; the worker uses the real one).
                assert deliver_outbox_message(row.id, now=row.next_attempt_at + timedelta(seconds=1)).outcome == "sent"
            run_worker(app)
            with app.app_context():
                sweep_mail(datetime.now(UTC) + timedelta(hours=2))
            run_worker(app)
            assert len(sink.messages) == 1
        finally:
            sink.stop()
    finally:
        app.config.update(SMTP_HOST=saved[0], SMTP_PORT=saved[1])
    [row] = _outbox(app)
    assert row.status == "sent" and row.attempts == 2 and row.last_error == ""


def test_gives_up_after_the_last_attempt(app, tenant):
    from app.notifications import MAX_ATTEMPTS

    _one_digest(app, tenant)
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)  # SMTP_PORT=1: refused
    [row] = _outbox(app)
    now = datetime.now(UTC)
    with app.app_context(), tenant_scope(tenant.id):
        for _ in range(MAX_ATTEMPTS):
            now += timedelta(hours=2)
            deliver_outbox_message(row.id, now=now)
    [row] = _outbox(app)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS


def test_a_refused_recipient_is_retried_and_its_address_kept_out_of_the_error(app, tenant, smtp_sink, caplog):
    _one_digest(app, tenant)
    smtp_sink.handler.rcpt_reply = "450 4.2.1 mailbox busy"
    with app.app_context():
        dispatch(NOON_UTC)
    run_worker(app)
    [row] = _outbox(app)
    assert row.status == "pending" and row.last_error and tenant.owner_email not in row.last_error
    assert tenant.owner_email not in caplog.text and "Kept waiting" not in caplog.text
    smtp_sink.handler.rcpt_reply = "250 OK"
    with app.app_context(), tenant_scope(tenant.id):
        assert deliver_outbox_message(row.id, now=row.next_attempt_at).outcome == "sent"
    assert len(smtp_sink.messages) == 1


# --- a sender killed at the worst moment ---

SENDER = """
import sys
from app import create_app
from app.notifications import deliver_outbox_message
from tenants.context import tenant_scope
app = create_app()
with app.app_context(), tenant_scope(int(sys.argv[1])):
    print(deliver_outbox_message(int(sys.argv[2])).outcome, flush=True)
"""


def _sender(app, tenant_id, outbox_id, smtp_port):
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_TIMEOUT="20", BASE_URL="http://localhost",
               VERNOST_INSTANCE_DIR=app.config["INSTANCE_DIR"])
    return subprocess.Popen([sys.executable, "-c", SENDER, str(tenant_id), str(outbox_id)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class RowLock:
    """Holds a write lock on one outbox row from outside the app, so the sender's status update waits."""

    def __init__(self, app, outbox_id):
        self.url = app.config["MIGRATION_DATABASE_URL"]
        self.outbox_id = outbox_id

    def __enter__(self):
        if self.url.startswith("sqlite"):
            self.conn = sqlite3.connect(make_url(self.url).database, timeout=10, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.engine = create_engine(self.url)
            self.conn = self.engine.connect()
            self.tx = self.conn.begin()
            self.conn.execute(text("SELECT id FROM mail_outbox WHERE id = :id FOR UPDATE"), {"id": self.outbox_id})
        return self

    def __exit__(self, *exc):
        if self.url.startswith("sqlite"):
            self.conn.execute("ROLLBACK")
            self.conn.close()
        else:
            self.tx.rollback()
            self.conn.close()
            self.engine.dispose()


def _build_only(app, tenant):
    from app.digest import build_digest_run
    from app.models import DigestRun

    _one_digest(app, tenant)
    from app.digest_schedule import claim_due_digests

    with app.app_context():
        [claim] = claim_due_digests(NOON_UTC)
        with tenant_scope(tenant.id):
            [outbox_id] = build_digest_run(db.session.get(DigestRun, claim.run_id))
    return outbox_id


def test_sender_killed_after_smtp_accepted_never_sends_a_second_copy(app, tenant, smtp_sink):
    outbox_id = _build_only(app, tenant)
    gate = threading.Event()
    smtp_sink.handler.gate = gate
    sender = _sender(app, tenant.id, outbox_id, smtp_sink.port)
    try:
        assert smtp_sink.handler.received.wait(30), sender.stderr.read().decode()[-2000:]
        with RowLock(app, outbox_id):
            gate.set()  # the server answers 250: accepted
            marker = accepted_marker_key(tenant.id, _outbox(app)[0].message_id)
            r = redis.Redis.from_url(app.config["REDIS_URL"])
            deadline = time.monotonic() + 20
            while not r.exists(marker) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert r.exists(marker)
            assert sender.poll() is None  # waiting on the row: accepted, not yet marked sent
            sender.send_signal(signal.SIGKILL)
            sender.wait(10)
    finally:
        if sender.poll() is None:
            sender.kill()
    smtp_sink.handler.gate = None
    assert sender.returncode == -signal.SIGKILL
    [row] = _outbox(app)
    assert row.status == "sending" and len(smtp_sink.messages) == 1
    # The lease runs out; the sweep hands the row to a new sender, which finds the marker.
    later = datetime.now(UTC) + LEASE + timedelta(seconds=1)
    with app.app_context():
        assert sweep_mail(later) == 1
    with app.app_context(), tenant_scope(tenant.id):
        assert deliver_outbox_message(outbox_id, now=later).outcome == "already_sent"
    run_worker(app)
    [row] = _outbox(app)
    assert row.status == "sent" and len(smtp_sink.messages) == 1


def test_sender_killed_before_the_server_accepted_loses_nothing(app, tenant, smtp_sink):
    outbox_id = _build_only(app, tenant)
    gate = threading.Event()
    smtp_sink.handler.gate = gate
    smtp_sink.handler.reply = "451 4.3.0 try again later"  # what the server says once the client is gone
    sender = _sender(app, tenant.id, outbox_id, smtp_sink.port)
    try:
        assert smtp_sink.handler.received.wait(30), sender.stderr.read().decode()[-2000:]
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
    finally:
        if sender.poll() is None:
            sender.kill()
        gate.set()
    smtp_sink.handler.gate = None
    smtp_sink.handler.reply = "250 OK"
    assert smtp_sink.messages == []
    [row] = _outbox(app)
    assert row.status == "sending"
    with app.app_context(), tenant_scope(tenant.id):
        # Still leased: nobody else may send it yet.
        assert deliver_outbox_message(outbox_id).outcome == "not_claimed"
        later = datetime.now(UTC) + LEASE + timedelta(seconds=1)
        assert deliver_outbox_message(outbox_id, now=later).outcome == "sent"
    assert len(smtp_sink.messages) == 1


# --- instant alerts ---

def test_red_button_alert_reaches_the_on_duty_manager_within_a_minute(app, tenant, other_tenant, client, smtp_sink):
    from jobs.outbox import flush_outbox  # noqa: F401  (the form's view flushes it after commit)
    from tests.conftest import add_member

    viewer = add_member(app, tenant, "viewer@alpha.test", "viewer")
    manager = add_member(app, tenant, "manager@alpha.test", "manager")
    token = point_token(app, tenant.id)
    page = client.get(f"/q/{token}?lang=en").get_data(as_text=True)
    consent_id = re.search(r'name="consent" value="(\d+)"', page).group(1)
    started = time.monotonic()
    response = submit(client, token, {"q_nps": "2", "urgent": "yes", "contact_phone": "+79005554433",
                                       "consent": consent_id, "q_comment": "Nobody called me back"}, lang="en")
    assert response.status_code == 302
    run_worker(app)
    elapsed = time.monotonic() - started
    assert elapsed < 60
    [owner_alert] = smtp_sink.to(tenant.owner_email)
    [manager_alert] = smtp_sink.to(manager)
    assert smtp_sink.to(viewer) == [] and smtp_sink.to(other_tenant.owner_email) == []
    text, html = parts(owner_alert)
    assert "КРАСНАЯ КНОПКА" in owner_alert["Subject"] and "+79005554433" in text and "Nobody called me back" in text
    assert "/c/alpha/journal/" in html
    # Running again sends nothing more.
    with app.app_context():
        sweep_mail(datetime.now(UTC) + timedelta(hours=1))
    run_worker(app)
    assert len(smtp_sink.messages) == 2


def test_alerts_respect_quiet_hours_and_opt_out(app, tenant, smtp_sink):
    from tests.conftest import add_member

    from jobs.alerts import alert_critical_case, alert_critical_response
    from app.models import Case

    night_owl = add_member(app, tenant, "night@alpha.test", "manager")
    off = add_member(app, tenant, "off@alpha.test", "manager")
    now = datetime.now(UTC)
    local_hour = now.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Moscow")).hour
    with app.app_context(), tenant_scope(tenant.id):
        ids = dict(db.session.execute(select(Membership.user_id, Membership.id)).all())
        users = {u.email: u.id for u in db.session.scalars(select(__import__("app.models", fromlist=["User"]).User))}
        # Quiet hours that contain the current hour, for the night owl.
        db.session.execute(update(Membership).where(Membership.id == ids[users[night_owl]]).values(
            quiet_hours_start=local_hour, quiet_hours_end=(local_hour + 2) % 24))
        db.session.execute(update(Membership).where(Membership.id == ids[users[off]]).values(alerts_enabled=False))
        db.session.commit()
    response_id = add_response(app, tenant.id, submitted_at=now, risk="critical", nps=0, comment="Quiet-hours test")
    with app.app_context():
        assert alert_critical_response(tenant.id, response_id) == 2
        with tenant_scope(tenant.id):
            case_id = db.session.scalar(select(Case.id))
        assert alert_critical_case(tenant.id, case_id) == 0  # same response: already alerted
    run_worker(app)
    assert len(smtp_sink.to(tenant.owner_email)) == 1
    assert smtp_sink.to(off) == [] and smtp_sink.to(night_owl) == []
    held = [row for row in _outbox(app) if row.recipient == night_owl][0]
    assert held.held_for_quiet_hours and held.status == "pending"
    release = held.next_attempt_at
    assert release.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Moscow")).hour == (local_hour + 2) % 24
    with app.app_context():
        assert sweep_mail(release - timedelta(minutes=1)) == 0
        assert sweep_mail(release + timedelta(seconds=1)) == 1
        with tenant_scope(tenant.id):
            assert deliver_outbox_message(held.id, now=release + timedelta(seconds=1)).outcome == "sent"
    [message] = smtp_sink.to(night_owl)
    assert "quiet hours" in parts(message)[0] or "тихих часов" in parts(message)[0]


def test_quiet_hours_arithmetic_wraps_midnight_and_follows_dst():
    assert in_quiet_hours(23, 22, 7) and in_quiet_hours(3, 22, 7) and not in_quiet_hours(7, 22, 7)
    assert in_quiet_hours(13, 13, 15) and not in_quiet_hours(15, 13, 15) and not in_quiet_hours(5, 5, 5)
    assert not in_quiet_hours(3, None, None)
    # Berlin, the night the clocks go forward: 23:30 local on 27 March 2027 is 22:30 UTC;
    # quiet until 07:00 local, which is 05:00 UTC (CEST), not 06:00.
    now = datetime(2027, 3, 27, 22, 30, tzinfo=UTC)
    assert quiet_hours_end(now, "Europe/Berlin", 22, 7) == datetime(2027, 3, 28, 5, tzinfo=UTC)
    assert quiet_hours_end(datetime(2027, 3, 28, 6, tzinfo=UTC), "Europe/Berlin", 22, 7) is None
    assert quiet_hours_end(datetime(2027, 1, 5, 0, tzinfo=UTC), "Asia/Kathmandu", 0, 6) == \
        datetime(2027, 1, 5, 0, 15, tzinfo=UTC)


def test_suspended_clinic_gets_no_alerts(app, tenant, smtp_sink):
    from jobs.alerts import alert_critical_response

    ready_for_clock(app, tenant.id, suspended=True)
    response_id = add_response(app, tenant.id, submitted_at=datetime.now(UTC), risk="critical", nps=0)
    with app.app_context():
        assert alert_critical_response(tenant.id, response_id) == 0
    run_worker(app)
    assert smtp_sink.messages == [] and _outbox(app) == []


def test_an_invitation_refused_by_the_mail_server_logs_the_domain_not_the_address(app, smtp_sink, caplog):
    from app.mail import try_send

    smtp_sink.handler.rcpt_reply = "550 5.1.1 no such mailbox"
    with app.app_context(), caplog.at_level("WARNING"):
        assert try_send("anna.petrova@clinic.test", "Invitation", "Join us") is False
    assert "clinic.test" in caplog.text and "anna.petrova" not in caplog.text


def test_a_digest_that_never_builds_is_given_up_and_the_next_one_covers_its_hours(app, tenant, smtp_sink,
                                                                                 manager_client):
    from app.extensions import redis_client
    from app.models import DigestRun

    _one_digest(app, tenant)
    with app.app_context():
        assert dispatch(NOON_UTC) == 1
    run_worker(app)  # day 1: built and sent
    with app.app_context():
        assert dispatch(NOON_UTC + timedelta(days=1)) == 1  # day 2: claimed, but its build never runs
        redis_client().flushdb()  # the queued build is lost with Redis
        for hours in (1, 3, 5):  # rebuilt by the sweep meanwhile (lost again here), not for ever
            sweep_mail(NOON_UTC + timedelta(days=1, hours=hours))
            redis_client().flushdb()
        sweep_mail(NOON_UTC + timedelta(days=1, hours=7))
        assert dispatch(NOON_UTC + timedelta(days=2)) == 1
    with app.app_context(), tenant_scope(tenant.id):
        runs = db.session.scalars(select(DigestRun).order_by(DigestRun.local_date)).all()
    assert [run.status for run in runs] == ["built", "failed", "claimed"]
    assert runs[2].period_start == runs[0].period_end  # day 3 reports day 2's hours too
    html = manager_client.get(tenant.url("digests")).get_data(as_text=True)
    assert 'badge suspended">failed<' in html and ">prepared<" in html


def test_an_alert_held_for_quiet_hours_is_not_sent_to_someone_who_left_meanwhile(app, tenant, smtp_sink):
    from tests.conftest import add_member

    from app.models import Membership, User
    from jobs.alerts import alert_critical_response

    night_owl = add_member(app, tenant, "night@alpha.test", "manager")
    now = datetime.now(UTC)
    local_hour = now.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Moscow")).hour
    with app.app_context(), tenant_scope(tenant.id):
        owl_id = db.session.scalar(select(User.id).where(User.email == night_owl))
        db.session.execute(update(Membership).where(Membership.user_id == owl_id).values(
            quiet_hours_start=local_hour, quiet_hours_end=(local_hour + 2) % 24))
        db.session.commit()
    response_id = add_response(app, tenant.id, submitted_at=now, risk="critical", nps=0, comment="Held",
                               phone="+79001112233")
    with app.app_context():
        alert_critical_response(tenant.id, response_id)
    [held] = [row for row in _outbox(app) if row.recipient == night_owl]
    assert held.held_for_quiet_hours and "+79001112233" in held.text_body
    with app.app_context(), tenant_scope(tenant.id):  # the owner removes the member during the night
        db.session.execute(delete(Membership).where(Membership.user_id == owl_id))
        db.session.commit()
    with app.app_context(), tenant_scope(tenant.id):
        assert deliver_outbox_message(held.id, now=held.next_attempt_at + timedelta(seconds=1)).outcome == "cancelled"
    assert smtp_sink.to(night_owl) == []
    [row] = [row for row in _outbox(app) if row.recipient == night_owl]
    assert row.status == "cancelled"


def test_mail_written_with_contacts_is_not_sent_to_someone_no_longer_allowed_to_see_them(app, tenant, smtp_sink):
    from app.digest import build_digest_run
    from app.models import DigestRun, User
    from tests.conftest import add_member

    manager = add_member(app, tenant, "manager@alpha.test", "manager")
    viewer = add_member(app, tenant, "viewer@alpha.test", "viewer")
    ready_for_clock(app, tenant.id, "Europe/Moscow")
    add_response(app, tenant.id, submitted_at=NOON_UTC - timedelta(hours=2), risk="critical", nps=0,
                 comment="Kept waiting", phone="+79001112233")
    with app.app_context():
        assert dispatch(NOON_UTC) == 1
        with tenant_scope(tenant.id):
            build_digest_run(db.session.scalar(select(DigestRun)), NOON_UTC)
    rows = {row.recipient: row for row in _outbox(app)}
    # The manager's copy carries the phone; the viewer's copy never had it.
    assert rows[manager].with_contacts and "+79001112233" in rows[manager].text_body
    assert not rows[viewer].with_contacts and "+79001112233" not in rows[viewer].text_body
    with app.app_context(), tenant_scope(tenant.id):  # the mail server was down; meanwhile both become viewers
        user_ids = dict(db.session.execute(select(User.email, User.id)).all())
        db.session.execute(update(Membership).where(Membership.user_id == user_ids[manager]).values(role="viewer"))
        db.session.commit()
        assert deliver_outbox_message(rows[manager].id, now=NOON_UTC).outcome == "cancelled"
        assert deliver_outbox_message(rows[viewer].id, now=NOON_UTC).outcome == "sent"
    assert smtp_sink.to(manager) == [] and len(smtp_sink.to(viewer)) == 1
    assert "+79001112233" not in parts(smtp_sink.to(viewer)[0])[0]
