"""The doctor and branch a case is about, kept on the case, so a period's complaints are counted per doctor and branch without reading every answer

Revision ID: 0025_cases_about
Revises: 0024_snapshot_drivers
Create Date: 2026-11-25 10:15:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0025_cases_about'
down_revision = '0024_snapshot_drivers'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('doctor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('branch_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_cases_doctor_id_doctors', 'doctors', ['doctor_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_cases_branch_id_branches', 'branches', ['branch_id'], ['id'],
                                    ondelete='SET NULL')
    # Every case so far takes its answer's doctor and branch (one statement, portable).
    op.execute("UPDATE cases SET doctor_id = (SELECT doctor_id FROM responses WHERE responses.id = cases.response_id), "
               "branch_id = (SELECT branch_id FROM responses WHERE responses.id = cases.response_id)")


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint('fk_cases_branch_id_branches', type_='foreignkey')
        batch_op.drop_constraint('fk_cases_doctor_id_doctors', type_='foreignkey')
        batch_op.drop_column('branch_id')
        batch_op.drop_column('doctor_id')
