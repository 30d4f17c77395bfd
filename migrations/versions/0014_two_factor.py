"""Two-factor login: a TOTP secret, the last accepted step and recovery codes for staff and operators

Revision ID: 0014_two_factor
Revises: 0013_webhooks
Create Date: 2026-11-24 09:00:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base

# revision identifiers, used by Alembic.
revision = '0014_two_factor'
down_revision = '0013_webhooks'
branch_labels = None
depends_on = None

TABLES = ("users", "operators")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
            batch.add_column(sa.Column('totp_enabled_at', app.models.base.UTCDateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=False, server_default='0'))
            batch.add_column(sa.Column('recovery_code_hashes', sa.JSON(), nullable=False, server_default='[]'))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('recovery_code_hashes')
            batch.drop_column('totp_last_step')
            batch.drop_column('totp_enabled_at')
            batch.drop_column('totp_secret')
