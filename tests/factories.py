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


OBJECT_FACTORIES = {
    "branch_id": make_branch,
    "doctor_id": make_doctor,
    "membership_id": make_membership,
    "invitation_id": make_invitation,
    "questionnaire_id": make_questionnaire,
    "point_id": make_point,
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
