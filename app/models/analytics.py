"""Behavioural data from the clinic's CRM (patients, visits, imports) and metric snapshots."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, SmallInteger, \
    String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TenantScoped, UTCDateTime, utcnow

IMPORT_STATES = ("mapping", "queued", "running", "done", "failed")


class Patient(TenantScoped, db.Model):
    """A patient known only by the clinic's pseudonymous id (no name, no contacts).

    ``first_visit_on`` is the first visit the CRM export shows; it stays empty when
    the CRM says the earliest exported visit was not the first (the patient predates the data).
    """

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    gender: Mapped[str | None] = mapped_column(String(1))  # f|m
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    district: Mapped[str | None] = mapped_column(String(120))
    first_visit_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class VisitImport(TenantScoped, db.Model):
    """One uploaded CRM export: its column mapping, progress and validation report.

    The file is kept until the import finishes; an import is all-or-nothing.
    """

    __tablename__ = "visit_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    file_format: Mapped[str] = mapped_column(String(8), nullable=False)  # csv|xlsx
    encoding: Mapped[str] = mapped_column(String(20), nullable=False, default="utf-8")
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    columns: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    mapping: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="mapping")
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    imported_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duplicate_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    created_by: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class Visit(TenantScoped, db.Model):
    """One visit from the CRM: who, when (the clinic's local date), where, whom, what, how much.

    Money is kept in kopecks (integers) so sums are exact on every database.
    ``fingerprint`` makes re-importing the same row a no-op.
    """

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("tenant_id", "fingerprint"),
        Index("ix_visits_tenant_visited", "tenant_id", "visited_on"),
        Index("ix_visits_tenant_patient_visited", "tenant_id", "patient_id", "visited_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    visited_on: Mapped[date] = mapped_column(Date, nullable=False)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="SET NULL"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="SET NULL"))
    service: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    amount_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    first_visit: Mapped[bool | None] = mapped_column(Boolean)
    bonuses_awarded_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bonuses_redeemed_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("visit_imports.id", ondelete="SET NULL"))

    patient: Mapped[Patient] = relationship()


class MetricSnapshot(TenantScoped, db.Model):
    """Aggregated counts of one clinic, period and segment, as SQL produced them.

    ``counts`` holds sums and distributions only; formulas (app.metrics) are applied
    when a dashboard reads them, so changing weights or the minimum sample needs no
    recompute. Segment ``clinic``/``all`` is the whole clinic.
    """

    __tablename__ = "metric_snapshots"
    __table_args__ = (UniqueConstraint("tenant_id", "period", "segment_kind", "segment_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(24), nullable=False)
    segment_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    segment_key: Mapped[str] = mapped_column(String(120), nullable=False)
    counts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class DirtyPeriod(TenantScoped, db.Model):
    """A (clinic, period) whose snapshots are stale; the refresh job recomputes and clears it."""

    __tablename__ = "metric_dirty_periods"
    __table_args__ = (UniqueConstraint("tenant_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(24), nullable=False)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
