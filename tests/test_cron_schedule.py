"""The nightly schedule in jobs/cron.py is written in UTC and runs at those hours on any server zone."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Loads the schedule in a process whose clock zone is far from UTC, as a server in Vladivostok would,
# and asks rq when each daily job is next due after a fixed instant.
PROBE = """
import json
from datetime import datetime, timezone
from rq import cron
import jobs.cron  # noqa: F401 - registers the schedule
from rq.cron import CronJob
base = datetime(2026, 11, 24, 0, 0, tzinfo=timezone.utc)
due = {}
for data in cron._job_data_registry:
    if data["cron"] and data["cron"] != "*/15 * * * *":
        job = CronJob(**data)
        job.latest_enqueue_time = base
        due[data["func"].__name__] = job.get_next_enqueue_time().strftime("%H:%M")
print(json.dumps(due))
"""


def test_nightly_jobs_run_at_their_utc_hours_whatever_the_server_zone():
    env = {"PATH": "/usr/bin:/bin", "TZ": "Asia/Vladivostok", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    due = json.loads(result.stdout.strip().splitlines()[-1])
    assert due == {"nightly_recompute": "02:30", "nightly_reputation": "01:15", "nightly_retention": "03:45",
                   "delete_due_clinics": "04:15"}
