"""Digest throughput: the noon dispatch for many clinics, through real RQ workers, to a loopback SMTP sink.

1. Creates N clinics (10,000 by default) in a separate PostgreSQL database with bulk SQL: a licence,
   an owner subscribed to the digest, a questionnaire and two risky responses each (so every digest
   has content), in time zones from -05:00 to +05:45.
2. Baseline: raw ``smtplib`` sends of N messages of the same size to the sink, one connection each
   (as ``app.mail.deliver`` does).
3. Digests: one dispatcher call claims every clinic's digest and enqueues its build; two RQ worker
   processes (non-forking ``SimpleWorker`` in the app context, burst mode) build the digests into the outbox and
   send them. The run ends when both workers have drained the queue.

Prints total time, messages/s of both runs and the digest/baseline ratio, and checks that every
clinic got exactly one message. Loopback only; bounded by ``--time-limit``.

    python bench/bench_digest.py [--clinics 10000] [--database-url postgresql://postgres@127.0.0.1:5432/vernost_bench_digest]
                                 [--redis-url URL] [--time-limit 1200] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench._stack import APP_ROLE, LOOPBACK, free_port, recreate_database, role_url

ZONES = ("Europe/Moscow", "Europe/Berlin", "Asia/Kathmandu", "Asia/Kolkata", "America/New_York", "Asia/Yekaterinburg")
MAX_CLINICS = 20000

# A non-forking RQ worker in the app context (a fork per job would measure fork()).
WORKER = """
from app import create_app
from jobs.worker import InlineAppWorker, build_worker

