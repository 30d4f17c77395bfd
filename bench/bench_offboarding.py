"""Deleting an ended clinic at scale: ``tenants.offboarding.delete_clinic`` on PostgreSQL.

Builds its own database (``bench_offboarding``, dropped and recreated): ``--clinics`` clinics,
one large one with ``--responses`` answers (two ratings each), ``--visits`` visits and a case for
one critical answer in ten (each with an event), the others with 2,000 answers and 500 visits
each, cases likewise. Then, in the same run:

1. baseline: reading every row of the large clinic once (``count(*)`` of each of its tables);
2. the large clinic's whole export (``app.clinic_export``, the ZIP its owner downloads before the
   end): seconds, rows a second and megabytes;
3. deleting a small clinic, then the large one, through the product's own path, and the ratio of
   the large deletion to the baseline;
4. a check that every other clinic still has exactly the rows it had.

    python bench/bench_offboarding.py [--owner-url postgresql://postgres@127.0.0.1:5432/postgres]
                                      [--responses 1000000] [--visits 200000] [--clinics 20] [--json]

Loopback only; bounded by the sizes given.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import fresh_database, print_results, require_loopback
from bench.bench_metrics import BIG, analyze, build_clinics

DB_NAME = "bench_offboarding"


def add_cases(engine, tenant_id: int) -> None:
    """A case for one critical answer in ten, with one event each, as the journal makes them."""
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO cases (tenant_id, response_id, status, origin, resolution, created_at, updated_at)
            SELECT tenant_id, id, 'new', 'auto', '', submitted_at, submitted_at
            FROM responses WHERE tenant_id = :t AND risk_level = 'critical' AND id % 10 = 0"""), {"t": tenant_id})
        conn.execute(text("""
            INSERT INTO case_events (tenant_id, case_id, kind, old_value, new_value, text, at)
            SELECT tenant_id, id, 'status', '', 'new', '', created_at FROM cases WHERE tenant_id = :t"""),
            {"t": tenant_id})


def clinic_rows(engine, tenant_id: int, tables: list[str]) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),  # noqa: S608
                                    {"t": tenant_id}).scalar() for table in tables}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--owner-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--visits", type=int, default=200_000)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    require_loopback(parser, args.owner_url, args.redis_url)
    if not (1 <= args.responses <= 5_000_000 and 1 <= args.visits <= 2_000_000 and 3 <= args.clinics <= 200):
        parser.error("sizes out of bounds")

    url = fresh_database(args.owner_url, DB_NAME)
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from tenants.offboarding import delete_clinic, tenant_tables

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url, "REDIS_URL": args.redis_url,
                      "TESTING": True, "SERVER_NAME": None})
    with app.app_context():
        upgrade()
        tables = [table.name for table in tenant_tables()]
    engine = create_engine(url)
    started = time.perf_counter()
    ids = build_clinics(app, engine, args.clinics, args.responses, args.visits)
    big = ids[BIG]
    for tenant_id in ids.values():
        add_cases(engine, tenant_id)
    analyze(engine)
    results: dict = {"clinics": args.clinics, "generation_s": round(time.perf_counter() - started, 1)}

    big_rows = clinic_rows(engine, big, tables)
    started = time.perf_counter()
    clinic_rows(engine, big, tables)
    baseline = time.perf_counter() - started
    small = next(tenant_id for slug, tenant_id in ids.items() if slug != BIG)
    others = {tenant_id: clinic_rows(engine, tenant_id, tables) for tenant_id in ids.values()
              if tenant_id not in (big, small)}
    results.update(large_clinic_rows=sum(big_rows.values()), responses=big_rows["responses"],
                   cases=big_rows["cases"], read_every_row_baseline_s=round(baseline, 3))

    from app.clinic_export import stream_export

    started = time.perf_counter()
    size = sum(len(chunk) for chunk in stream_export(app, big))
    exported = time.perf_counter() - started
    results.update(export_s=round(exported, 1), export_mb=round(size / 1e6, 1),
                   export_rows_per_s=int(sum(big_rows.values()) / exported))

    with engine.begin() as conn:  # both are due: what the operator's schedule sets
        conn.execute(text("UPDATE tenants SET delete_after = now() WHERE id IN (:a, :b)"), {"a": small, "b": big})
    with app.app_context():
        started = time.perf_counter()
        delete_clinic(small, actor="bench")
        results["delete_small_clinic_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        deleted = delete_clinic(big, actor="bench")
        elapsed = time.perf_counter() - started
        db.session.remove()
    results.update(delete_large_clinic_s=round(elapsed, 2), rows_deleted=sum(deleted.values()),
                   rows_per_s=int(sum(deleted.values()) / elapsed), delete_over_baseline=round(elapsed / baseline, 1))
    untouched = all(clinic_rows(engine, tenant_id, tables) == rows for tenant_id, rows in others.items())
    left = sum(clinic_rows(engine, big, tables).values()) + sum(clinic_rows(engine, small, tables).values())
    results.update(other_clinics_untouched=untouched, rows_left_of_deleted=left)
    engine.dispose()
    print_results(results, args.json)
    return 0 if untouched and left == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
