"""The periodic schedule, declared as data: `rq cron jobs.cron` runs it (one process)."""
from __future__ import annotations

from rq import cron

from jobs import periodic

# Jobs promised while Redis was down reach the queue within a minute of its return.
cron.register(periodic.sweep_outbox, queue_name="default", interval=30)
