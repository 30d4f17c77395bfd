"""Cases by the clinic and the moment they opened, for how the cases of a period were handled

Revision ID: 0023_cases_by_opening
Revises: 0022_response_aspects
Create Date: 2026-11-25 07:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023_cases_by_opening'
down_revision = '0022_response_aspects'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_tenant_created', ['tenant_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_tenant_created')
