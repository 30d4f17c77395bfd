"""A comment's aspects as rows beside the JSON, so the reputation overview reads them by index

Revision ID: 0022_response_aspects
Revises: 0021_short_review_keys
Create Date: 2026-11-24 22:30:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base
from tenants.rls import disable_rls, enable_rls, migrate_every_clinic

# revision identifiers, used by Alembic.
revision = '0022_response_aspects'
down_revision = '0021_short_review_keys'
branch_labels = None
depends_on = None

# The aspects already stored in responses.topics, one row each.
_BACKFILL = {
    "postgresql": "INSERT INTO response_aspects (tenant_id, response_id, aspect, polarity, submitted_at) "
                  "SELECT r.tenant_id, r.id, t.key, CAST(t.value AS FLOAT), r.submitted_at "
                  "FROM responses r, json_each_text(r.topics) t WHERE r.comment <> ''",
    "sqlite": "INSERT INTO response_aspects (tenant_id, response_id, aspect, polarity, submitted_at) "
              "SELECT r.tenant_id, r.id, t.key, CAST(t.value AS REAL), r.submitted_at "
              "FROM responses r, json_each(r.topics) t WHERE r.comment <> ''",
}


def upgrade():
    op.create_table(
        'response_aspects',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('aspect', sa.String(length=20), nullable=False),
        sa.Column('polarity', sa.Float(), nullable=False),
        sa.Column('submitted_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_aspects_response_id_responses'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_response_aspects_tenant_id_tenants'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_response_aspects')),
    )
    with op.batch_alter_table('response_aspects') as batch:
        batch.create_index(batch.f('ix_response_aspects_tenant_id'), ['tenant_id'], unique=False)
        batch.create_index(batch.f('ix_response_aspects_response_id'), ['response_id'], unique=False)
        batch.create_index('ix_response_aspects_tenant_aspect_polarity', ['tenant_id', 'aspect', 'polarity'],
                           unique=False)
        batch.create_index('ix_response_aspects_tenant_submitted', ['tenant_id', 'submitted_at'], unique=False)
    enable_rls(op, 'response_aspects')
    migrate_every_clinic(op)
    op.execute(_BACKFILL[op.get_bind().dialect.name])


def downgrade():
    disable_rls(op, 'response_aspects')
    op.drop_table('response_aspects')
