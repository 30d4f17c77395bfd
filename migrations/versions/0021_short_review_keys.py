"""Short reviews without a site's id get the key they are now scraped under (text, author, rating)

Revision ID: 0021_short_review_keys
Revises: 0020_responses_never_reuse_ids
Create Date: 2026-11-24 19:30:00

A short text ("Спасибо!") used to be keyed by its text alone, which merged ten patients' thanks
into one review; it is now keyed with its author and rating. Without this migration the next
scrape would add every such stored review once more under its new key, and a short negative one
would reach the journal and the digest as new. Where a scrape has already added that copy, the
copy goes and the review first seen stays.
"""
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from app.reputation.extract import review_key
from tenants.rls import migrate_every_clinic

# revision identifiers, used by Alembic.
revision = '0021_short_review_keys'
down_revision = '0020_responses_never_reuse_ids'
branch_labels = None
depends_on = None


def upgrade():
    migrate_every_clinic(op)
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, tenant_id, key, author, rating, text, first_seen_at FROM external_reviews "
        "WHERE key LIKE '%:text:%' ORDER BY tenant_id, first_seen_at, id")).all()
    taken = defaultdict(dict)  # tenant -> key -> id of the review holding it
    for row in rows:
        taken[row.tenant_id][row.key] = row.id
    for row in rows:
        site_part = row.key.split(":text:", 1)[0]
        new_key = review_key(site_part, None, row.text, author=row.author, rating=row.rating)
        if new_key == row.key or taken[row.tenant_id].get(row.key) != row.id:
            continue  # a long text keeps its key; a copy already removed below needs nothing
        holder = taken[row.tenant_id].get(new_key)
        if holder is not None:
            # The copy a scrape added under the new key, seen later than this review: it goes.
            connection.execute(sa.text("DELETE FROM external_reviews WHERE id = :id"), {"id": holder})
            taken[row.tenant_id].pop(new_key)
        connection.execute(sa.text("UPDATE external_reviews SET key = :key WHERE id = :id"),
                           {"key": new_key, "id": row.id})
        taken[row.tenant_id].pop(row.key)
        taken[row.tenant_id][new_key] = row.id


def downgrade():
    pass  # the old keys merged different patients' short reviews; there is nothing to go back to
