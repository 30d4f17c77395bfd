"""A job that fails is tried again by the real worker process, as its retry schedule promises.

RQ parks a failed job with retries left in its scheduled registry; only a worker running RQ's
scheduler moves it back to its queue. Without it a red-button alert that met one database
hiccup would wait there for ever.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rq.job import Job

from app.extensions import redis_client
from jobs.queues import enqueue

ROOT = Path(__file__).resolve().parent.parent
ATTEMPTS_KEY = "test:flaky-job:attempts"


def fails_once(tenant_id: int, marker: str) -> str:
    """Raises on its first run, succeeds on the next (the count lives in Redis, across processes)."""
    if redis_client().incr(ATTEMPTS_KEY) == 1:
        raise RuntimeError("a passing hiccup")
    return f"{tenant_id}:{marker}"


def test_a_failed_job_is_retried_by_the_worker(app, tenant):
    with app.app_context():
        connection = redis_client()
        connection.delete(ATTEMPTS_KEY)
        job = enqueue("default", "tests.test_worker_retries.fails_once", tenant.id, "ok",
                      job_id=f"t{tenant.id}-flaky-{time.time_ns()}", retries=1)
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               VERNOST_INSTANCE_DIR=app.config["INSTANCE_DIR"], PYTHONPATH=str(ROOT))
    worker = subprocess.Popen([sys.executable, "-m", "jobs.worker", "default"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 45  # the first retry waits 10 s
        status = None
        while time.monotonic() < deadline:
            status = Job.fetch(job.id, connection=connection).get_status(refresh=True)
            if status == "finished":
                break
            time.sleep(0.5)
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=20)
    assert status == "finished", (status, errors.decode()[-2000:])
    assert Job.fetch(job.id, connection=connection).return_value() == f"{tenant.id}:ok"
    assert int(connection.get(ATTEMPTS_KEY)) == 2
