"""Webhooks: a clinic's other systems are told about new answers and cases as they happen."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TenantScoped, UTCDateTime, utcnow


class Webhook(TenantScoped, db.Model):
    """An address that receives the clinic's events, signed with the webhook's secret.

    The secret signs every delivery (HMAC-SHA256), so it is kept as is, like any shared
    signing secret; it is shown once, when the webhook is made.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    secret: Mapped[str] = mapped_column(String(64), nullable=False)
    events: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Why the clinic's receiver was switched off after failing again and again ("" when active or off by hand).
    disabled_reason: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class WebhookDelivery(TenantScoped, db.Model):
    """One event for one webhook: sent until the receiver answers 2xx, or given up.

    The payload is built when it is sent, from the answer or case it names: no copy of a
    patient's words waits in this table, and an answer deleted on request is not sent.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "dedupe_key"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    subject_id: Mapped[int | None] = mapped_column(Integer)
    # One delivery per webhook and happening: a follow-up job that runs twice sends once.
    dedupe_key: Mapped[str] = mapped_column(String(120), nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")  # delivered, failed, skipped
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    webhook: Mapped[Webhook] = relationship()
