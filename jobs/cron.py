"""The periodic schedule, declared as data: `rq cron jobs.cron` runs it (one process)."""
from __future__ import annotations

import os
import time

from rq import cron

# The times below are UTC. rq matches cron fields in the process's local time, so the scheduler's
# process keeps UTC whatever the server's clock zone is (this module is loaded by it alone).
os.environ["TZ"] = "UTC"
time.tzset()

from jobs import digests, metrics, offboarding, periodic, privacy, scrape, webhooks

# Jobs promised while Redis was down reach the queue within a minute of its return.
cron.register(periodic.sweep_outbox, queue_name="default", interval=30)
# Page opens of the questionnaire are counted in Redis and written to the points every minute.
cron.register(periodic.flush_scans, queue_name="default", interval=60)
# Metric snapshots: dirty periods whose refresh was never enqueued, and a full recompute every night.
cron.register(metrics.refresh_dirty_clinics, queue_name="metrics", interval=300)
cron.register(metrics.nightly_recompute, queue_name="metrics", cron="30 2 * * *")
# Review sources are scraped at night (UTC); each clinic's run then snapshots its reputation index.
cron.register(scrape.nightly_reputation, queue_name="scrape", cron="15 1 * * *")
# Noon in each clinic's zone: claims (clinic, local date) once; see app/digest_schedule.py. On the
# quarter hours, so zones with 30/45-minute offsets get theirs on the minute too.
cron.register(digests.dispatch_digests, queue_name="digests", cron="*/15 * * * *")
# Patients' contact details past each clinic's retention period, and old e-mails' bodies, are erased
# every night.
cron.register(privacy.nightly_retention, queue_name="default", cron="45 3 * * *")
# Clinics whose scheduled deletion day has come: every row of theirs goes.
cron.register(offboarding.delete_due_clinics, queue_name="default", cron="15 4 * * *")
# Mail retries, alerts held for quiet hours, senders that died: see app/notifications.py.
cron.register(digests.sweep_notifications, queue_name="default", interval=60)
# Webhook retries, and deliveries whose job was lost: see app/webhooks.py.
cron.register(webhooks.sweep_webhooks, queue_name="default", interval=60)
