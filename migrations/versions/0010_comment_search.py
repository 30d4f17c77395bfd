"""Trigram index for the journal's text search (PostgreSQL)

Revision ID: 0010_comment_search
Revises: 0009_import_statistics
Create Date: 2026-11-24 03:00:00

"""
import logging

from alembic import op

# revision identifiers, used by Alembic.
revision = '0010_comment_search'
down_revision = '0009_import_statistics'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension: the database's owner may create it. Where the migrating role
    # may not, search keeps working without the index, only slower on large clinics.
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001 - any refusal means "no extension", reported below
        log.warning("pg_trgm is not available (%s); the journal's text search runs without its index", exc)
        return
    op.execute("CREATE INDEX ix_responses_comment_trgm ON responses USING gin (lower(comment) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_responses_comment_trgm")
