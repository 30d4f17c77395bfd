"""Factories that create one object of each tenant-owned kind in a given clinic.

``OBJECT_FACTORIES`` maps the URL variable a workspace route takes (``branch_id``...)
to a factory; the cross-tenant test refuses a workspace route whose id has none.
"""
from __future__ import annotations

from app.extensions import db
from tenants.context import tenant_scope


def make_branch(app, clinic_id: int, name: str = "Main branch") -> int:
    from app.models import Branch

    with app.app_context(), tenant_scope(clinic_id):
        branch = Branch(name=name, address="1 Clinic Street")
        db.session.add(branch)
        db.session.commit()
        return branch.id


def make_doctor(app, clinic_id: int, name: str = "Dr Ivanova", branch_id: int | None = None) -> int:
    from app.models import Doctor

    with app.app_context(), tenant_scope(clinic_id):
        doctor = Doctor(full_name=name, specialty="Therapist", branch_id=branch_id)
        db.session.add(doctor)
        db.session.commit()
        return doctor.id


def make_membership(app, clinic_id: int) -> int:
    from sqlalchemy import select

    from app.models import Membership

    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(Membership.id).order_by(Membership.id))


def make_invitation(app, clinic_id: int) -> int:
    from app.accounts import invite

    with app.app_context(), tenant_scope(clinic_id):
        invitation, _ = invite("someone@example.test", "viewer", ttl_hours=24)
        db.session.commit()
        return invitation.id


def make_questionnaire(app, clinic_id: int) -> int:
    from sqlalchemy import select

    from app.models import Questionnaire

    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(Questionnaire.id).order_by(Questionnaire.id))


def make_point(app, clinic_id: int) -> int:
    from sqlalchemy import select

    from app.models import CollectionPoint

    with app.app_context(), tenant_scope(clinic_id):
        return db.session.scalar(select(CollectionPoint.id).order_by(CollectionPoint.id))


def make_review_source(app, clinic_id: int, url: str = "https://prodoctorov.ru/moskva/vrach/1-ivanova/") -> int:
    from app.models import ReviewSource

    with app.app_context(), tenant_scope(clinic_id):
        source = ReviewSource(url=url, site="prodoctorov", label="ProDoctorov")
        db.session.add(source)
        db.session.commit()
        return source.id


def make_scrape_run(app, clinic_id: int) -> int:
    from app.models import ScrapeRun

    with app.app_context(), tenant_scope(clinic_id):
        run = ScrapeRun(trigger="manual", status="done")
        db.session.add(run)
        db.session.commit()
        return run.id


def make_response(app, clinic_id: int, *, nps: int | None = 9, comment: str = "Good", risk_level: str = "ok",
                  submitted_at=None, branch_id: int | None = None, doctor_id: int | None = None,
                  contact_phone: str | None = None, publish_consent: bool = False, ratings: dict | None = None,
                  open_case: bool = False) -> int:
    """A response in ``clinic_id`` from its first collection point, stored directly (no form, no jobs)."""
    import secrets

    from sqlalchemy import select

    from app.feedback import new_reference
    from app.models import CollectionPoint, Response, ResponseRating, Tenant, utcnow
    from app.questionnaires import published_version

    with app.app_context(), tenant_scope(clinic_id):
        point = db.session.scalar(select(CollectionPoint).order_by(CollectionPoint.id))
        version = published_version(point.questionnaire_id)
        response = Response(
            reference=new_reference(), submission_key=secrets.token_urlsafe(16), collection_point_id=point.id,
            questionnaire_version_id=version.id, branch_id=branch_id, doctor_id=doctor_id,
            submitted_at=submitted_at or utcnow(), nps=nps, comment=comment, risk_level=risk_level,
            urgent=risk_level == "critical", contact_phone=contact_phone, publish_consent=publish_consent,
            consent_at=utcnow() if contact_phone else None)
        response.ratings = [ResponseRating(aspect=a, score=s) for a, s in (ratings or {}).items()]
        db.session.add(response)
        db.session.flush()
        if open_case:
            from app.cases import open_case as open_case_for
            from tenants.settings import clinic_settings

            open_case_for(response, clinic_settings(db.session.get(Tenant, clinic_id)), now=response.submitted_at)
        db.session.commit()
        return response.id


