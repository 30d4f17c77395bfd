"""Consent withdrawal: when a patient took back the consents given with a response

Revision ID: 0017_consent_withdrawal
Revises: 0016_foreign_key_indexes
Create Date: 2026-11-24 14:00:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base

# revision identifiers, used by Alembic.
revision = '0017_consent_withdrawal'
down_revision = '0016_foreign_key_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('responses') as batch:
        batch.add_column(sa.Column('consent_withdrawn_at', app.models.base.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade():
    with op.batch_alter_table('responses') as batch:
        batch.drop_column('consent_withdrawn_at')
