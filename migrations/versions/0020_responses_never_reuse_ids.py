"""Responses never reuse an id on SQLite (AUTOINCREMENT), as they never do on PostgreSQL

Revision ID: 0020_responses_never_reuse_ids
Revises: 0019_publish_consent_wording
Create Date: 2026-11-24 19:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020_responses_never_reuse_ids'
down_revision = '0019_publish_consent_wording'
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    # SQLite sets AUTOINCREMENT only when a table is created: the batch copies the table into a new one.
    # Migrations connect without PRAGMA foreign_keys (migrations/env.py), so dropping the old table
    # cascades to nothing; tests/test_migrations.py checks every dependent row survives.
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table('responses', recreate='always',
                              table_kwargs={'sqlite_autoincrement': autoincrement}):
        pass


def upgrade():
    _rebuild(True)


def downgrade():
    _rebuild(False)
