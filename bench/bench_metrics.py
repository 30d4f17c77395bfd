"""Metric snapshots at scale: full recompute, incremental refresh, dashboard render time.

Builds its own PostgreSQL database (``bench_analytics``, dropped and recreated) with
100 clinics; one large clinic gets ``--responses`` survey answers (default 1,000,000,
two aspect ratings each) and ``--visits`` CRM visits (default 200,000) over three
years and ``--reviews`` public reviews (default 20,000) over four, the other 99 small
amounts. Data is generated server-side
(``INSERT ... SELECT ... generate_series``). Then it measures, in the same run:

1. full recompute of the large clinic (every month, quarter and year, every segment);
2. baseline: one hand-written SQL aggregate over the same rows (responses of the
   clinic grouped by local month with the NPS counts) — the ratio shows what the
   per-period, per-segment snapshot costs compared with a single scan;
3. incremental refresh after 1,000 new responses (their month, quarter, year);
4. p50/p95 render time of the workspace's first page (what waits, the last day and week), the
   dashboard's overview, scorecards and segments pages, the web reputation overview, the next digest's
   preview, and of the journal searching its comments for a common, a rare and an absent word (Flask
   test client), after writing today's reputation snapshots as the nightly scrape does (timed, and
   what moves the index computed afresh over every review, timed on its own);
5. a new clinic's first CRM import through the product's own path (``--import-visits``
   visits in a CSV, ``run_import``) and the full recompute that follows it, against the
   same recompute after a database-wide ``ANALYZE``: a ratio near 1 means the statistics
   the import refreshes are as good as fresh ones, and the planner does not get the
   nested loops it chooses for tables it believes empty.

    python bench/bench_metrics.py [--owner-url postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--responses 1000000] [--visits 200000] [--reviews 20000] [--renders 40]
                                  [--import-visits 30000] [--json]

Loopback only; bounded by the sizes given.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import fresh_database, print_results

DB_NAME = "bench_analytics"
BIG = "bench-big"
PASSWORD = "bench-password-123"
TZ = "Europe/Moscow"


def onboard(app, count: int) -> dict[str, int]:
    from app.accounts import accept_invitation
    from app.extensions import db
    from tenants.context import platform_scope, tenant_scope
    from tenants.onboarding import onboard_clinic

    ids = {}
    with app.app_context():
        for index in range(count):
            slug = BIG if index == 0 else f"bench-{index:03d}"
            with platform_scope():
                result = onboard_clinic(slug=slug, name=f"Clinic {index}", owner_email=f"owner@{slug}.test",
                                        plan="network", timezone=TZ, actor="bench")
            if index == 0:
                with tenant_scope(result.tenant_id):
                    accept_invitation(result.invitation_token, full_name="Owner", password=PASSWORD)
            db.session.commit()
            ids[slug] = result.tenant_id
    return ids


def generate(engine, tenant_id: int, responses: int, visits: int, patients: int, seed_offset: int = 0,
             reviews: int = 100) -> None:
    """Server-side generation of one clinic's branches, doctors, responses, ratings, patients, visits and
    public reviews.

    Answers are spread evenly over three years in the order of their ids, as a clinic stores them
    when they arrive (and the answers of one period lie together on disk).
    """
    with engine.begin() as conn:
        params = {"t": tenant_id, "n": responses, "v": visits, "p": patients, "o": seed_offset, "r": reviews}
        conn.execute(text("""
            INSERT INTO branches (tenant_id, name, address, created_at)
            SELECT :t, 'Branch ' || b, '', now() FROM generate_series(1, 5) b"""), params)
        conn.execute(text("""
            INSERT INTO doctors (tenant_id, full_name, specialty, branch_id, active, created_at)
            SELECT :t, 'Doctor ' || d, (ARRAY['therapist','surgeon','dentist','cardiologist'])[1 + d % 4],
                   (SELECT min(id) FROM branches WHERE tenant_id = :t) + d % 5, true, now()
            FROM generate_series(1, 40) d"""), params)
        conn.execute(text("""
            INSERT INTO responses (tenant_id, reference, submission_key, collection_point_id,
                questionnaire_version_id, branch_id, doctor_id, submitted_at, language, answers, nps,
                would_return, comment, risk_level, risk_reasons, urgent, publish_consent, topics,
                sentiment_polarity)
            SELECT :t, 'B' || :t || '-' || g, md5(:t || '-' || g), cp.id, qv.id,
                   b0.id + g % 5, d0.id + g % 40,
                   now() - ((:n - g)::bigint * (3 * 365 * 24 * 60) / :n) * interval '1 minute',
                   'ru', '{}'::json, (g * 31 + :o) % 11, (g % 5) <> 0,
                   CASE WHEN g % 2 = 0 THEN 'Визит ' || md5(g::text) || ' врач хороший' ELSE '' END,
                   CASE WHEN (g * 31 + :o) % 11 <= 3 THEN 'critical' WHEN (g * 31 + :o) % 11 <= 6 THEN 'at_risk'
                        ELSE 'ok' END,
                   '[]'::json, false, false,
                   -- A comment's aspects, as the worker tags them: the doctor praised, waiting now and then not.
                   CASE WHEN g % 6 = 0 THEN '{"doctor": 0.62, "waiting": -0.71}'::json
                        WHEN g % 2 = 0 THEN '{"doctor": 0.62}'::json ELSE '{}'::json END,
                   CASE WHEN g % 3 = 0 THEN ((g % 200) - 100) / 100.0 END
            FROM generate_series(1, :n) g,
                 (SELECT min(id) id FROM collection_points WHERE tenant_id = :t) cp,
                 (SELECT min(v.id) id FROM questionnaire_versions v WHERE v.tenant_id = :t) qv,
                 (SELECT min(id) id FROM branches WHERE tenant_id = :t) b0,
                 (SELECT min(id) id FROM doctors WHERE tenant_id = :t) d0"""), params)
        conn.execute(text("""
            INSERT INTO response_ratings (tenant_id, response_id, aspect, score)
            SELECT :t, r.id, a.aspect, 1 + (r.id + a.k) % 5
            FROM responses r, (VALUES ('doctor', 0), ('waiting', 2)) a(aspect, k) WHERE r.tenant_id = :t"""),
            params)
        # The comments' aspects as rows too, as the worker stores them (app.feedback.store_topics).
        conn.execute(text("""
            INSERT INTO response_aspects (tenant_id, response_id, aspect, polarity, submitted_at)
            SELECT :t, r.id, t.key, CAST(t.value AS FLOAT), r.submitted_at
            FROM responses r, json_each_text(r.topics) t WHERE r.tenant_id = :t AND r.comment <> ''"""), params)
        conn.execute(text("""
            INSERT INTO patients (tenant_id, external_id, gender, birth_year, district, created_at)
            SELECT :t, 'P' || p, CASE WHEN p % 2 = 0 THEN 'f' ELSE 'm' END, 1940 + p % 65,
                   'District ' || p % 12, now()
            FROM generate_series(1, :p) p"""), params)
        conn.execute(text("""
            INSERT INTO visits (tenant_id, patient_id, visited_on, branch_id, doctor_id, service, amount_kopecks,
                bonuses_awarded_kopecks, bonuses_redeemed_kopecks, fingerprint)
            SELECT :t, p0.id + (g * 7) % :p, current_date - (g * 37) % (3 * 365), b0.id + g % 5, d0.id + g % 40,
                   'service ' || g % 12, 100000 + (g % 50) * 10000, (g % 7) * 1000, (g % 11) * 500,
                   md5('v' || :t || '-' || g)
            FROM generate_series(1, :v) g,
                 (SELECT min(id) id FROM patients WHERE tenant_id = :t) p0,
                 (SELECT min(id) id FROM branches WHERE tenant_id = :t) b0,
                 (SELECT min(id) id FROM doctors WHERE tenant_id = :t) d0"""), params)
        # Public reviews over four years: three in four scraped from the clinic's four sources (one per
        # site), the rest imported; half about a doctor, a third about a branch; most with text.
        conn.execute(text("""
            INSERT INTO review_sources (tenant_id, url, site, label, active, fetch_state, status, last_error,
                                        created_at)
            SELECT :t, 'https://' || s || '.example/clinic-' || :t, s, initcap(s), true, '{}'::json, 'ok', '', now()
            FROM unnest(ARRAY['prodoctorov', 'yandex', '2gis', 'zoon']) s"""), params)
        conn.execute(text("""
            INSERT INTO external_reviews (tenant_id, key, source_id, origin, site, url, branch_id, doctor_id,
                author, published_on, rating, text, first_seen_at, sentiment_label, sentiment_polarity,
                contradiction, topics)
            SELECT :t, 'bench-' || g, CASE WHEN g % 4 <> 0 THEN src.id END,
                   CASE WHEN g % 4 <> 0 THEN 'scrape' ELSE 'csv' END, src.site, '',
                   CASE WHEN g % 3 = 0 THEN b0.id + g % 5 END, CASE WHEN g % 2 = 0 THEN d0.id + g % 40 END,
                   'Автор ' || g, current_date - (g * 7919) % (4 * 365), CASE WHEN g % 10 <> 0 THEN 1 + g % 5 END,
                   CASE WHEN g % 7 <> 0 THEN 'Отзыв ' || md5(g::text) || ': врач внимательный, но ждали долго.'
                        ELSE '' END,
                   now() - ((g * 7919) % (4 * 365)) * interval '1 day',
                   (ARRAY['negative', 'negative', 'neutral', 'positive', 'positive'])[1 + g % 5],
                   CASE WHEN g % 7 <> 0 THEN ((g % 200) - 100) / 100.0 END, false,
                   CASE WHEN g % 7 <> 0 THEN '{"doctor": 0.6, "waiting": -0.5}'::json ELSE '{}'::json END
            FROM generate_series(1, :r) g
            JOIN LATERAL (SELECT id, site FROM review_sources WHERE tenant_id = :t ORDER BY id
                          OFFSET g % 4 LIMIT 1) src ON true,
                 (SELECT min(id) id FROM branches WHERE tenant_id = :t) b0,
                 (SELECT min(id) id FROM doctors WHERE tenant_id = :t) d0"""), params)
        conn.execute(text("""
            UPDATE patients p SET first_visit_on = f.first FROM (
                SELECT patient_id, min(visited_on) first FROM visits WHERE tenant_id = :t GROUP BY patient_id) f
            WHERE p.id = f.patient_id AND p.tenant_id = :t"""), params)


def build_clinics(app, engine, clinics: int, responses: int, visits: int, reviews: int) -> dict[str, int]:
    """``clinics`` clinics: the large one (``BIG``) with the sizes given, the others small; their ids by slug."""
    ids = onboard(app, clinics)
    generate(engine, ids[BIG], responses, visits, max(1, visits // 4), reviews=reviews)
    for index, (slug, tenant_id) in enumerate(ids.items()):
        if slug != BIG:
            generate(engine, tenant_id, 2000, 500, 150, seed_offset=index)
    return ids


def add_cases(engine, tenant_id: int) -> int:
    """A case for each at-risk answer of the clinic, as the product opens them: those older than three days
    resolved within 0-95 hours (some after their deadline), every other one with a logged call; returns how many."""
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO cases (tenant_id, response_id, doctor_id, branch_id, status, origin, deadline_at, resolution,
                               created_at, updated_at, resolved_at)
            SELECT :t, r.id, r.doctor_id, r.branch_id, CASE WHEN r.submitted_at < now() - interval '3 days' THEN 'resolved' ELSE 'in_progress' END,
                   'auto', r.submitted_at + CASE WHEN r.risk_level = 'critical' THEN interval '12 hours'
                                                 ELSE interval '72 hours' END,
                   '', r.submitted_at, r.submitted_at,
                   CASE WHEN r.submitted_at < now() - interval '3 days' THEN r.submitted_at + (r.id % 96) * interval '1 hour' END
            FROM responses r WHERE r.tenant_id = :t AND r.risk_level <> 'ok'"""), {"t": tenant_id})
        conn.execute(text("""
            INSERT INTO case_events (tenant_id, case_id, kind, old_value, new_value, text, at)
            SELECT :t, c.id, 'contact', '', 'reached', '', c.created_at + (c.id % 30) * interval '1 hour'
            FROM cases c WHERE c.tenant_id = :t AND c.id % 2 = 0"""), {"t": tenant_id})
        return conn.execute(text("SELECT count(*) FROM cases WHERE tenant_id = :t"), {"t": tenant_id}).scalar()


