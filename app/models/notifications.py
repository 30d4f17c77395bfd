"""Notifications: daily digest runs and the mail outbox every e-mail goes through."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TenantScoped, UTCDateTime, utcnow

DIGEST_RUN_STATES = ("claimed", "built", "skipped")
MAIL_KINDS = ("digest", "alert")
MAIL_STATES = ("pending", "sending", "sent", "failed")


class DigestRun(TenantScoped, db.Model):
    """One clinic's daily digest for one local date.

    The unique (clinic, local date) row is the claim: whoever inserts it first
    sends that day's digest; everybody else finds it taken. ``period_start`` to
    ``period_end`` is what the digest covers ("since the previous digest").
    """

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "local_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, nullable=False)
    # The clinic's local digest hour on that date, in UTC.
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    late: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="claimed")
    # manual: sent with `flask digest send`; schedule: claimed by the dispatcher.
    trigger: Mapped[str] = mapped_column(String(16), nullable=False, default="schedule")
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    at_risk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")


class MailOutbox(TenantScoped, db.Model):
    """One e-mail to one person, from promise to the SMTP server's acceptance.

    ``dedupe_key`` makes each message exist once: ``digest:<run>:user:<user>`` or
    ``alert:response:<response>:user:<user>``. The rendered message is stored so
    every attempt sends the same bytes under the same ``message_id``. A sender
    claims the row (status ``sending`` with ``lease_until``) before talking to
    the SMTP server; see docs/notifications.md for the delivery guarantee.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_mail_outbox_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(120), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="ru")
    # What the message is about (the payload reference).
    digest_run_id: Mapped[int | None] = mapped_column(ForeignKey("digest_runs.id", ondelete="CASCADE"), index=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    text_body: Mapped[str] = mapped_column(Text, nullable=False)
    html_body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    message_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Not before this moment (quiet hours, retry backoff); NULL means now.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_for_quiet_hours: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Written with patients' contact details: sent only while the recipient may still see them.
    with_contacts: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
