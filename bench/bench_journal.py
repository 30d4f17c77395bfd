"""Live journal: many open journals while patients submit — delay to visibility and idle server cost.

Creates a PostgreSQL database of its own (migrated as the owner, served as the
non-owner application role, so row-level security is in force), onboards one
clinic, accepts the owner's invitation over HTTP (a real session cookie) and
serves the app with gunicorn on loopback. Then, for N simulated open journals
(100, 1,000 and 2,000 by default), two runs:

1. baseline ("render"): every client re-renders the journal's first page at the
   page's poll interval and looks for new entries in it;
2. vernost ("marker"): what journal.js does — every client asks the clinic's change
   marker with its signed ticket at the page's interval (204 while unchanged); on a
   change it gets the new entries with the marker when another client's catch-up has
   already rendered them, else fetches them itself (the authenticated catch-up).

Each run has an idle window (no submissions: gunicorn's CPU time over the window,
as a share of one core, from /proc) and an active window in which a patient
submits the real public form every ``--submit-every`` seconds. The delay is the time
from the patient's POST being answered (the response is stored) to each client
having the entry; p50/p95 over all (client, entry) pairs. Prints both runs and the
marker/render ratios. Clients are coroutines sharing one pool of connections
(httpx, ``--pool`` connections), started at random phases. Loopback only; every window is bounded.

    python bench/bench_journal.py [--clients 100 1000 2000] [--idle 8] [--active 15] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
    require_loopback,
    run_flask,
)

BENCH_DB = "vernost_bench_journal"
MAX_CLIENTS = 3000
MAX_WINDOW = 60
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
MARK = re.compile(r"bench-(\d+)-mark")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _interval_seconds() -> float:
    from app.workspace.journal_views import LIVE_INTERVAL_MS

    return LIVE_INTERVAL_MS / 1000


def _process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as fh:
                todo += [int(x) for x in fh.read().split()]
        except OSError:
            pass
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of gunicorn's master and workers."""
    total = 0
    for p in _process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def prepare(env: dict) -> dict:
    """Migrate, grant the app role, onboard a clinic; returns its invitation and form URLs."""
    run_flask(env, "db", "upgrade")
    run_flask(env, "db-roles", "grant", APP_ROLE)
    out = run_flask(env, "tenants", "create", "bench", "--name", "Bench clinic", "--owner", "owner@bench.test",
                    "--json")
    return json.loads(out.strip().splitlines()[-1])


def log_in(base: str, invitation_url: str) -> dict:
    """Accept the owner's invitation over HTTP; returns the session cookies."""
    import httpx

    path = re.sub(r"^https?://[^/]+", "", invitation_url)
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get(path)
        fields = dict(HIDDEN.findall(page.text))
        done = client.post(path, data={**fields, "full_name": "Bench Owner", "password": "bench-password-123",
                                       "password_confirm": "bench-password-123"})
        if done.status_code != 302:
            raise RuntimeError(f"could not accept the invitation: {done.status_code}")
        return dict(client.cookies)


class Run:
    """Shared state of one run: submissions and when each client saw them."""

    gate: asyncio.Semaphore | None = None

    async def get(self, client, url, **kwargs):
        # httpx scans its whole queue of waiting requests on every hand-out: with thousands of
        # coroutines waiting in it, the client, not the server, becomes the bottleneck. Wait here.
        async with self.gate:
            return await client.get(url, **kwargs)

    def __init__(self):
        self.submitted: dict[int, float] = {}
        self.delays: list[float] = []
        self.polls = 0
        self.errors: list[str] = []
        self.active = False


async def _patient(client, form_path: str, run: Run, every: float, stop_at: float) -> None:
    k = 0
    while time.monotonic() < stop_at:
        k += 1
        client.cookies.clear()
        try:
            page = await client.get(form_path + "?lang=en")
            fields = dict(HIDDEN.findall(page.text))
            posted = await client.post(form_path + "?lang=en", data={
                **fields, "q_nps": "4", "q_comment": f"Waited too long bench-{k}-mark"})
            if posted.status_code == 302:
                run.submitted[k] = time.monotonic()
            else:
                run.errors.append(f"submit {posted.status_code}")
        except Exception as exc:  # noqa: BLE001
            run.errors.append(type(exc).__name__)
        await asyncio.sleep(max(0.0, every - 0.05))


def _record(run: Run, seen: set, body: str) -> None:
    now = time.monotonic()
    for k in {int(x) for x in MARK.findall(body)} - seen:
        seen.add(k)
        if run.active and k in run.submitted:
            run.delays.append(now - run.submitted[k])