def make_case(app, clinic_id: int) -> int:
    """A critical response with its case; returns the case id."""
    from app.models import Response

    response_id = make_response(app, clinic_id, nps=2, comment="Rude", risk_level="critical",
                                contact_phone="+7 900 000-00-00", open_case=True)
    with app.app_context(), tenant_scope(clinic_id):
        return db.session.get(Response, response_id).case.id


def make_visit_import(app, clinic_id: int) -> int:
    from app.models import VisitImport

    with app.app_context(), tenant_scope(clinic_id):
        visit_import = VisitImport(filename="visits.csv", file_format="csv", content=b"patient,date,amount\n",
                                   columns=["patient", "date", "amount"], mapping={})
        db.session.add(visit_import)
        db.session.commit()
        return visit_import.id


def make_api_key(app, clinic_id: int, scopes=("read", "visits"), name: str = "CRM") -> int:
    return issue_api_key(app, clinic_id, scopes, name)[0]


def issue_api_key(app, clinic_id: int, scopes=("read", "visits"), name: str = "CRM") -> tuple[int, str]:
    """A new API key of ``clinic_id``: its id and the token a client sends."""
    from app.api_keys import issue_key

    with app.app_context(), tenant_scope(clinic_id):
        issued = issue_key(name, list(scopes), None)
        db.session.commit()
        return issued.key.id, issued.token


def make_webhook(app, clinic_id: int, url: str = "http://127.0.0.1:9/hook",
                 events=("response.created", "case.opened", "case.resolved")) -> int:
    """A webhook of ``clinic_id`` (its id); the default address answers nothing."""
    from app.webhooks import create_webhook

    with app.app_context(), tenant_scope(clinic_id):
        hook = create_webhook(url, list(events), None)
        db.session.commit()
        return hook.id


def make_digest_message(app, clinic_id: int, body: str = "Digest body", with_contacts: bool = False) -> int:
    """A digest of ``clinic_id`` queued for its owner (its outbox message's id), as the digest job builds one."""
    from datetime import date, datetime, timedelta, timezone

    from sqlalchemy import func, select

    from app.models import DigestRun
    from app.notifications import queue_mail

    with app.app_context(), tenant_scope(clinic_id):
        latest = db.session.scalar(select(func.max(DigestRun.local_date))) or date(2027, 1, 1)
        end = datetime.combine(latest, datetime.min.time(), tzinfo=timezone.utc) + timedelta(days=1, hours=9)
        run = DigestRun(local_date=latest + timedelta(days=1), scheduled_for=end, claimed_at=end,
                        period_start=end - timedelta(days=1), period_end=end, status="built")
        db.session.add(run)
        db.session.flush()
        message = queue_mail(kind="digest", dedupe_key=f"digest:{run.id}:test", recipient="owner@clinic.test",
                             subject=f"Digest {run.local_date}", text=body,
                             html=f"<html><head></head><body><p>{body}</p></body></html>",
                             digest_run_id=run.id, with_contacts=with_contacts)
        db.session.commit()
        return message.id


OBJECT_FACTORIES = {
    "branch_id": make_branch,
    "doctor_id": make_doctor,
    "membership_id": make_membership,
    "invitation_id": make_invitation,
    "source_id": make_review_source,
    "run_id": make_scrape_run,
    "questionnaire_id": make_questionnaire,
    "point_id": make_point,
    "response_id": make_response,
    "case_id": make_case,
    "import_id": make_visit_import,
    "api_key_id": make_api_key,
    "webhook_id": make_webhook,
    "message_id": make_digest_message,
}


from jobs.app_context import tenant_job  # noqa: E402


@tenant_job
def add_branch_job(tenant_id: int, name: str) -> int:
    """A real job for outbox tests: adds a branch in the job's clinic."""
    from app.models import Branch

    branch = Branch(name=name)
    db.session.add(branch)
    db.session.commit()
    return branch.id
