"""What moved the clinic's web-reputation index, kept with the day's snapshot

Revision ID: 0024_snapshot_drivers
Revises: 0023_cases_by_opening
Create Date: 2026-11-25 09:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0024_snapshot_drivers'
down_revision = '0023_cases_by_opening'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reputation_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drivers', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('reputation_snapshots', schema=None) as batch_op:
        batch_op.drop_column('drivers')