async def _render_client(client, journal_path: str, run: Run, interval: float, stop_at: float) -> None:
    seen: set = set()
    await asyncio.sleep(random.random() * interval)
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            response = await run.get(client, journal_path)
            run.polls += 1
            if response.status_code == 200:
                _record(run, seen, response.text)
            else:
                run.errors.append(f"render {response.status_code}")
        except Exception as exc:  # noqa: BLE001
            run.errors.append(type(exc).__name__)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def _marker_client(client, live: dict, run: Run, interval: float, stop_at: float) -> None:
    seen: set = set()
    marker, after, marker_url = live["marker"], int(live["after"]), live["marker_url"]
    await asyncio.sleep(random.random() * interval)
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            response = await run.get(client, marker_url, params={"m": marker, "after": after})
            run.polls += 1
            if response.status_code == 200:
                data = response.json()
                body = data.get("html")
                if body is None:  # not shared yet: the authenticated catch-up, as journal.js does
                    updates = await run.get(client, live["updates_url"], params={"after": after},
                                            headers={"HX-Request": "true"})
                    body = updates.text if updates.status_code == 200 else ""
                    if updates.headers.get("X-Live-Ticket"):
                        marker_url = marker_url.rsplit("/", 1)[0] + "/" + updates.headers["X-Live-Ticket"]
                _record(run, seen, body)
                ids = [int(x) for x in re.findall(r'data-id="(\d+)"', body)]
                after = max([after, *ids])
                if data.get("m") is not None:
                    marker = str(data["m"])
            elif response.status_code != 204:
                run.errors.append(f"marker {response.status_code}")
        except Exception as exc:  # noqa: BLE001
            run.errors.append(type(exc).__name__)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def live_state(base: str, cookies: dict, slug: str) -> dict:
    import httpx

    html = httpx.get(f"{base}/c/{slug}/journal", cookies=cookies, timeout=30).text
    data = dict(re.findall(r'data-(marker-url|updates-url|marker|after)="([^"]*)"', html))
    return {"marker_url": data["marker-url"], "updates_url": data["updates-url"].replace("&amp;", "&"),
            "marker": data["marker"], "after": data["after"]}


