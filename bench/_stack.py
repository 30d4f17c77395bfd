"""Start-up shared by the benchmarks: a scratch PostgreSQL database, the app's environment, gunicorn.

Import it as ``bench._stack`` after putting the repository root on ``sys.path`` (the benches do):
gunicorn workers import ``bench.bench_submit`` by that name, so ``bench`` must resolve as a package.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ROLE = "vernost_app"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def psycopg2_url(url: str) -> str:
    """The URL with the psycopg2 driver named (the one the project depends on)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg2://", url)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_loopback(parser, *urls: str) -> None:
    """Stop with a usage error unless every server URL is on loopback: the benches flood and flush what they get."""
    for url in urls:
        host = re.sub(r"^[a-z0-9+]+://([^@/]*@)?", "", url).split("/")[0].split(":")[0]
        if host not in LOOPBACK:
            parser.error("the bench only runs against loopback servers")


def database_url(server: str, database: str) -> str:
    """URL of ``database`` on a PostgreSQL server given without a database name."""
    return f"{server.rstrip('/')}/{database}"


def role_url(url: str, role: str = APP_ROLE) -> str:
    """The same database as ``role`` without a password (trust auth), so row-level security is in force."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def recreate_database(owner_url: str) -> None:
    """Drop (forcing out any connections) and create the database ``owner_url`` names, as its user."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(psycopg2_url(owner_url))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def print_results(results: dict, as_json: bool) -> None:
    """A bench's figures: one JSON object, or one aligned line each."""
    import json

    if as_json:
        print(json.dumps(results))
        return
    width = max(map(len, results)) + 2
    for key, value in results.items():
        print(f"{key:{width}} {value}")


def fresh_database(server_url: str, database: str) -> str:
    """URL of a fresh, empty ``database`` on the server ``server_url`` points at (any database of it)."""
    from sqlalchemy.engine import make_url

    url = make_url(server_url).set(drivername="postgresql+psycopg2", database=database).render_as_string(
        hide_password=False)
    recreate_database(url)
    return url


def create_scratch_database(server: str, database: str) -> tuple[str, str]:
    """(owner_url, app_url) of a fresh, empty ``database`` on the server; app_url connects as APP_ROLE."""
    owner = database_url(server, database)
    recreate_database(owner)
    return owner, role_url(owner)


def app_env(owner: str, app_url: str, redis_url: str, instance: str, **extra: str) -> dict:
    """This process's environment plus what the served app needs, with ``extra`` variables on top."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": app_url, "MIGRATION_DATABASE_URL": owner, "REDIS_URL": redis_url,
        "VERNOST_INSTANCE_DIR": instance, "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "BASE_URL": "http://127.0.0.1", "VERNOST_ENV": "development", "PYTHONPATH": str(ROOT),
        # Every simulated patient shares 127.0.0.1: the form's per-client limits would refuse them.
        "PUBLIC_FORM_CLIENT_LIMIT": "1000000000", "PUBLIC_FORM_POINT_LIMIT": "1000000000",
        **extra,
    })
    return env


def run_flask(env: dict, *args: str) -> str:
    """A ``flask`` CLI command of the app as the database owner (migrations and grants need it); its stdout."""
    setup_env = {**env, "DATABASE_URL": env["MIGRATION_DATABASE_URL"]}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=setup_env,
                          check=True, capture_output=True)
    return done.stdout.decode()


class Gunicorn:
    """A WSGI app under gunicorn (gthread) on loopback, stopped with stop()."""

    def __init__(self, env: dict, workers: int, threads: int, target: str = "wsgi:app",
                 log_path: str | None = None, keep_alive: int | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: a full pipe would stall the workers that log. Kept at log_path if given.
        self.log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115 — closed in stop()
        keep = ["--keep-alive", str(keep_alive)] if keep_alive is not None else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", target, "-b", f"127.0.0.1:{self.port}", "-k", "gthread",
             "--workers", str(workers), "--threads", str(threads), "--backlog", "2048", *keep,
             "--log-level", "warning", "--timeout", "60"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=self.log)

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        """Poll ``path`` until it answers below 500; raise with the log's tail if gunicorn exits first."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self.log.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), SIGKILL after 15 s; closes the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
