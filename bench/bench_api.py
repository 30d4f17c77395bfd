"""The JSON API at scale: reading answers page by page, and visits pushed from a CRM.

Builds its own PostgreSQL database (``bench_api``, dropped and recreated) with one clinic
of ``--responses`` answers (default 200,000, two aspect ratings each, generated
server-side as in ``bench_metrics.py``) and an API key. Then, in the same run, through the
Flask test client (the app's own work, without a network stack):

1. read: ``GET /api/v1/responses?limit=500&after=…`` for ``--pages`` pages (each page also
   writes its access-log entry), against a baseline of the same pages read by hand-written
   SQL (the page of responses and their ratings, two queries, rows fetched as tuples);
2. push: ``--pushes`` requests of 1,000 new visits each to ``POST /api/v1/visits``,
   against the same number of visits imported as one CSV file through the product's own
   import (``run_import``), and against a bare ``executemany`` INSERT of the same rows;
3. the same push sent again: every visit is recognised as a duplicate and nothing is written;
4. webhooks: ``--deliveries`` answers announced as ``response.created`` and delivered one by one
   (claim, payload from the database, signature, POST to a receiver on loopback answering 204,
   the row and the access log written), against a baseline of the same number of signed POSTs of
   a body built once, by a bare ``httpx`` client (kept alive, like the product's) to the same receiver.

Prints pages/s and p50/p95 per page, visits/s, deliveries/s, and the ratios to each baseline.

    python bench/bench_api.py [--owner-url postgresql://postgres@127.0.0.1:5432/postgres]
                              [--responses 200000] [--pages 100] [--pushes 20] [--deliveries 500] [--json]

Loopback only; bounded by the sizes given.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import fresh_database, print_results, require_loopback
from bench.bench_metrics import generate

DB_NAME = "bench_api"
SLUG = "bench-api"
TZ = "Europe/Moscow"
PAGE = 500
PUSH = 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def visit_rows(count: int, start: int, rng: random.Random) -> list[dict]:
    """New visits of distinct patients over the last three years (``start`` keeps batches apart)."""
    today = date.today()
    return [{"patient": f"CRM-{start + n}", "visited_on": (today - timedelta(days=rng.randint(0, 3 * 365))).isoformat(),
             "amount": rng.randint(5, 80) * 100, "service": f"service {n % 12}"} for n in range(count)]


def read_pages(client, headers: dict, pages: int) -> tuple[list[float], int]:
    timings, after, read = [], 0, 0
    for _ in range(pages):
        started = time.perf_counter()
        answer = client.get(f"/api/v1/responses?limit={PAGE}&after={after}", headers=headers)
        timings.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.json
        read += len(answer.json["responses"])
        after = answer.json["next_after"]
        if after is None:
            break
    return timings, read


def read_pages_by_sql(engine, tenant_id: int, pages: int) -> list[float]:
    timings, after = [], 0
    with engine.connect() as conn:
        for _ in range(pages):
            started = time.perf_counter()
            rows = conn.execute(text(
                "SELECT id, reference, submitted_at, language, branch_id, doctor_id, nps, would_return, comment, "
                "urgent, risk_level, risk_reasons, sentiment_label, sentiment_polarity, topics FROM responses "
                "WHERE tenant_id = :t AND id > :after ORDER BY id LIMIT :n"),
                {"t": tenant_id, "after": after, "n": PAGE}).all()
            ids = [row[0] for row in rows]
            conn.execute(text("SELECT response_id, aspect, score FROM response_ratings "
                              "WHERE tenant_id = :t AND response_id = ANY(:ids)"), {"t": tenant_id, "ids": ids}).all()
            timings.append(time.perf_counter() - started)
            if len(rows) < PAGE:
                break
            after = ids[-1]
    return timings


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that reads the body and answers 204, as a well-behaved one does."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def deliver_webhooks(app, tenant_id: int, count: int) -> dict:
    """Announce ``count`` answers to a webhook on loopback and deliver them, against bare signed POSTs."""
    import httpx
    from sqlalchemy import select

    from app import webhooks
    from app.extensions import db
    from app.models import Response, WebhookDelivery
    from tenants.context import tenant_scope

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        with app.app_context(), tenant_scope(tenant_id):
            hook = webhooks.create_webhook(url, ["response.created"], None)
            db.session.commit()
            ids = db.session.scalars(select(Response.id).order_by(Response.id.desc()).limit(count)).all()
            started = time.perf_counter()
            for response_id in ids:
                webhooks.announce("response.created", response_id, f"bench:{response_id}", hooks=[hook])
            db.session.commit()
            announce = time.perf_counter() - started
            deliveries = db.session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)).all()
            timings = []
            for delivery_id in deliveries:
                started = time.perf_counter()
                assert webhooks.deliver(delivery_id) == "delivered"
                timings.append(time.perf_counter() - started)
            body = b'{"id":"whd_1","event":"response.created","data":{"response":{"comment":"' + b"x" * 200 + b'"}}}'
            bare = []
            with httpx.Client(timeout=10) as client:  # kept alive, as the product's own client
                for _ in deliveries:
                    started = time.perf_counter()
                    headers = {"Content-Type": "application/json",
                               "Vernost-Signature": webhooks.signature(hook.secret, int(time.time()), body)}
                    assert client.post(url, content=body, headers=headers).status_code == 204
                    bare.append(time.perf_counter() - started)
    finally:
        server.shutdown()
        server.server_close()
    return {"webhook_deliveries": len(timings), "announce_per_answer_ms": round(1000 * announce / len(ids), 2),
            "deliveries_per_s": round(len(timings) / sum(timings)),
            "delivery_p50_ms": round(1000 * statistics.median(timings), 2),
            "delivery_p95_ms": round(1000 * percentile(timings, 0.95), 2),
            "bare_post_p50_ms": round(1000 * statistics.median(bare), 2),
            "delivery_over_bare_post": round(statistics.median(timings) / statistics.median(bare), 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owner-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--responses", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    require_loopback(parser, args.owner_url, args.redis_url)
    if not (PAGE <= args.responses <= 2_000_000 and 1 <= args.pages <= 1000 and 1 <= args.pushes <= 200
            and 1 <= args.deliveries <= 10_000):
        parser.error("sizes out of bounds")

    url = fresh_database(args.owner_url, DB_NAME)
    from flask_migrate import upgrade

    from app import create_app
    from app.api_keys import issue_key
    from app.extensions import db
    from app.visits_import import create_import, run_import
    from tenants.context import platform_scope, tenant_scope
    from tenants.onboarding import onboard_clinic

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url, "REDIS_URL": args.redis_url,
                      "TESTING": True, "SERVER_NAME": None, "API_RATE_LIMIT": 1_000_000,
                      "WEBHOOK_ALLOW_PRIVATE": True})
    with app.app_context():
        upgrade()
        with platform_scope():
            tenant_id = onboard_clinic(slug=SLUG, name="API clinic", owner_email=f"owner@{SLUG}.test",
                                       plan="network", timezone=TZ, actor="bench").tenant_id
            import_clinic = onboard_clinic(slug="bench-file", name="File clinic", owner_email="owner@bench-file.test",
                                           plan="network", timezone=TZ, actor="bench").tenant_id
        db.session.commit()
        with tenant_scope(tenant_id):
            token = issue_key("bench", ["read", "visits"], None).token
            db.session.commit()
    engine = create_engine(url)
    started = time.perf_counter()
    generate(engine, tenant_id, args.responses, 0, 1)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    results: dict = {"responses": args.responses, "generation_s": round(time.perf_counter() - started, 1)}

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    read_pages(client, headers, 3)  # warm the caches and the connection pool
    api_timings, read = read_pages(client, headers, args.pages)
    sql_timings = read_pages_by_sql(engine, tenant_id, args.pages)
    results.update(
        read_pages=len(api_timings), read_responses=read,
        read_responses_per_s=round(read / sum(api_timings)),
        read_page_p50_ms=round(1000 * statistics.median(api_timings), 1),
        read_page_p95_ms=round(1000 * percentile(api_timings, 0.95), 1),
        baseline_sql_page_p50_ms=round(1000 * statistics.median(sql_timings), 1),
        read_over_sql=round(statistics.median(api_timings) / statistics.median(sql_timings), 1))

    rng = random.Random(7)
    batches = [visit_rows(PUSH, n * PUSH, rng) for n in range(args.pushes)]
    total = PUSH * args.pushes
    push_timings = []
    for batch in batches:
        started = time.perf_counter()
        answer = client.post("/api/v1/visits", headers=headers, json={"visits": batch})
        push_timings.append(time.perf_counter() - started)
        assert answer.status_code == 201 and answer.json["imported"] == PUSH, answer.json
    started = time.perf_counter()
    for batch in batches[:5]:
        answer = client.post("/api/v1/visits", headers=headers, json={"visits": batch})
        assert answer.json["duplicates"] == PUSH, answer.json
    repeat = (time.perf_counter() - started) / min(5, len(batches))

    lines = ["patient;date;service;amount"] + [f"{v['patient']};{v['visited_on']};{v['service']};{v['amount']}"
                                               for batch in batches for v in batch]
    with app.app_context(), tenant_scope(import_clinic):
        started = time.perf_counter()
        visit_import = create_import("crm.csv", "\n".join(lines).encode(), "utf-8", "bench")
        db.session.commit()
        report = run_import(visit_import, date.today(), track_progress=False)
        file_import = time.perf_counter() - started
        assert report.ok and report.imported == total, report.errors[:3]

    with engine.connect() as conn:  # rolled back: the rows only measure the cost of writing them
        patient = conn.execute(text("SELECT min(id) FROM patients WHERE tenant_id = :t"), {"t": tenant_id}).scalar()
        started = time.perf_counter()
        conn.execute(text("INSERT INTO visits (tenant_id, patient_id, visited_on, service, amount_kopecks, "
                          "bonuses_awarded_kopecks, bonuses_redeemed_kopecks, fingerprint) "
                          "VALUES (:t, :p, :d, :s, :a, 0, 0, :f)"),
                     [{"t": tenant_id, "p": patient, "d": v["visited_on"], "s": v["service"], "a": v["amount"] * 100,
                       "f": f"bare-{i}"} for i, v in enumerate(v for batch in batches for v in batch)])
        bare = time.perf_counter() - started
        conn.rollback()
    pushed = sum(push_timings)
    results.update(
        pushes=args.pushes, pushed_visits=total, push_visits_per_s=round(total / pushed),
        push_p50_ms=round(1000 * statistics.median(push_timings), 1),
        push_p95_ms=round(1000 * percentile(push_timings, 0.95), 1),
        repeat_push_ms=round(1000 * repeat, 1),
        file_import_visits_per_s=round(total / file_import),
        bare_insert_visits_per_s=round(total / bare),
        push_over_file_import=round(pushed / file_import, 2),
        push_over_bare_insert=round(pushed / bare, 1))
    results.update(deliver_webhooks(app, tenant_id, args.deliveries))
    engine.dispose()
    print_results(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
