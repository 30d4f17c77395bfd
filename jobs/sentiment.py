"""Training a clinic's own sentiment model on its star-rated reviews (see app/reputation/clinic_model.py)."""
from __future__ import annotations

import logging

from app.extensions import db
from jobs.app_context import tenant_job

log = logging.getLogger(__name__)


@tenant_job
def train_clinic_sentiment(tenant_id: int, requested_by: str = "") -> dict:
    """Train, measure against the default and store the clinic's model; returns the figures."""
    from app.reputation.clinic_model import ClinicModelError, train_clinic_model

    try:
        record = train_clinic_model(requested_by)
    except ClinicModelError as exc:
        log.info("clinic %s: sentiment model not trained: %s", tenant_id, exc)
        return {"trained": False, "reason": str(exc)}
    db.session.commit()
    if record.active:
        rescore_texts(tenant_id)
    return {"trained": True, "model_id": record.id, "active": record.active, "macro_f1": record.macro_f1,
            "default_macro_f1": record.default_macro_f1}


def rescore_texts(tenant_id: int) -> dict:
    """Re-score the clinic's reviews and comments with the model now in use, then refresh what depends on them."""
    from app.analytics.refresh import FULL_JOB, request_job
    from app.reputation.clinic_model import rescore_clinic_texts
    from app.reputation.service import compute_snapshots

    counts = rescore_clinic_texts()
    compute_snapshots()  # today's reputation index from the new scores
    db.session.commit()
    request_job(tenant_id, FULL_JOB)  # comment sentiment feeds the loyalty figures
    log.info("clinic %s: re-scored %s", tenant_id, counts)
    return counts


@tenant_job
def rescore_clinic_texts(tenant_id: int) -> dict:
    """Job form of ``rescore_texts`` (after switching back to the standard analyser)."""
    return rescore_texts(tenant_id)
