"""The periodic schedule, declared as data: `rq cron jobs.cron` runs it (one process)."""
from __future__ import annotations

from rq import cron

from jobs import periodic, scrape

# Jobs promised while Redis was down reach the queue within a minute of its return.
cron.register(periodic.sweep_outbox, queue_name="default", interval=30)
# Review sources are scraped at night (UTC); each clinic's run then snapshots its reputation index.
cron.register(scrape.nightly_reputation, queue_name="scrape", cron="15 1 * * *")