def analyze(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def baseline(engine, tenant_id: int) -> float:
    """One hand-written aggregate over the clinic's responses: NPS counts per local month."""
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(text("""
            SELECT date_trunc('month', submitted_at AT TIME ZONE :tz) m, count(*), count(nps),
                   sum(CASE WHEN nps >= 9 THEN 1 ELSE 0 END), sum(CASE WHEN nps <= 6 THEN 1 ELSE 0 END)
            FROM responses WHERE tenant_id = :t GROUP BY 1"""), {"t": tenant_id, "tz": TZ}).all()
    return time.perf_counter() - started


def first_import(app, engine, visits: int) -> dict:
    """A new clinic imports its CRM export, then its metrics are computed; then again after ANALYZE."""
    import random
    from datetime import date, timedelta

    from app.analytics.compute import recompute_all
    from app.extensions import db
    from app.models import Tenant
    from app.visits_import import create_import, run_import
    from tenants.context import platform_scope, tenant_scope
    from tenants.onboarding import onboard_clinic

    rng = random.Random(1)
    today = date.today()
    lines = ["patient;date;service;amount"]
    for n in range(visits):
        day = today - timedelta(days=rng.randint(0, 3 * 365))
        lines.append(f"P{rng.randint(1, max(1, visits // 4))};{day.isoformat()};service {n % 12};{rng.randint(5, 80)}00")
    with app.app_context():
        with platform_scope():
            tenant_id = onboard_clinic(slug="bench-import", name="Import", owner_email="owner@bench-import.test",
                                       plan="network", timezone=TZ, actor="bench").tenant_id
            db.session.commit()
        with tenant_scope(tenant_id):
            started = time.perf_counter()
            visit_import = create_import("crm.csv", "\n".join(lines).encode(), "utf-8", "bench")
            db.session.commit()
            report = run_import(visit_import, today, track_progress=False)
            imported = time.perf_counter() - started
            assert report.ok, report.errors[:3]
            tenant = db.session.get(Tenant, tenant_id)
            started = time.perf_counter()
            recompute_all(tenant, today)
            after_import = time.perf_counter() - started
        analyze(engine)
        with tenant_scope(tenant_id):
            tenant = db.session.get(Tenant, tenant_id)
            started = time.perf_counter()
            recompute_all(tenant, today)
            after_analyze = time.perf_counter() - started
    return {"import_visits": visits, "import_s": round(imported, 2),
            "recompute_after_import_s": round(after_import, 2),
            "recompute_after_analyze_s": round(after_analyze, 2),
            "after_import_over_after_analyze": round(after_import / after_analyze, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owner-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--visits", type=int, default=200_000)
    parser.add_argument("--clinics", type=int, default=100)
    parser.add_argument("--reviews", type=int, default=20_000)
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--import-visits", type=int, default=30_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (1 <= args.responses <= 5_000_000 and 1 <= args.visits <= 2_000_000 and 1 <= args.clinics <= 500
            and 1 <= args.import_visits <= 200_000 and 0 <= args.reviews <= 1_000_000):
        parser.error("sizes out of bounds")

    url = fresh_database(args.owner_url, DB_NAME)
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url, "REDIS_URL": args.redis_url,
                      "WTF_CSRF_ENABLED": False, "TESTING": True, "SERVER_NAME": None})
    with app.app_context():
        upgrade()
    engine = create_engine(url)
    t0 = time.perf_counter()
    ids = build_clinics(app, engine, args.clinics, args.responses, args.visits, args.reviews)
    big = ids[BIG]
    cases = add_cases(engine, big)
    analyze(engine)
    generation = time.perf_counter() - t0

    from app.analytics.compute import recompute_all
    from app.analytics.refresh import mark_dirty, refresh_dirty
    from app.extensions import db
    from app.models import Tenant
    from tenants.context import tenant_scope
    from tenants.resolve import clinic_local_now

    results: dict = {"responses": args.responses, "visits": args.visits, "reviews": args.reviews,
                     "clinics": args.clinics, "cases": cases,
                     "generation_s": round(generation, 1)}
    base = min(baseline(engine, big) for _ in range(3))
    with app.app_context(), tenant_scope(big):
        tenant = db.session.get(Tenant, big)
        started = time.perf_counter()
        periods = recompute_all(tenant, clinic_local_now(tenant).date())
        full = time.perf_counter() - started
    results.update(full_recompute_s=round(full, 2), periods=periods, baseline_single_aggregate_s=round(base, 3),
                   full_over_baseline=round(full / base, 1))

    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO responses (tenant_id, reference, submission_key, collection_point_id,
                questionnaire_version_id, submitted_at, language, answers, nps, comment, risk_level,
                risk_reasons, urgent, publish_consent, topics)
            SELECT r.tenant_id, 'N' || g, md5('new' || g), r.collection_point_id, r.questionnaire_version_id,
                   now() - (g % 60) * interval '1 second', 'ru', '{}'::json, g % 11, '', 'ok', '[]'::json,
                   false, false, '{}'::json
            FROM generate_series(1, 1000) g, (SELECT * FROM responses WHERE tenant_id = :t LIMIT 1) r"""),
            {"t": big})
    with app.app_context(), tenant_scope(big):
        tenant = db.session.get(Tenant, big)
        started = time.perf_counter()
        from datetime import datetime, timezone

        mark_dirty(tenant, datetime.now(timezone.utc))
        db.session.commit()
        refreshed = refresh_dirty(tenant)
        incremental = time.perf_counter() - started
    results.update(incremental_refresh_s=round(incremental, 2), incremental_periods=refreshed,
                   incremental_over_baseline=round(incremental / base, 1))

    with app.app_context(), tenant_scope(big):
        clinic_today_year = clinic_local_now(db.session.get(Tenant, big)).year
        from app.cases import case_handling

        # How the year's cases were handled, on its own: the part of the report that reads every case of the year.
        year_start = datetime(clinic_today_year, 1, 1, tzinfo=timezone.utc)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            case_handling(year_start, datetime.now(timezone.utc))
            timings.append(time.perf_counter() - started)
        results.update(case_handling_year_ms=round(1000 * min(timings), 1),
                       case_handling_year_over_baseline=round(min(timings) / base, 2))

    with app.app_context(), tenant_scope(big):
        from app.reputation.service import _live_drivers, clinic_today, compute_snapshots

        # Today's reputation snapshots, as the nightly scrape writes them (the clinic's keeps what
        # moves its index, which the overview then reads), and what moves the index computed afresh
        # over every review, as for another day or a scope.
        started = time.perf_counter()
        compute_snapshots()
        db.session.commit()
        snapshot_ms = 1000 * (time.perf_counter() - started)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            _live_drivers(None, None, clinic_today(), 3)
            timings.append(time.perf_counter() - started)
        results.update(reputation_snapshots_ms=round(snapshot_ms, 1),
                       index_drivers_live_ms=round(1000 * min(timings), 1),
                       index_drivers_live_over_baseline=round(min(timings) / base, 2))

    client = app.test_client()
    response = client.post("/login", data={"email": f"owner@{BIG}.test", "password": PASSWORD})
    assert response.status_code in (200, 302), response.status_code
    for name, path in (("home", f"/c/{BIG}/"), ("overview", f"/c/{BIG}/dashboard"), ("scorecards", f"/c/{BIG}/dashboard/scorecards"),
                       ("segments", f"/c/{BIG}/dashboard/segments?kind=age_band"),
                       # The case lists with how the last 30 days' cases were handled, and the year's report.
                       ("cases", f"/c/{BIG}/cases"),
                       ("report_year", f"/c/{BIG}/dashboard/report?period={clinic_today_year}"),
                       # The web reputation overview: the index of every scope over all the public
                       # reviews, the trend, and the aspects of the comments.
                       ("reputation", f"/c/{BIG}/reputation"),
                       # The next digest as the workspace previews it: everything the noon digest reads.
                       ("digest_preview", f"/c/{BIG}/digests/preview/mail"),
                       # Text search: a word in half the comments, a rare one, and one in none.
                       ("search_common", f"/c/{BIG}/journal?q=врач"), ("search_rare", f"/c/{BIG}/journal?q=abcdef"),
                       ("search_absent", f"/c/{BIG}/journal?q=зуб")):
        timings = []
        for _ in range(args.renders):
            started = time.perf_counter()
            response = client.get(path)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, (path, response.status_code)
        timings.sort()
        results[f"{name}_render_p50_ms"] = round(1000 * statistics.median(timings), 1)
        results[f"{name}_render_p95_ms"] = round(1000 * timings[int(0.95 * (len(timings) - 1))], 1)
        results[f"{name}_p95_over_baseline"] = round(timings[int(0.95 * (len(timings) - 1))] / base, 2)
    results.update(first_import(app, engine, args.import_visits))
    engine.dispose()
    print_results(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
