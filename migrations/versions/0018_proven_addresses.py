"""Proven addresses and contact-bearing mail: users.email_confirmed_at, invitations.link_shown_at,
mail_outbox.with_contacts

Revision ID: 0018_proven_addresses
Revises: 0017_consent_withdrawal
Create Date: 2026-11-24 12:00:00

"""
import sqlalchemy as sa
from alembic import op

import app.models.base

# revision identifiers, used by Alembic.
revision = '0018_proven_addresses'
down_revision = '0017_consent_withdrawal'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('email_confirmed_at', app.models.base.UTCDateTime(timezone=True), nullable=True))
    # Accounts made before this revision are taken as confirmed: nothing recorded otherwise.
    op.execute("UPDATE users SET email_confirmed_at = created_at")
    with op.batch_alter_table('invitations') as batch:
        batch.add_column(sa.Column('link_shown_at', app.models.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('mail_outbox') as batch:
        batch.add_column(sa.Column('with_contacts', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('mail_outbox') as batch:
        batch.drop_column('with_contacts')
    with op.batch_alter_table('invitations') as batch:
        batch.drop_column('link_shown_at')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('email_confirmed_at')
