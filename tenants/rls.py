"""Row-level security on PostgreSQL: policies for tenant tables and the app role's grants.

Every migration that creates a tenant-owned table calls ``enable_rls(op, table)``.
The policy admits a row when it belongs to the clinic named in the transaction
setting ``app.tenant_id``, or when the transaction declared platform scope.
"""
from __future__ import annotations

import re

from sqlalchemy import text

POLICY = "tenant_isolation"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _check(identifier: str) -> str:
    if not _IDENT.match(identifier):
        raise ValueError(f"unsafe SQL identifier {identifier!r}")
    return identifier


def enable_rls(op, table: str) -> None:
    """Enable and force RLS with the tenant policy on ``table`` (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    table = _check(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    condition = (
        "(current_setting('app.platform', true) = 'on' OR "
        "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer)"
    )
    op.execute(f"CREATE POLICY {POLICY} ON {table} USING {condition} WITH CHECK {condition}")


def migrate_every_clinic(op) -> None:
    """Let the rest of a data migration's transaction reach every clinic's rows.

    The policies are forced on the tables' owner too, so an UPDATE run by a migration that is
    not a superuser would otherwise see no row at all, and change nothing, silently.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('app.platform', 'on', true)")


def disable_rls(op, table: str) -> None:
    """Undo enable_rls (for downgrades)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    table = _check(table)
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def grant_app_role(connection, role: str, password: str | None = None) -> None:
    """Create (if needed) the application's login role and grant it data access only.

    The role owns nothing and is neither superuser nor BYPASSRLS, so the policies
    apply to every query the app makes. Run as the schema owner after migrating.
    """
    role = _check(role)
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not exists:
        connection.execute(text(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"))
    if password:
        connection.execute(text(f"ALTER ROLE {role} PASSWORD :p").bindparams(p=password))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    connection.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    connection.execute(text(f"REVOKE ALL ON TABLE alembic_version FROM {role}"))
