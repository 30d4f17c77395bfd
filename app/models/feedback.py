"""What patients tell us: questionnaires (versioned), collection points, consent texts, responses."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TenantScoped, UTCDateTime, utcnow

RISK_LEVELS = ("ok", "at_risk", "critical")


class Questionnaire(TenantScoped, db.Model):
    """A clinic's questionnaire; its questions live in immutable published versions."""

    __tablename__ = "questionnaires"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    versions: Mapped[list["QuestionnaireVersion"]] = relationship(
        back_populates="questionnaire", order_by="QuestionnaireVersion.number")


class QuestionnaireVersion(TenantScoped, db.Model):
    """One version of a questionnaire's questions.

    A published version never changes: editing makes a new draft, and every
    response keeps the version it answered, so old answers keep their meaning.
    ``questions`` is a list of question dicts (see app.questionnaires).
    """

    __tablename__ = "questionnaire_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "questionnaire_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")  # draft|published|archived
    questions: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="versions")


class ConsentText(TenantScoped, db.Model):
    """A version of the clinic's consent to personal-data processing, per language."""

    __tablename__ = "consent_texts"
    __table_args__ = (UniqueConstraint("tenant_id", "language", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CollectionPoint(TenantScoped, db.Model):
    """Where a QR code hangs: ties a questionnaire to the clinic, a branch, a doctor, a room or a campaign."""

    __tablename__ = "collection_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Short and unguessable; the only thing a patient's link carries.
    token: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="clinic")  # clinic|branch|doctor|room|campaign
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id"), nullable=False)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="SET NULL"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    scans: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    questionnaire: Mapped[Questionnaire] = relationship()
    branch = relationship("Branch")
    doctor = relationship("Doctor")


class Response(TenantScoped, db.Model):
    """One patient's submitted questionnaire.

    ``answers`` keeps every answer keyed by question key; the fields the journal,
    the metrics and the digest filter on are copied into columns (NPS, comment,
    risk) and into ``response_ratings`` (aspect scores) so SQL can aggregate them.
    """

    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "submission_key"),
        Index("ix_responses_tenant_submitted", "tenant_id", "submitted_at"),
        Index("ix_responses_tenant_risk_submitted", "tenant_id", "risk_level", "submitted_at"),
        Index("ix_responses_retention_due", "tenant_id", "submitted_at",
              postgresql_where=text("retention_applied_at IS NULL"), sqlite_where=text("retention_applied_at IS NULL")),
        # SQLite would give a deleted newest answer's id to the next one, and a live journal that
        # showed the first would take the second for it. PostgreSQL's sequences never reuse one.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    submission_key: Mapped[str] = mapped_column(String(64), nullable=False)
    collection_point_id: Mapped[int | None] = mapped_column(ForeignKey("collection_points.id", ondelete="SET NULL"))
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), nullable=False)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="SET NULL"), index=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="SET NULL"), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="ru")
    answers: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    would_return: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    min_rating: Mapped[int | None] = mapped_column(SmallInteger)
    risk_level: Mapped[str] = mapped_column(String(10), nullable=False, default="ok")
    risk_reasons: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Contact data exists only with consent; the consent version and time are kept with it.
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    consent_text_id: Mapped[int | None] = mapped_column(ForeignKey("consent_texts.id"))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the retention period passed and contact details were erased, here and wherever copied.
    retention_applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the patient took back, through their private link, every consent given with this response.
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The publishing consent, like the contact one, is kept with its time and the wording the patient
    # agreed to (``app.publishing.PUBLISH_CONSENT_WORDINGS``, in the response's language).
    publish_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_consent_version: Mapped[int | None] = mapped_column(SmallInteger)
    # The patient's private link (the red button's status, their consents) is stored hashed.
    status_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    sentiment_polarity: Mapped[float | None] = mapped_column(Float)
    topics: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)

    collection_point: Mapped[CollectionPoint | None] = relationship()
    branch = relationship("Branch")
    doctor = relationship("Doctor")
    ratings: Mapped[list["ResponseRating"]] = relationship(back_populates="response", cascade="all, delete-orphan")

    @property
    def has_contact(self) -> bool:
        return bool(self.contact_name or self.contact_phone or self.contact_email)


class ResponseRating(TenantScoped, db.Model):
    """One aspect's 1–5 satisfaction score in a response (for SQL aggregation)."""

    __tablename__ = "response_ratings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "response_id", "aspect"),
        Index("ix_response_ratings_tenant_aspect", "tenant_id", "aspect"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), nullable=False, index=True)
    aspect: Mapped[str] = mapped_column(String(40), nullable=False)
    score: Mapped[int] = mapped_column(SmallInteger, nullable=False)

    response: Mapped[Response] = relationship(back_populates="ratings")


class ResponseAspect(TenantScoped, db.Model):
    """One aspect a patient's comment talks about, with its sentiment: ``Response.topics`` as rows.

    Written with the topics (``app.feedback.store_topics``) so that the reputation overview adds
    up a clinic's aspects, and finds its strongest quotes, with indexed queries rather than by
    reading every comment the clinic ever had (``app.reputation.service.aspect_table``).
    """

    __tablename__ = "response_aspects"
    __table_args__ = (
        Index("ix_response_aspects_tenant_aspect_polarity", "tenant_id", "aspect", "polarity"),
        Index("ix_response_aspects_tenant_submitted", "tenant_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), nullable=False, index=True)
    aspect: Mapped[str] = mapped_column(String(20), nullable=False)
    polarity: Mapped[float] = mapped_column(Float, nullable=False)
    # The response's own moment, so a period is read without joining the responses.
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    response: Mapped[Response] = relationship()
