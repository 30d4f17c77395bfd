"""The job outbox: work promised in the same transaction as the data it concerns."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TenantScoped, UTCDateTime, utcnow


class PendingJob(TenantScoped, db.Model):
    """A job to enqueue once the transaction that created it has committed.

    If Redis is down the row waits here; the outbox sweep enqueues it later.
    """

    __tablename__ = "pending_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(32), nullable=False)
    func: Mapped[str] = mapped_column(String(200), nullable=False)
    args: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    job_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
