"""Shared column types and the TenantScoped mixin."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Date, DateTime, ForeignKey, Integer, TypeDecorator
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.functions import FunctionElement


def utcnow() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores UTC; always hands back aware datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class utc_day(FunctionElement):
    """The UTC calendar day of a stored ``UTCDateTime``, in SQL, whatever the session's time zone.

    PostgreSQL's ``date(timestamptz)`` takes the day in the connection's zone; Python reads
    ``moment.date()`` in UTC. Both must agree where a query orders by the day.
    """

    type = Date()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day)
def _utc_day_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"  # SQLite stores UTC text


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element, compiler, **kw):
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


class TenantScoped:
    """Mixin for every table a clinic owns.

    Rows carry ``tenant_id NOT NULL``; queries are filtered to the current clinic
    automatically (tenants.scoping) and, on PostgreSQL, by row-level security.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True)
