"""Review scraping: one job per clinic run, and the nightly fan-out."""
from __future__ import annotations

import logging

from app.extensions import db
from app.models import ScrapeRun, utcnow
from jobs.app_context import platform_job, tenant_job

log = logging.getLogger(__name__)


@tenant_job
def scrape_clinic(tenant_id: int, run_id: int) -> int:
    """Scrape the clinic's active sources for run ``run_id``, then snapshot the index; returns new reviews.

    The run row was committed before this job was enqueued; the workspace polls it.
    Without the reputation module the run is closed with a reason and nothing is fetched.
    """
    from flask_babel import gettext as _

    from app.reputation.service import reputation_licensed, run_scrape

    run = db.session.get(ScrapeRun, run_id)
    if run is None or run.tenant_id != tenant_id or run.finished:
        return 0
    if not reputation_licensed():
        run.status, run.finished_at = "failed", utcnow()
        run.message = _("The reputation module is not part of this clinic's licence.")
        db.session.commit()
        return 0
    try:
        run = run_scrape(run)
    except Exception as exc:
        log.exception("scrape run %s failed", run_id)
        db.session.rollback()
        run = db.session.get(ScrapeRun, run_id)
        run.status, run.finished_at, run.message = "failed", utcnow(), f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        raise
    return run.reviews_new


@platform_job
def nightly_reputation() -> int:
    """Scheduler job: start a nightly scrape in every licensed, not suspended clinic."""
    from app.reputation.service import nightly_fan_out

    return len(nightly_fan_out())
