"""Helpers for digest and alert tests: responses at chosen times, clinics ready for a clock."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select, update

from app.extensions import db
from app.models import Licence, QuestionnaireVersion, Response, ResponseRating, Tenant
from jobs.worker import InlineAppWorker, build_worker
from tenants.context import platform_scope, tenant_scope

_counter = iter(range(1, 10**9))


def add_response(app, clinic_id: int, *, submitted_at: datetime, risk: str = "ok", nps: int | None = 9,
                 comment: str = "", urgent: bool = False, phone: str | None = None, ratings: dict | None = None) -> int:
    """Store a response directly (the public form is tested elsewhere)."""
    from app.cases import open_case_if_at_risk
    from tenants.settings import clinic_settings

    n = next(_counter)
    with app.app_context(), tenant_scope(clinic_id):
        version_id = db.session.scalar(select(QuestionnaireVersion.id).order_by(QuestionnaireVersion.id))
        response = Response(reference=f"VR-T{n:05d}", submission_key=f"test-submission-{n:08d}",
                            questionnaire_version_id=version_id, submitted_at=submitted_at, nps=nps,
                            comment=comment, risk_level=risk, urgent=urgent, contact_phone=phone,
                            contact_name="Patient Name" if phone else None,
                            min_rating=min((ratings or {}).values()) if ratings else None)
        response.ratings = [ResponseRating(aspect=a, score=s) for a, s in (ratings or {}).items()]
        db.session.add(response)
        db.session.flush()
        open_case_if_at_risk(response, clinic_settings(db.session.get(Tenant, clinic_id)))
        db.session.commit()
        return response.id


def ready_for_clock(app, clinic_id: int, timezone_name: str | None = None, *, suspended: bool = False) -> None:
    """Make a clinic old enough and licensed for a test clock anywhere in 2025–2029."""
    with app.app_context(), platform_scope():
        values = {"created_at": datetime(2025, 1, 1, tzinfo=timezone.utc)}
        if timezone_name:
            values["timezone"] = timezone_name
        db.session.execute(update(Tenant).where(Tenant.id == clinic_id).values(**values))
        db.session.execute(update(Licence).where(Licence.tenant_id == clinic_id).values(
            starts_on=date(2025, 1, 1), ends_on=date(2029, 12, 31), suspended=suspended))
        db.session.commit()


def run_worker(app, queues=("alerts", "digests", "default")) -> None:
    build_worker(app, list(queues), worker_class=InlineAppWorker).work(burst=True)