def run_mode(mode: str, base: str, cookies: dict, slug: str, form_path: str, clients: int, interval: float,
             idle: float, active: float, submit_every: float, gunicorn_pid: int, pool: int = 128) -> dict:
    import httpx

    live = live_state(base, cookies, slug)
    run = Run()

    async def main():
        run.gate = asyncio.Semaphore(pool)
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=20, limits=limits) as client, \
                httpx.AsyncClient(base_url=base, timeout=20) as patient:
            stop_at = time.monotonic() + 2 + idle + active + 3
            if mode == "render":
                tasks = [asyncio.create_task(_render_client(client, f"/c/{slug}/journal", run, interval, stop_at))
                         for _ in range(clients)]
            else:
                tasks = [asyncio.create_task(_marker_client(client, live, run, interval, stop_at))
                         for _ in range(clients)]
            await asyncio.sleep(2)  # every client has started polling
            cpu0, wall0, polls0 = cpu_seconds(gunicorn_pid), time.monotonic(), run.polls
            await asyncio.sleep(idle)
            idle_cpu = (cpu_seconds(gunicorn_pid) - cpu0) / (time.monotonic() - wall0)
            idle_rate = (run.polls - polls0) / (time.monotonic() - wall0)
            run.active = True
            await _patient(patient, form_path, run, submit_every, time.monotonic() + active)
            await asyncio.sleep(3)  # the last entry has time to arrive
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return idle_cpu, idle_rate

    idle_cpu, idle_rate = asyncio.run(main())
    delays = sorted(run.delays)
    expected = len(run.submitted) * clients

    def pct(p):
        return delays[min(len(delays) - 1, int(p * len(delays)))] if delays else float("nan")

    return {"mode": mode, "clients": clients, "idle_cpu_share": idle_cpu, "idle_polls_per_s": idle_rate,
            "idle_cpu_ms_per_poll": idle_cpu / idle_rate * 1000 if idle_rate else float("nan"),
            "target_polls_per_s": clients / interval, "submissions": len(run.submitted),
            "seen": len(delays), "expected": expected, "p50_s": pct(0.50), "p95_s": pct(0.95),
            "mean_s": statistics.fmean(delays) if delays else float("nan"),
            "errors": len(run.errors), "error_kinds": sorted(set(run.errors))[:5]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server as a superuser (no database name); a bench database is created")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="a Redis database the bench may flush")
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--idle", type=float, default=8, help="idle window, seconds")
    parser.add_argument("--active", type=float, default=15, help="window with submissions, seconds")
    parser.add_argument("--submit-every", type=float, default=1.5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pool", type=int, default=128, help="connections shared by the simulated clients")
    parser.add_argument("--modes", nargs="+", default=["render", "marker"], choices=["render", "marker"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require_loopback(parser, args.pg, args.redis)
    clients = [max(1, min(c, MAX_CLIENTS)) for c in args.clients]
    idle, active = min(args.idle, MAX_WINDOW), min(args.active, MAX_WINDOW)
    interval = _interval_seconds()

    import redis

    redis.Redis.from_url(args.redis).flushdb()
    owner, app_url = create_scratch_database(args.pg, BENCH_DB)
    env = app_env(owner, app_url, args.redis, tempfile.mkdtemp(prefix="vernost-bench-journal-"))
    urls = prepare(env)
    form_path = re.sub(r"^https?://[^/]+", "", urls["form_url"])

    results = []
    server = Gunicorn(env, args.workers, args.threads)
    try:
        server.wait_ready("/healthz")
        cookies = log_in(server.url, urls["invitation_url"])
        for n in clients:
            for mode in args.modes:
                result = run_mode(mode, server.url, cookies, urls["slug"], form_path, n, interval, idle, active,
                                  args.submit_every, server.proc.pid, min(args.pool, 512))
                results.append(result)
                if not args.json:
                    print(f"  {mode:<7} N={n:<5} idle CPU {result['idle_cpu_share']:.3f} core, "
                          f"p50 {result['p50_s']:.2f}s p95 {result['p95_s']:.2f}s, seen {result['seen']}/"
                          f"{result['expected']}, errors {result['errors']}", flush=True)
    finally:
        server.stop()
        redis.Redis.from_url(args.redis).flushdb()

    by = {(r["mode"], r["clients"]): r for r in results}
    for n in clients:
        if ("render", n) in by and ("marker", n) in by:
            base, ours = by[("render", n)], by[("marker", n)]
            ours["idle_cpu_ratio"] = ours["idle_cpu_share"] / base["idle_cpu_share"] if base["idle_cpu_share"] else None
            per_poll = base["idle_cpu_ms_per_poll"]
            ours["per_poll_ratio"] = ours["idle_cpu_ms_per_poll"] / per_poll if per_poll == per_poll and per_poll else None
            ours["p95_ratio"] = ours["p95_s"] / base["p95_s"] if base["p95_s"] == base["p95_s"] and base["p95_s"] else None
    if args.json:
        print(json.dumps({"interval_s": interval, "workers": args.workers, "threads": args.threads,
                          "runs": results}, indent=2))
        return 0
    print(f"\npoll interval {interval:.1f} s (the page's), gunicorn gthread {args.workers}x{args.threads}, "
          f"idle {idle:.0f} s, active {active:.0f} s, a submission every {args.submit_every} s")
    print(f"{'mode':<8}{'N':>6}{'idle CPU':>10}{'polls/s':>9}{'target':>8}{'ms/poll':>9}{'p50 s':>8}{'p95 s':>8}"
          f"{'seen':>12}{'errors':>8}{'CPU ratio':>11}{'poll ratio':>11}{'p95 ratio':>11}")
    for r in results:
        cpu_ratio = f"{r['idle_cpu_ratio']:.3f}" if r.get("idle_cpu_ratio") is not None else ""
        p95_ratio = f"{r['p95_ratio']:.2f}" if r.get("p95_ratio") is not None else ""
        poll_ratio = f"{r['per_poll_ratio']:.3f}" if r.get("per_poll_ratio") is not None else ""
        print(f"{r['mode']:<8}{r['clients']:>6}{r['idle_cpu_share']:>10.3f}{r['idle_polls_per_s']:>9.0f}"
              f"{r['target_polls_per_s']:>8.0f}{r['idle_cpu_ms_per_poll']:>9.2f}{r['p50_s']:>8.2f}{r['p95_s']:>8.2f}"
              f"{str(r['seen']) + '/' + str(r['expected']):>12}{r['errors']:>8}{cpu_ratio:>11}{poll_ratio:>11}"
              f"{p95_ratio:>11}")
        if r["errors"]:
            print(f"{'':<8}errors: {', '.join(r['error_kinds'])}")
    print("polls/s below target = the server (or this client) could not keep up; ms/poll = gunicorn CPU per "
          "idle poll, which does not depend on how many polls got through")
    print("idle CPU = gunicorn CPU seconds per second with no submissions (1.0 = one core busy); "
          "render = re-render the first page every poll (baseline); marker = the page's 204 marker poll + "
          "fetch of new entries; ratios are marker/render")
    return 0


if __name__ == "__main__":
    sys.exit(main())
