"""The clinic's access log: who saw or exported personal data, and when."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AccessLog, User


def log_access(user_id: int | None, action: str, subject_type: str, subject_id, details: dict | None = None) -> AccessLog:
    """Record that a member viewed, exported or deleted personal data (added to the session, not committed)."""
    entry = AccessLog(user_id=user_id, action=action, subject_type=subject_type, subject_id=str(subject_id)[:64],
                      details=details or {})
    db.session.add(entry)
    return entry


def access_log_page(before_id: int | None = None, limit: int = 100) -> list[tuple[AccessLog, User | None]]:
    """The current clinic's access log, newest first, ``limit`` rows before ``before_id``."""
    query = select(AccessLog, User).outerjoin(User, User.id == AccessLog.user_id)
    if before_id is not None:
        query = query.where(AccessLog.id < before_id)
    return list(db.session.execute(query.order_by(AccessLog.id.desc()).limit(limit)).tuples())
