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
    return {"trained": True, "model_id": record.id, "active": record.active, "macro_f1": record.macro_f1,
            "default_macro_f1": record.default_macro_f1}
