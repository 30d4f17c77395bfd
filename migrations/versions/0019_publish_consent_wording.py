"""Publishing consent kept with its time and the version of the wording the patient agreed to

Revision ID: 0019_publish_consent_wording
Revises: 0018_proven_addresses
Create Date: 2026-11-24 18:30:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base
from tenants.rls import migrate_every_clinic

# revision identifiers, used by Alembic.
revision = '0019_publish_consent_wording'
down_revision = '0018_proven_addresses'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('responses') as batch:
        batch.add_column(sa.Column('publish_consent_at', app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('publish_consent_version', sa.SmallInteger(), nullable=True))
    # Consents given so far were given on the form, at submission, to the first wording (the only
    # one the form has shown until now).
    migrate_every_clinic(op)
    op.execute("UPDATE responses SET publish_consent_at = submitted_at, publish_consent_version = 1 "
               "WHERE publish_consent")


def downgrade():
    with op.batch_alter_table('responses') as batch:
        batch.drop_column('publish_consent_version')
        batch.drop_column('publish_consent_at')