build_worker(create_app(), ["alerts", "digests", "default"], worker_class=InlineAppWorker).work(burst=True)
"""


class CountingHandler:
    def __init__(self):
        self.lock = threading.Lock()
        self.message_ids: list[bytes] = []
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        header_end = content.find(b"\r\n\r\n")
        message_id = b""
        for line in content[:header_end].split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip()
        with self.lock:
            self.message_ids.append(message_id)
            self.bytes += len(content)
        return "250 OK"


def populate(owner_url: str, clinics: int) -> None:
    """Bulk SQL: clinics, licences, owners, memberships, questionnaires, points, risky responses."""
    zones = "ARRAY[" + ", ".join(f"'{z}'" for z in ZONES) + "]"
    statements = [
        f"""INSERT INTO tenants (id, slug, name, legal_name, timezone, language, settings, created_at)
            SELECT g, 'bench-' || g, 'Bench clinic ' || g, '', ({zones})[1 + g % {len(ZONES)}],
                   CASE WHEN g % 3 = 0 THEN 'en' ELSE 'ru' END, '{{}}', now() - interval '30 days'
            FROM generate_series(1, {clinics}) g""",
        f"""INSERT INTO licences (tenant_id, plan, seats, modules, starts_on, ends_on, suspended, suspended_reason, updated_at)
            SELECT g, 'standard', 10, '[]', current_date - 30, current_date + 365, false, '', now()
            FROM generate_series(1, {clinics}) g""",
        f"""INSERT INTO users (id, email, full_name, is_active, created_at, language)
            SELECT g, 'owner' || g || '@bench.test', 'Owner ' || g, true, now(), NULL
            FROM generate_series(1, {clinics}) g""",
        f"""INSERT INTO memberships (tenant_id, user_id, role, digest_enabled, digest_when_quiet, alerts_enabled, created_at)
            SELECT g, g, 'owner', true, true, true, now() FROM generate_series(1, {clinics}) g""",
        f"""INSERT INTO questionnaires (id, tenant_id, name, is_default, created_at)
            SELECT g, g, 'Default', true, now() FROM generate_series(1, {clinics}) g""",
        f"""INSERT INTO questionnaire_versions (id, tenant_id, questionnaire_id, number, status, questions, created_at)
            SELECT g, g, g, 1, 'published', '[]', now() FROM generate_series(1, {clinics}) g""",
        f"""INSERT INTO collection_points (tenant_id, token, name, kind, questionnaire_id, active, scans, completions, created_at)
            SELECT g, 'benchpoint' || g, 'Reception', 'clinic', g, true, 0, 0, now() FROM generate_series(1, {clinics}) g""",
        f"""INSERT INTO responses (tenant_id, reference, submission_key, questionnaire_version_id, submitted_at, language,
                                  answers, nps, comment, risk_level, risk_reasons, urgent, publish_consent, topics,
                                  contact_phone)
            SELECT g, 'VR-B' || g || '-' || k, 'bench-key-' || g || '-' || k, g, now() - (k || ' hours')::interval,
                   'ru', '{{}}', CASE WHEN k = 1 THEN 1 ELSE 6 END,
                   CASE WHEN k = 1 THEN 'Waited an hour, nobody explained why.' ELSE 'The doctor was late.' END,
                   CASE WHEN k = 1 THEN 'critical' ELSE 'at_risk' END, '[]', k = 1, false, '{{}}',
                   CASE WHEN k = 1 THEN '+7 900 000-00-00' END
            FROM generate_series(1, {clinics}) g, generate_series(1, 3) k""",
    ]
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
        for table in ("tenants", "users", "questionnaires", "questionnaire_versions"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    engine.dispose()


def sample_message(size: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Vernost <no-reply@vernost.local>"
    message["To"] = "owner@bench.test"
    message["Subject"] = "Baseline"
    message.set_content("x" * (size // 3))
    message.add_alternative("<p>" + "y" * (2 * size // 3) + "</p>", subtype="html")
    return message


def baseline(port: int, count: int, size: int) -> float:
    """Raw smtplib: one connection per message, like app.mail.deliver; the work split over 2 threads."""
    message = sample_message(size)

    def worker(n):
        for _ in range(n):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.send_message(message)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(count // 2 + (i < count % 2),)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, default=10000)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/vernost_bench_digest")
    parser.add_argument("--redis-url", default=None,
                        help="a Redis nobody else uses (it is flushed); default: a scratch server on a free port")
    parser.add_argument("--time-limit", type=float, default=1200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    clinics = max(1, min(args.clinics, MAX_CLINICS))
    owner_url = make_url(args.database_url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    app_url = role_url(owner_url)
    if make_url(owner_url).host not in LOOPBACK:
        raise SystemExit("the bench runs on loopback only")

    import redis

    from jobs.embedded_redis import start_embedded_redis

    scratch = None if args.redis_url else start_embedded_redis()
    redis_url = args.redis_url or scratch.url
    redis.Redis.from_url(redis_url).flushdb()
    handler = CountingHandler()
    port = free_port()
    sink = Controller(handler, hostname="127.0.0.1", port=port)
    sink.start()
    instance = tempfile.mkdtemp(prefix="vernost-bench-")
    env = dict(os.environ, DATABASE_URL=app_url, MIGRATION_DATABASE_URL=owner_url, REDIS_URL=redis_url,
               SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), BASE_URL="https://vernost.example",
               VERNOST_INSTANCE_DIR=instance)
    os.environ.update(env)
    try:
        t0 = time.perf_counter()
        recreate_database(owner_url)
        from flask_migrate import upgrade

        from app import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": app_url, "MIGRATION_DATABASE_URL": owner_url})
        with app.app_context():
            upgrade()
        from tenants.rls import grant_app_role

        engine = create_engine(owner_url)
        with engine.begin() as conn:
            grant_app_role(conn, APP_ROLE)
        engine.dispose()
        populate(owner_url, clinics)
        setup_s = time.perf_counter() - t0

        # Baseline first, with messages the size of a real digest.
        from jobs.digests import dispatch

        with app.app_context():
            from app.digest import collect_digest, render_digest
            from app.models import Tenant
            from tenants.context import tenant_scope
            from app.extensions import db
            from datetime import timedelta
            from app.models import utcnow

            with tenant_scope(1):
                tenant = db.session.get(Tenant, 1)
                now = utcnow()
                subject, body, html = render_digest(collect_digest(tenant, now - timedelta(days=1), now), "ru", True)
        size = len(body.encode()) + len(html.encode())
        base_s = baseline(port, clinics, size)
        with handler.lock:
            handler.message_ids.clear()

        started = time.perf_counter()
        with app.app_context():
            claimed = dispatch()
        dispatch_s = time.perf_counter() - started
        workers = [subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
        deadline = started + args.time_limit
        timed_out = False
        for w in workers:
            remaining = max(deadline - time.perf_counter(), 1)
            try:
                w.wait(remaining)
            except subprocess.TimeoutExpired:
                timed_out = True
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        total_s = time.perf_counter() - started
        with handler.lock:
            delivered = len(handler.message_ids)
            distinct = len(set(handler.message_ids))
        engine = create_engine(owner_url)
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT status, count(*) FROM mail_outbox GROUP BY status")).all())
        engine.dispose()
        result = {
            "clinics": clinics, "claimed": claimed, "messages": delivered, "distinct_message_ids": distinct,
            "outbox": statuses, "setup_s": round(setup_s, 2), "dispatch_s": round(dispatch_s, 2),
            "total_s": round(total_s, 2), "messages_per_s": round(delivered / total_s, 1),
            "baseline_s": round(base_s, 2), "baseline_messages_per_s": round(clinics / base_s, 1),
            "ratio_vs_baseline": round((delivered / total_s) / (clinics / base_s), 3),
            "message_bytes": size, "timed_out": timed_out,
        }
        if args.json:
            print(json.dumps(result))
        else:
            print(f"clinics: {clinics} (setup {setup_s:.1f} s, bulk SQL)")
            print(f"baseline raw smtplib: {clinics} messages in {base_s:.1f} s = {clinics / base_s:.0f} msg/s")
            print(f"digests: dispatch {dispatch_s:.1f} s; {delivered} messages ({distinct} distinct) in "
                  f"{total_s:.1f} s = {delivered / total_s:.0f} msg/s; outbox {statuses}")
            print(f"ratio digests/baseline: {result['ratio_vs_baseline']:.3f}")
            if timed_out:
                print("time limit reached: the workers were stopped")
        ok = delivered == clinics == distinct and not timed_out
        return 0 if ok else 1
    finally:
        sink.stop()
        if scratch is not None:
            scratch.stop()


if __name__ == "__main__":
    raise SystemExit(main())
