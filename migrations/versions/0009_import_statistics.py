"""Planner statistics refreshed after a visit import (PostgreSQL)

Revision ID: 0009_import_statistics
Revises: 0008_clinic_sentiment_models
Create Date: 2026-11-24 03:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_import_statistics'
down_revision = '0008_clinic_sentiment_models'
branch_labels = None
depends_on = None

# ANALYZE needs the tables' owner, and the application connects as a role that owns nothing:
# this function runs as its owner (the migrating role) and does nothing but refresh the
# statistics of the two tables a visit import fills, so any role may call it.
CREATE = """
CREATE OR REPLACE FUNCTION refresh_import_statistics() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    ANALYZE public.visits;
    ANALYZE public.patients;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS refresh_import_statistics()")
