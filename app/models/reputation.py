"""Web reputation: the clinic's pages on review sites, scrape runs, the reviews found, daily index snapshots."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, Date, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TenantScoped, UTCDateTime, utcnow

# A source's state after its last fetch: "new" before the first one, else a fetcher status
# (ok, not_modified, blocked_by_robots, http_error, timeout, layout_changed, ...).
SOURCE_OK_STATUSES = ("new", "ok", "not_modified")
RUN_STATUSES = ("queued", "running", "done", "failed")
SNAPSHOT_SCOPES = ("clinic", "branch", "doctor", "source")
REVIEW_ORIGINS = ("scrape", "csv", "paste")


class ReviewSource(TenantScoped, db.Model):
    """A clinic's page on a review site (optionally a branch's or a doctor's).

    ``fetch_state`` keeps what the fetcher hands back between runs (ETag,
    Last-Modified, content hash) for conditional GETs; ``selector_config`` is an
    operator's selector adapter for a site without a built-in one.
    """

    __tablename__ = "review_sources"
    __table_args__ = (UniqueConstraint("tenant_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    site: Mapped[str | None] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="SET NULL"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="SET NULL"))
    selector_config: Mapped[dict | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    fetch_state: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="new")
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    aggregate_rating: Mapped[float | None] = mapped_column(Float)
    aggregate_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    branch = relationship("Branch")
    doctor = relationship("Doctor")

    @property
    def is_broken(self) -> bool:
        """The last fetch failed (the reason is in ``last_error``)."""
        return self.status not in SOURCE_OK_STATUSES


class ScrapeRun(TenantScoped, db.Model):
    """One scrape of a clinic's sources, committed before its job is enqueued; the page polls it."""

    __tablename__ = "scrape_runs"
    __table_args__ = (Index("ix_scrape_runs_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False, default="manual")  # manual|nightly
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    job_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sources_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sources_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sources_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reviews_new: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")

    @property
    def finished(self) -> bool:
        """Nothing more will change (the page stops polling)."""
        return self.status in ("done", "failed")


class ExternalReview(TenantScoped, db.Model):
    """A public review of the clinic, scraped or imported; ``key`` deduplicates re-scrapes.

    The label follows the star rating when there is one; ``contradiction`` flags a
    rating the text disagrees with. ``topics`` maps aspects to a sentiment (-1..1).
    """

    __tablename__ = "external_reviews"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_external_reviews_tenant_published", "tenant_id", "published_on"),
        Index("ix_external_reviews_tenant_first_seen", "tenant_id", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), nullable=False)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("review_sources.id", ondelete="SET NULL"), index=True)
    origin: Mapped[str] = mapped_column(String(12), nullable=False, default="scrape")
    site: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    site_review_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="SET NULL"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    published_on: Mapped[date | None] = mapped_column(Date)
    rating: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    reply: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    sentiment_polarity: Mapped[float | None] = mapped_column(Float)
    contradiction: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    topics: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)

    source: Mapped[ReviewSource | None] = relationship()


class ReputationSnapshot(TenantScoped, db.Model):
    """The index of one scope (clinic, a branch, a doctor, a source) on one day.

    ``scope_id`` is 0 for the clinic so the unique constraint holds without NULLs. The
    clinic's row also keeps what moved its index that day (``drivers``: the reviews' and
    topics' pulls, see ``app.reputation.service.index_drivers``), so pages read it instead of
    going over every review again; None on rows written before it was kept.
    """

    __tablename__ = "reputation_snapshots"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", "scope_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(10), nullable=False)
    scope_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    value: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    reviews_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    effective_reviews: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    drivers: Mapped[dict | None] = mapped_column(JSON)


class ClinicSentimentModel(TenantScoped, db.Model):
    """A sentiment model trained on the clinic's own star-rated reviews (``app.reputation.clinic_model``).

    ``content`` is the model file (``SentimentModel.to_bytes``). The figures are
    macro-F1 on held-out folds of the same reviews, for this model's method and for
    the default; the model is used (``active``) only when it did better.
    """

    __tablename__ = "clinic_sentiment_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    trained_on: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    label_counts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    folds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    macro_f1: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    default_macro_f1: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
