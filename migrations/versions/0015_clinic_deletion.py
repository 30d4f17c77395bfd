"""Clinic deletion: the moment after which an ended clinic's data is deleted

Revision ID: 0015_clinic_deletion
Revises: 0014_two_factor
Create Date: 2026-11-24 10:00:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base

# revision identifiers, used by Alembic.
revision = '0015_clinic_deletion'
down_revision = '0014_two_factor'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenants') as batch:
        batch.add_column(sa.Column('delete_after', app.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('tenants') as batch:
        batch.drop_column('delete_after')
