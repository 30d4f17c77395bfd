"""Scrape-to-index throughput through the real job path, against the pure fetch+extract baseline.

Serves the generated pages of ``bench_scrape`` from a loopback HTTP server, then in the
same run:

1. baseline: ``fetch_source`` for every source (robots.txt, pagination, extraction), no
   database;
2. job path: a clinic with one review source per generated source, a ``ScrapeRun`` committed
   and promised through the outbox, the ``scrape`` queue worked by the real worker
   (``jobs.scrape.scrape_clinic``): fetch, extract, dedup, sentiment and aspects of every
   review, DB writes, progress commits and the index snapshots at the end.

Prints pages/s of both and the ratio job/baseline. The database is a scratch SQLite file
unless ``DATABASE_URL`` is set; Redis is ``REDIS_URL`` or a scratch embedded server.
Never leaves the loopback interface.

    python bench/bench_reputation.py [--pages 1000] [--time-limit 300] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scrape import MAX_PAGES, PAGES_PER_SOURCE, build_site, run_scrape, serve  # noqa: E402


def _app(instance: str, redis_url: str):
    from flask_migrate import upgrade

    from app import create_app

    database = os.environ.get("DATABASE_URL") or f"sqlite:///{instance}/bench.db"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database, "MIGRATION_DATABASE_URL": os.environ.get("MIGRATION_DATABASE_URL", database),
        "REDIS_URL": redis_url, "INSTANCE_DIR": instance,
        "REPUTATION_ALLOW_PRIVATE": True, "REPUTATION_FETCH_DELAY": 0.0, "REPUTATION_MAX_PAGES": PAGES_PER_SOURCE,
    })
    with app.app_context():
        upgrade()
    return app


def run_job_path(app, base: str, sources: list[str]) -> dict:
    """Onboard a clinic with the sources, start a run like the workspace does, work the queue."""
    from sqlalchemy import func, select

    from app.extensions import db, redis_client
    from app.models import ExternalReview, ReviewSource, ScrapeRun
    from app.reputation.service import start_scrape_run
    from jobs.outbox import flush_outbox
    from jobs.worker import InlineAppWorker, build_worker
    from tenants.context import platform_scope, tenant_scope
    from tenants.onboarding import onboard_clinic

    with app.app_context():
        redis_client().flushdb()
        with platform_scope():
            clinic = onboard_clinic(slug=f"bench{int(time.time())}", name="Bench clinic", owner_email="bench@bench.test",
                                    plan="standard", timezone="Europe/Moscow", actor="bench")
        with tenant_scope(clinic.tenant_id):
            for path in sources:
                db.session.add(ReviewSource(url=base + path))
            db.session.commit()
            run = start_scrape_run("manual")
            db.session.commit()
            run_id, job_id = run.id, run.job_id
        flush_outbox([job_id])
    worker = build_worker(app, ["scrape"], worker_class=InlineAppWorker)
    started = time.perf_counter()
    worker.work(burst=True)
    elapsed = time.perf_counter() - started
    with app.app_context(), tenant_scope(clinic.tenant_id):
        run = db.session.get(ScrapeRun, run_id)
        reviews = db.session.scalar(select(func.count()).select_from(ExternalReview))
        status, failed = run.status, run.sources_failed
    return {"status": status, "sources_failed": failed, "reviews_stored": reviews, "seconds": round(elapsed, 3)}


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000, help=f"pages to serve (at most {MAX_PAGES})")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds for the baseline before stopping early")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    total = max(1, min(args.pages, MAX_PAGES))

    pages, sources = build_site(total)
    page_count = len(pages) - 1
    server, base = serve(pages)
    embedded = None
    instance = tempfile.mkdtemp(prefix="vernost-bench-")
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            from jobs.embedded_redis import start_embedded_redis

            embedded = start_embedded_redis()
            redis_url = embedded.url
        app = _app(instance, redis_url)
        # Warm the sentiment model and lexicons so the job run does not pay their loading.
        from app.nlp.sentiment import score_text
        from app.nlp.topics import tag_aspects

        score_text("warm up"), tag_aspects("врач")
        baseline = run_scrape(base, sources, time.perf_counter() + args.time_limit)
        job = run_job_path(app, base, sources)
    finally:
        server.shutdown()
        server.server_close()
        if embedded is not None:
            embedded.stop()

    job["pages"] = page_count
    job["pages_per_s"] = round(page_count / job["seconds"], 1) if job["seconds"] else None
    job["reviews_per_s"] = round(job["reviews_stored"] / job["seconds"], 1) if job["seconds"] else None
    ratio = round(job["pages_per_s"] / baseline["pages_per_s"], 3) if baseline["pages_per_s"] else None
    figures = {"pages_served": page_count, "sources": len(sources),
               "database": "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite",
               "baseline_fetch_and_extract": baseline, "job_scrape_to_index": job, "job_to_baseline_pages_per_s": ratio}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"pages served: {page_count} in {len(sources)} sources ({figures['database']})")
        print(f"baseline (fetch_source, no DB): {baseline['pages']} pages in {baseline['seconds']} s "
              f"= {baseline['pages_per_s']} pages/s")
        print(f"job path (scrape_clinic):       {page_count} pages, {job['reviews_stored']} reviews stored in "
              f"{job['seconds']} s = {job['pages_per_s']} pages/s, {job['reviews_per_s']} reviews/s "
              f"(run {job['status']}, {job['sources_failed']} failed sources)")
        print(f"job / baseline: {ratio}")
    return 0 if job["status"] == "done" and job["sources_failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
