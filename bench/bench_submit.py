"""Patient submissions per second through the real public form, against a bare INSERT route.

Creates a PostgreSQL database of its own, migrates it as the owner, grants the
non-owner application role (so row-level security is in force, as in production)
and onboards one clinic. Then, for 50 and 200 concurrent clients:

1. baseline: a bare WSGI app (in this file) whose one route does one INSERT into a
   table of the same database, served by gunicorn with the same settings;
2. submit: the Vernost app under gunicorn; each client behaves like a patient who
   scans the code: GET /q/<token> with an empty cookie jar, read the CSRF token and
   submission key, POST the answers with the session cookie, expect the redirect
   to the thank-you page.

Prints requests/s, p50 and p99 latency of each run and the submit/baseline ratio.
Loopback only, bounded by --seconds per run.

All clients share 127.0.0.1, so the form's per-client rate limit (30 per 10 minutes)
would turn almost every request into a 429: the bench raises it, and the per-point
limit, through PUBLIC_FORM_CLIENT_LIMIT / PUBLIC_FORM_POINT_LIMIT. Follow-up jobs go
to a Redis database of the bench's own (flushed before and after); no worker runs.

    python bench/bench_submit.py [--clients 50 200] [--seconds 15] [--workers 2] [--threads 8] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import (
    APP_ROLE,
    Gunicorn,
    app_env,
    create_scratch_database,
    psycopg2_url,
    require_loopback,
    run_flask,
)

BENCH_DB = "vernost_bench_submit"
MAX_SECONDS = 120
MAX_CLIENTS = 500
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


# --- the baseline: one INSERT per request, nothing else ---

_engine = None


def bare_app(environ, start_response):
    """WSGI app for the baseline: POST inserts one row (same database, same pool defaults)."""
    global _engine
    from sqlalchemy import create_engine, text

    if _engine is None:
        _engine = create_engine(os.environ["BENCH_BARE_DATABASE_URL"], pool_pre_ping=True)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    with _engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_bare (payload) VALUES (:p)"), {"p": body.decode("utf-8", "replace")})
    start_response("204 No Content", [])
    return [b""]


# --- setup ---

def prepare(owner: str, env: dict) -> str:
    """Migrate, grant the app role, create the baseline table, onboard a clinic; returns its point token."""
    run_flask(env, "db", "upgrade")
    from sqlalchemy import create_engine, text

    engine = create_engine(psycopg2_url(owner))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, payload text NOT NULL, "
                          "created_at timestamptz NOT NULL DEFAULT now())"))
    engine.dispose()
    run_flask(env, "db-roles", "grant", APP_ROLE)
    engine = create_engine(psycopg2_url(owner))
    with engine.begin() as conn:
        conn.execute(text(f"GRANT SELECT, INSERT ON bench_bare TO {APP_ROLE}"))
        conn.execute(text(f"GRANT USAGE ON SEQUENCE bench_bare_id_seq TO {APP_ROLE}"))
    engine.dispose()
    run_flask(env, "tenants", "create", "bench", "--name", "Bench clinic", "--owner", "owner@bench.test", "--json")
    engine = create_engine(psycopg2_url(owner))  # the owner is superuser here: RLS does not hide the row from it
    with engine.connect() as conn:
        token = conn.execute(text("SELECT token FROM collection_points ORDER BY id LIMIT 1")).scalar_one()
    engine.dispose()
    return token


# --- load ---

ANSWERS = {"q_nps": "9", "q_rating_doctor": "5", "q_rating_waiting": "3", "q_would_return": "yes",
           "q_comment": "Врач внимательный, но ждать пришлось долго."}


def _client(url: str):
    import httpx

    # verify=False: plain HTTP on loopback, and it spares loading the CA bundle once per client,
    # which with 200 clients on a small machine would itself take seconds.
    return httpx.AsyncClient(base_url=url, timeout=60, verify=False,
                             limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


async def _patient(client, token: str, stop_at: float, latencies: list, errors: list) -> None:
    import httpx

    async with client:
        while time.monotonic() < stop_at:
            client.cookies.clear()  # every submission is a new patient with a new session
            started = time.perf_counter()
            try:
                page = await client.get(f"/q/{token}?lang=ru")
                fields = dict(HIDDEN.findall(page.text))
                # The next patient is another phone: a new connection, as in a clinic's waiting room.
                posted = await client.post(f"/q/{token}?lang=ru", data={**fields, **ANSWERS},
                                           headers={"Connection": "close"})
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            if posted.status_code == 302 and "/thanks" in posted.headers.get("location", ""):
                latencies.append(time.perf_counter() - started)
            else:
                errors.append(str(posted.status_code))


async def _bare_client(client, stop_at: float, latencies: list, errors: list) -> None:
    import httpx

    async with client:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = await client.post("/", content="q_nps=9&q_comment=bench", headers={"Connection": "close"})
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            if response.status_code == 204:
                latencies.append(time.perf_counter() - started)
            else:
                errors.append(str(response.status_code))


def run_load(kind: str, url: str, token: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []

    async def main():
        pool = [_client(url) for _ in range(clients)]  # created before the clock starts
        stop_at = time.monotonic() + seconds
        if kind == "submit":
            tasks = [_patient(c, token, stop_at, latencies, errors) for c in pool]
        else:
            tasks = [_bare_client(c, stop_at, latencies, errors) for c in pool]
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

    return {"kind": kind, "clients": clients, "done": len(ordered), "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5], "per_second": len(ordered) / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "mean_ms": statistics.fmean(ordered) * 1000 if ordered else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server as a superuser (no database name); a bench database is created")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="a Redis database the bench may flush")
    parser.add_argument("--clients", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)
    clients = [min(c, MAX_CLIENTS) for c in args.clients]
    require_loopback(parser, args.pg, args.redis)

    import redis

    redis.Redis.from_url(args.redis).flushdb()
    owner, app_url = create_scratch_database(args.pg, BENCH_DB)
    instance = tempfile.mkdtemp(prefix="vernost-bench-")
    env = app_env(owner, app_url, args.redis, instance, BENCH_BARE_DATABASE_URL=psycopg2_url(app_url))
    token = prepare(owner, env)

    results = []
    for target, kind, probe in (("bench.bench_submit:bare_app", "baseline", "/"), ("wsgi:app", "submit", "/healthz")):
        server = Gunicorn(env, args.workers, args.threads, target=target,
                          log_path=os.path.join(instance, f"gunicorn-{kind}.log"), keep_alive=30)
        try:
            server.wait_ready(probe, timeout=30)
            run_load(kind, server.url, token, min(clients), min(3.0, seconds))  # warm-up: pools, imports
            for n in clients:
                results.append(run_load(kind, server.url, token, n, seconds))
        finally:
            server.stop()
    redis.Redis.from_url(args.redis).flushdb()
    logs = [os.path.join(instance, f"gunicorn-{k}.log") for k in ("baseline", "submit")]

    by = {(r["kind"], r["clients"]): r for r in results}
    for n in clients:
        by[("submit", n)]["ratio_to_baseline"] = by[("submit", n)]["per_second"] / by[("baseline", n)]["per_second"]
    if args.json:
        print(json.dumps({"workers": args.workers, "threads": args.threads, "seconds": seconds, "runs": results},
                         indent=2))
        return 0
    print(f"gunicorn gthread {args.workers} workers x {args.threads} threads, {seconds:.0f} s per run, "
          f"rate limits raised for the bench")
    print(f"{'run':<10}{'clients':>8}{'per s':>10}{'p50 ms':>10}{'p99 ms':>10}{'done':>8}{'errors':>8}{'ratio':>8}")
    for r in results:
        ratio = f"{r['ratio_to_baseline']:.2f}" if "ratio_to_baseline" in r else ""
        print(f"{r['kind']:<10}{r['clients']:>8}{r['per_second']:>10.1f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}"
              f"{r['done']:>8}{r['errors']:>8}{ratio:>8}")
        if r["errors"]:
            print(f"{'':<10}errors: {', '.join(r['error_kinds'])} (server logs: {' '.join(logs)})")
    print("baseline = one INSERT per request; submit = GET form + POST answers (CSRF, session, validation, "
          "risk, response + ratings + outbox rows, enqueue) per patient")
    return 0


if __name__ == "__main__":
    sys.exit(main())
