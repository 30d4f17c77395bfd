"""Responses remember when retention erased their contact details

Revision ID: 0011_retention_applied
Revises: 0010_comment_search
Create Date: 2026-11-24 05:00:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base

# revision identifiers, used by Alembic.
revision = '0011_retention_applied'
down_revision = '0010_comment_search'
branch_labels = None
depends_on = None

DUE = "retention_applied_at IS NULL"


def upgrade():
    # A nullable column without a default: adding it rewrites nothing, even on a large table.
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_applied_at', app.models.base.UTCDateTime(), nullable=True))
    # Only responses retention has not yet passed over are indexed: the nightly job reads those
    # past the clinic's period, without walking the years of responses it already handled.
    op.create_index('ix_responses_retention_due', 'responses', ['tenant_id', 'submitted_at'],
                    postgresql_where=sa.text(DUE), sqlite_where=sa.text(DUE))


def downgrade():
    op.drop_index('ix_responses_retention_due', table_name='responses')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_column('retention_applied_at')
