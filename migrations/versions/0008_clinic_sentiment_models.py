"""A clinic's own sentiment models, trained on its star-rated reviews

Revision ID: 0008_clinic_sentiment_models
Revises: 0006_digests
Create Date: 2026-11-23 22:40:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base
from tenants.rls import disable_rls, enable_rls

TENANT_TABLES = ("clinic_sentiment_models",)


# revision identifiers, used by Alembic.
revision = '0008_clinic_sentiment_models'
down_revision = '0006_digests'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('clinic_sentiment_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('trained_on', sa.Integer(), nullable=False),
    sa.Column('label_counts', sa.JSON(), nullable=False),
    sa.Column('folds', sa.Integer(), nullable=False),
    sa.Column('macro_f1', sa.Float(), nullable=False),
    sa.Column('default_macro_f1', sa.Float(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_clinic_sentiment_models_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinic_sentiment_models'))
    )
    with op.batch_alter_table('clinic_sentiment_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinic_sentiment_models_tenant_id'), ['tenant_id'], unique=False)
    for table in TENANT_TABLES:
        enable_rls(op, table)


def downgrade():
    for table in TENANT_TABLES:
        disable_rls(op, table)
    with op.batch_alter_table('clinic_sentiment_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinic_sentiment_models_tenant_id'))
    op.drop_table('clinic_sentiment_models')
