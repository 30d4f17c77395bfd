"""Cases: a response someone in the clinic has to handle, its history, and praise the clinic publishes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from app.extensions import db
from app.models.base import TenantScoped, UTCDateTime, utcnow
from app.models.feedback import Response

CASE_STATUSES = ("new", "in_progress", "waiting", "resolved")
OPEN_CASE_STATUSES = ("new", "in_progress", "waiting")


class Case(TenantScoped, db.Model):
    """A response the clinic handles: an assignee, a status, a deadline and a history.

    One case per response. At-risk and critical responses get one at submission;
    any other response can be made a case by a manager. ``deadline_at`` is fixed
    when the case opens (clinic settings: critical / at-risk hours) and a case
    still open past it is overdue.
    """

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "response_id"),
        # Open/overdue lists (case list, digest) filter on status and sort by deadline.
        Index("ix_cases_tenant_status_deadline", "tenant_id", "status", "deadline_at"),
        # How the cases opened in a period were handled (app.cases.case_handling).
        Index("ix_cases_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    # auto (risk at submission) | manual (a manager opened it)
    origin: Mapped[str] = mapped_column(String(8), nullable=False, default="auto")
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whom the complaint is about: the answer's doctor and branch, copied when the case opens, so a
    # period's cases are counted per doctor and branch without reading every answer.
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="SET NULL"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="SET NULL"))

    # The patient's status page reads response.case; deleting a response deletes its case.
    response: Mapped[Response] = relationship(
        backref=backref("case", uselist=False, cascade="all, delete-orphan", passive_deletes=True))
    assignee = relationship("User")
    events: Mapped[list["CaseEvent"]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan", passive_deletes=True)

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    def is_overdue(self, now: datetime | None = None) -> bool:
        """Open and past its deadline."""
        return self.is_open and self.deadline_at is not None and (now or utcnow()) > self.deadline_at


class CaseEvent(TenantScoped, db.Model):
    """One line of a case's history: who did what and when.

    ``kind`` is created | status | assigned | note | contact | resolution | deadline | seen | withdrawn;
    ``old_value``/``new_value`` hold the changed field, ``text`` the note or contact outcome.
    """

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_tenant_case", "tenant_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    old_value: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    new_value: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")
    user = relationship("User")


class PublishedReview(TenantScoped, db.Model):
    """A positive comment the patient allowed to publish and a manager chose for the clinic's widget.

    Only the comment, the NPS and the date are shown publicly; never names or contacts.
    """

    __tablename__ = "published_reviews"
    __table_args__ = (
        UniqueConstraint("tenant_id", "response_id"),
        Index("ix_published_reviews_tenant_published", "tenant_id", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    published_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    response: Mapped[Response] = relationship(
        backref=backref("published_review", uselist=False, cascade="all, delete-orphan", passive_deletes=True))


# Indexes on responses that the journal's filters need (tenant first, then the filter, then the sort key),
# declared here beside the journal's other tables so the feedback module keeps to its own concerns.
Index("ix_responses_tenant_point_submitted", Response.tenant_id, Response.collection_point_id,
      Response.submitted_at)
Index("ix_responses_tenant_branch_submitted", Response.tenant_id, Response.branch_id, Response.submitted_at)
Index("ix_responses_tenant_doctor_submitted", Response.tenant_id, Response.doctor_id, Response.submitted_at)
# The journal's text search (lower(comment) LIKE '%word%') would otherwise read every comment of the
# clinic when few or none match; trigrams find them (PostgreSQL with pg_trgm; migration 0010).
Index("ix_responses_comment_trgm", func.lower(Response.comment).label("comment_lower"), postgresql_using="gin",
      postgresql_ops={"comment_lower": "gin_trgm_ops"}).ddl_if(dialect="postgresql")
